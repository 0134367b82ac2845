"""Talking to an OpenID provider: discovery, its key set, the code exchange (Authlib, PKCE S256) and the complete
check of an ID token (joserfc): signature against the published keys, `iss`, `aud`, `exp` with a small leeway,
`nonce`. Every way a token can fail becomes a `SignInRefused` with a reason code and a plain sentence.

Sources: OpenID Connect Core 1.0 §3.1.3.7 (ID token validation), RFC 7636 (PKCE), RFC 8414 / OIDC Discovery 1.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from pydantic import SecretStr

from rentguy_crm.auth.sessions import SignInRefused
from rentguy_crm.kit import clock

# Asymmetric algorithms only: `none` and HMAC (which would take the client secret as the key) are never accepted.
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CLOCK_LEEWAY_SECONDS = 60
METADATA_TTL_SECONDS = 3600.0
HTTP_TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None

    @classmethod
    def from_document(cls, doc: dict[str, Any], url: str) -> ProviderMetadata:
        missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
        if missing:
            raise ProviderUnavailable(f"the discovery document at {url} lacks {', '.join(missing)}")
        return cls(issuer=doc["issuer"], authorization_endpoint=doc["authorization_endpoint"],
                   token_endpoint=doc["token_endpoint"], jwks_uri=doc["jwks_uri"],
                   end_session_endpoint=doc.get("end_session_endpoint"))


class ProviderUnavailable(Exception):
    """The provider's metadata or keys could not be read; the message says where and why."""


_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_keys: dict[str, KeySet] = {}


def forget_provider_cache() -> None:
    _metadata.clear()
    _keys.clear()


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{url} did not answer ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ProviderUnavailable(f"{url} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{url} did not answer a JSON object")
    return body


async def discover(discovery_url: str, *, fresh: bool = False) -> ProviderMetadata:
    """The provider's metadata, kept for an hour per process."""
    hit = _metadata.get(discovery_url)
    if hit is not None and not fresh and time.monotonic() - hit[0] < METADATA_TTL_SECONDS:
        return hit[1]
    metadata = ProviderMetadata.from_document(await _get_json(discovery_url), discovery_url)
    _metadata[discovery_url] = (time.monotonic(), metadata)
    return metadata


async def key_set(jwks_uri: str, *, fresh: bool = False) -> KeySet:
    if fresh or jwks_uri not in _keys:
        try:
            _keys[jwks_uri] = KeySet.import_key_set(await _get_json(jwks_uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable(f"{jwks_uri} did not answer a usable JSON Web Key Set") from None
    return _keys[jwks_uri]


def oauth_client(client_id: str, client_secret: SecretStr | None, redirect_uri: str,
                 scopes: list[str]) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id=client_id,
                             client_secret=client_secret.get_secret_value() if client_secret else None,
                             scope=" ".join(scopes), redirect_uri=redirect_uri, code_challenge_method="S256",
                             timeout=HTTP_TIMEOUT)


async def exchange_code(client: AsyncOAuth2Client, metadata: ProviderMetadata, *, code: str,
                        code_verifier: str) -> dict[str, Any]:
    """Trade the authorization code for tokens (RFC 6749 §4.1.3 with the PKCE verifier of RFC 7636 §4.5)."""
    try:
        token = await client.fetch_token(metadata.token_endpoint, grant_type="authorization_code", code=code,
                                         code_verifier=code_verifier)
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            raise SignInRefused("code_rejected", "The sign-in code was refused by the identity provider: it was "
                                                 "already used or has expired. Start the sign-in again.") from None
        if exc.error == "invalid_client":
            raise SignInRefused("client_rejected", "The identity provider does not accept this suite's client "
                                                   "credentials (client secret expired or wrong). Tell the "
                                                   "security officer: runbook 2.3.", status=503) from None
        raise SignInRefused("token_error", f"The identity provider refused the sign-in ({exc.error}).") from None
    except httpx.HTTPError as exc:
        raise SignInRefused("provider_unreachable", f"The identity provider's token endpoint did not answer "
                                                    f"({type(exc).__name__}). Try again later.", status=503) from None
    if not isinstance(token, dict) or not token.get("id_token"):
        raise SignInRefused("no_id_token", "The identity provider answered without an ID token.")
    return dict(token)


async def verify_id_token(id_token: str, metadata: ProviderMetadata, *, client_id: str,
                          nonce: str) -> dict[str, Any]:
    """The claims of a completely checked ID token (OIDC Core §3.1.3.7). A key id the provider's key set does not
    hold makes us read the key set once more (keys rotate); still unknown, the token is refused."""
    try:
        header = extract_compact(id_token.encode()).headers()
    except (JoseError, ValueError):
        raise SignInRefused("token_malformed", "The ID token from the identity provider is not a signed token.") \
            from None
    alg = str(header.get("alg", ""))
    if alg not in ACCEPTED_ALGORITHMS:
        raise SignInRefused("token_algorithm", f"The ID token is signed with '{alg or 'nothing'}', which this "
                                               "suite does not accept (it must carry the provider's signature).")
    kid = header.get("kid")
    keys = await key_set(metadata.jwks_uri)
    if kid is not None and not _has_kid(keys, str(kid)):
        keys = await key_set(metadata.jwks_uri, fresh=True)
        if not _has_kid(keys, str(kid)):
            raise SignInRefused("token_unknown_key", "The ID token is signed with a key the identity provider does "
                                                     "not publish. Start the sign-in again; if it persists, tell "
                                                     "the security officer.")
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ACCEPTED_ALGORITHMS))
    except BadSignatureError:
        raise SignInRefused("token_signature", "The ID token's signature does not match the identity provider's "
                                               "keys.") from None
    except (JoseError, ValueError):
        raise SignInRefused("token_malformed", "The ID token could not be read.") from None
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(clock.now().timestamp()), leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": metadata.issuer}, aud={"essential": True, "value": client_id},
        exp={"essential": True}, nonce={"essential": True, "value": nonce})
    try:
        registry.validate(token.claims)
    except ExpiredTokenError:
        raise SignInRefused("token_expired", "The ID token has expired. Start the sign-in again; if it keeps "
                                             "happening, check this server's clock.") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", "")
        messages = {
            "iss": ("token_issuer", "The ID token was issued by another directory than this tenant's identity "
                                    "provider."),
            "aud": ("token_audience", "The ID token was issued for another application, not this suite."),
            "nonce": ("token_nonce", "The ID token does not belong to this sign-in attempt (nonce mismatch). "
                                     "Start the sign-in again."),
        }
        reason, text = messages.get(claim, ("token_claims", f"The ID token's claim '{claim}' is missing or wrong."))
        raise SignInRefused(reason, text) from None
    except JoseError:
        raise SignInRefused("token_claims", "The ID token's claims are not valid.") from None
    return dict(token.claims)


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)
