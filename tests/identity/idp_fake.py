"""A local OpenID provider that answers like Microsoft Entra ID v2 (discovery per directory, JWKS, authorize with
PKCE, token endpoint with client authentication) and mints ID tokens with joserfc, so each token-level refusal can
be produced on purpose; and a Microsoft Graph fake for group overage (`getMemberObjects`)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.vendor_fakes import HttpFake, Reply, Request

DIRECTORY_A = "11111111-aaaa-4aaa-8aaa-111111111111"
DIRECTORY_B = "22222222-bbbb-4bbb-8bbb-222222222222"
CLIENT_ID = "client-app-0001"
CLIENT_SECRET = "s3cret-value-for-tests"
GROUP_SALES = "group-sales-0001"
GROUP_ADMIN = "group-admin-0001"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class EntraFake(HttpFake):
    def __init__(self) -> None:
        super().__init__()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
        self.published: list[RSAKey] = [self.key]
        self.codes: dict[str, dict[str, Any]] = {}
        self.person: dict[str, Any] = {"oid": "oid-person-1", "tid": DIRECTORY_A, "groups": [GROUP_SALES],
                                       "preferred_username": "anna@mrdj.example", "name": "Anna"}
        self.claim_overrides: dict[str, Any] = {}
        self.header_overrides: dict[str, Any] = {}
        self.signing_key: RSAKey | None = None
        self.raw_id_token: str | None = None
        self.jwks_reads = 0
        self.token_requests = 0

    def issuer(self, directory: str) -> str:
        return f"http://127.0.0.1:{self.port}/{directory}/v2.0"

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        url = urlparse(request.path)
        parts = url.path.strip("/").split("/")
        if url.path.endswith("/v2.0/.well-known/openid-configuration"):
            issuer = self.issuer(parts[0])
            return _json(200, {
                "issuer": issuer, "authorization_endpoint": f"{self.authority}/{parts[0]}/oauth2/v2.0/authorize",
                "token_endpoint": f"{self.authority}/{parts[0]}/oauth2/v2.0/token",
                "jwks_uri": f"{self.authority}/{parts[0]}/discovery/v2.0/keys",
                "end_session_endpoint": f"{self.authority}/{parts[0]}/oauth2/v2.0/logout",
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"]})
        if url.path.endswith("/discovery/v2.0/keys"):
            self.jwks_reads += 1
            return _json(200, {"keys": [k.as_dict(private=False) for k in self.published]})
        if url.path.endswith("/oauth2/v2.0/authorize"):
            return self._authorize(parts[0], {k: v[0] for k, v in parse_qs(url.query).items()})
        if url.path.endswith("/oauth2/v2.0/token"):
            return self._token(parts[0], request)
        return _json(404, {"error": "not_found"})

    def _authorize(self, directory: str, query: dict[str, str]) -> Reply:
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return _json(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "directory": directory, "used": False}
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return Reply(302, b"", {"Location": location})

    def _token(self, directory: str, request: Request) -> Reply:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return _json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
                                                                               "secret provided."})
        if form.get("grant_type") == "client_credentials":
            return _json(200, {"access_token": "app-token", "token_type": "Bearer", "expires_in": 3600})
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant["used"]:
            return _json(400, {"error": "invalid_grant", "error_description": "AADSTS54005: OAuth2 Authorization "
                                                                              "code was already redeemed."})
        grant["used"] = True
        verifier = form.get("code_verifier", "")
        if b64(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]:
            return _json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        now = int(time.time())
        claims = {"iss": self.issuer(grant["directory"]), "aud": CLIENT_ID, "iat": now, "nbf": now,
                  "exp": now + 3600, "nonce": grant.get("nonce"), "sub": "pairwise-sub", **self.person,
                  **self.claim_overrides}
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = self.raw_id_token or self.mint(claims)
        return _json(200, {"access_token": f"graph-token-{claims.get('oid')}", "token_type": "Bearer",
                           "expires_in": 3600, "scope": grant.get("scope", ""), "id_token": id_token})

    def mint(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "kid": (self.signing_key or self.key).kid, **self.header_overrides}
        return jwt.encode(header, claims, self.signing_key or self.key)

    @staticmethod
    def unsigned(claims: dict[str, Any]) -> str:
        """`alg: none`: a token with no signature at all."""
        return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


class GraphFake(HttpFake):
    """`POST /v1.0/users/{id}/getMemberObjects` with the person's bearer token: their group ids."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, list[str]] = {}

    def reply_for(self, request: Request) -> Reply:
        if self.script:
            return self.script.popleft()
        parts = urlparse(request.path).path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 4 or parts[:2] != ["v1.0", "users"] \
                or parts[3] != "getMemberObjects":
            return _json(404, {"error": {"code": "Request_ResourceNotFound", "message": "Not found"}})
        if request.headers.get("authorization") != f"Bearer graph-token-{parts[2]}":
            return _json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token invalid"}})
        return _json(200, {"value": self.groups.get(parts[2], [])})
