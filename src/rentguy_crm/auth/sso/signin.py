"""The sign-in itself: start (state, nonce and PKCE verifier in a short-lived signed cookie, then the provider) and
finish (state, code exchange, ID token, directory, roles, user, session). Any refusal is a `SignInRefused`.

Flow: OpenID Connect Core 1.0 §3.1 (authorization code flow) with PKCE S256 (RFC 7636).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth import sessions
from rentguy_crm.auth.models import UserSession
from rentguy_crm.auth.sessions import SignInRefused
from rentguy_crm.auth.sso import graph, provider
from rentguy_crm.config import get_settings
from rentguy_crm.db import Database
from rentguy_crm.errors import BadRequest, NotFound
from rentguy_crm.kit import clock
from rentguy_crm.kit import secrets as secret_refs
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.sso import SsoSettings

STATE_COOKIE = "crm_sso_state"
STATE_LIFETIME = dt.timedelta(minutes=10)
DEFAULT_NEXT = "/"  # the staff web app


def safe_next(value: str | None) -> str:
    """`next` only as a path on this site: '/…', never '//host', a scheme or a backslash (open redirects)."""
    if not value:
        return DEFAULT_NEXT
    if (len(value) > 2000 or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 for c in value)):
        raise BadRequest("'next' must be a path on this site starting with a single '/', e.g. next=/api/v1/auth/me.")
    return value


def _state_key() -> OctKey:
    secret = get_settings().secret_key.get_secret_value().encode()
    return OctKey.import_key(hmac.new(secret, b"sso-state-cookie", hashlib.sha256).digest())


def seal_state(payload: dict[str, Any]) -> str:
    return jws.serialize_compact({"alg": "HS256"}, json.dumps(payload).encode(), _state_key())


def open_state(value: str | None) -> dict[str, Any]:
    if not value:
        raise SignInRefused("state_missing", "This sign-in was not started here or took longer than 10 minutes "
                                             "(or the browser blocks cookies). Start the sign-in again.", status=400)
    try:
        payload = json.loads(jws.deserialize_compact(value, _state_key(), algorithms=["HS256"]).payload)
    except (JoseError, ValueError):
        raise SignInRefused("state_invalid", "The sign-in state was altered or is unreadable. Start the sign-in "
                                             "again.", status=400) from None
    if not isinstance(payload, dict) or payload.get("exp", 0) < clock.now().timestamp():
        raise SignInRefused("state_expired", "This sign-in took longer than 10 minutes. Start it again.", status=400)
    return payload


@dataclass(frozen=True)
class TenantSso:
    tenant: Tenant
    settings: SsoSettings

    @property
    def discovery_url(self) -> str:
        return self.settings.discovery_url(get_settings().sso_entra_authority)

    def client_secret(self) -> Any:
        try:
            return secret_refs.resolve(self.settings.client_secret)
        except secret_refs.SecretUnavailable as exc:
            raise SignInRefused("sso_secret_unavailable", f"Single sign-on for {self.tenant.slug} cannot work now: "
                                "its client secret is not available on this server (the audit log names the "
                                "cause). Administrators can sign in with a one-time link (crm users login-link).",
                                status=503, cause=str(exc)) from None


async def tenant_sso(session: AsyncSession, slug: str) -> TenantSso:
    tenant = await tenants.get(session, slug)
    settings = sessions.sso_settings(tenant)
    if settings is None:
        raise NotFound(f"Tenant {tenant.slug} has no single sign-on configured (no 'sso' section in "
                       f"configs/tenants/{tenant.slug}.json). Sign in with a link: crm users login-link.")
    return TenantSso(tenant, settings)


async def metadata_of(sso: TenantSso) -> provider.ProviderMetadata:
    try:
        return await provider.discover(sso.discovery_url)
    except provider.ProviderUnavailable as exc:
        raise SignInRefused("provider_unreachable", f"The identity provider cannot be reached: {exc}. Try again "
                                                    "later; administrators can use a one-time link (runbook 2.3).",
                            status=503) from None


async def begin(session: AsyncSession, slug: str, next_path: str | None,
                *, refused_tenant: list[int]) -> tuple[str, str]:
    """Where to send the browser (the provider's authorization endpoint) and the state cookie to set. A client
    secret that does not resolve refuses here, before the person signs in at the provider for nothing."""
    target = safe_next(next_path)
    sso = await tenant_sso(session, slug)
    refused_tenant.append(sso.tenant.id)
    sso.client_secret()
    metadata = await metadata_of(sso)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    client = provider.oauth_client(sso.settings.client_id, None, sso.settings.redirect_uri, sso.settings.scopes)
    url, _ = client.create_authorization_url(metadata.authorization_endpoint, state=state, nonce=nonce,
                                             code_verifier=verifier)
    assert create_s256_code_challenge(verifier) in url  # the challenge Authlib put in the URL is S256's
    cookie = seal_state({"t": sso.tenant.slug, "s": state, "n": nonce, "v": verifier, "x": target,
                         "exp": int((clock.now() + STATE_LIFETIME).timestamp())})
    return url, cookie


@dataclass
class SignedIn:
    tenant: Tenant
    session_row: UserSession
    raw_session: str
    next_path: str


async def finish(db: Database, cookie: str | None, params: dict[str, str],
                 *, refused_tenant: list[int]) -> SignedIn:
    """Complete a sign-in from the provider's redirect. `refused_tenant` receives the tenant id once known, so a
    refusal is audited in that tenant's log. The calls to the provider and Graph run outside any transaction;
    the user and session are written in one short transaction at the end."""
    state = open_state(cookie)
    if params.get("state") != state.get("s"):
        raise SignInRefused("state_mismatch", "The sign-in answer does not belong to the sign-in started in this "
                                              "browser (state mismatch). Start the sign-in again.", status=400)
    async with db.read_session() as reader:
        sso = await tenant_sso(reader, str(state.get("t")))
    refused_tenant.append(sso.tenant.id)
    if params.get("error"):
        raise SignInRefused("provider_error", f"The identity provider ended the sign-in: "
                                              f"{params.get('error')[:100]}.")  # type: ignore[index]
    if not params.get("code"):
        raise SignInRefused("code_missing", "The identity provider sent no sign-in code. Start the sign-in again.",
                            status=400)
    metadata = await metadata_of(sso)
    token = await _exchange(sso, metadata, code=params["code"], code_verifier=str(state["v"]))
    claims = await provider.verify_id_token(str(token["id_token"]), metadata, client_id=sso.settings.client_id,
                                            nonce=str(state["n"]))
    directory = str(claims.get(sso.settings.tenant_claim, ""))
    if sso.settings.directory_id and directory != sso.settings.directory_id:
        raise SignInRefused("wrong_directory", f"You signed in with an account of another organisation; "
                                               f"{sso.tenant.name} accepts only accounts of its own directory.")
    object_id = str(claims.get("oid") or (claims.get("sub") if sso.settings.provider == "oidc" else "") or "")
    if not object_id:
        raise SignInRefused("no_object_id", "The identity provider did not say who you are (no 'oid' claim).")
    groups = claims.get("groups") if isinstance(claims.get("groups"), list) else []
    if graph.has_group_overage(claims):
        groups = await graph.member_groups(get_settings().sso_graph_base_url, object_id, token.get("access_token"))
    app_roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    roles = sso.settings.roles_for([str(g) for g in groups or []], [str(r) for r in app_roles or []])
    if not roles:
        raise SignInRefused("no_role", f"You signed in, but none of your groups gives you a role in "
                                       f"{sso.tenant.name}'s CRM. Ask your administrator to add you to one of the "
                                       f"groups for sales, operations, engineering, support or admin.")
    async with db.session() as session:
        return await _sign_in(session, sso, claims, directory=directory, object_id=object_id, roles=roles,
                              next_path=str(state.get("x") or DEFAULT_NEXT))


async def _sign_in(session: AsyncSession, sso: TenantSso, claims: dict[str, Any], *, directory: str,
                   object_id: str, roles: list[str], next_path: str) -> SignedIn:
    user = await sessions.upsert_sso_user(
        session, sso.tenant, directory_id=directory or sso.settings.issuer or "oidc", object_id=object_id,
        email=_text(claims.get("email") or claims.get("preferred_username")), display_name=_text(claims.get("name")),
        roles=roles)
    row, raw = await sessions.start_session(session, sso.tenant, user, roles=roles, method="sso",
                                            lifetimes=sessions.lifetimes_of(sso.tenant))
    return SignedIn(sso.tenant, row, raw, next_path)


def _text(value: Any) -> str | None:
    return str(value)[:200] if value else None


async def end_session_url(session: AsyncSession, tenant: Tenant, post_logout_redirect: str) -> str | None:
    """The provider's end-session URL (OIDC RP-Initiated Logout 1.0) when the tenant wants it and it is offered."""
    settings = sessions.sso_settings(tenant)
    if settings is None or not settings.end_provider_session:
        return None
    try:
        metadata = await provider.discover(settings.discovery_url(get_settings().sso_entra_authority))
    except provider.ProviderUnavailable:
        return None
    if not metadata.end_session_endpoint:
        return None
    query = urlencode({"client_id": settings.client_id, "post_logout_redirect_uri": post_logout_redirect})
    sep = "&" if "?" in metadata.end_session_endpoint else "?"
    return f"{metadata.end_session_endpoint}{sep}{query}"


async def _exchange(sso: Any, metadata: Any, *, code: str, code_verifier: str) -> dict[str, Any]:
    """Trade the code for tokens. `invalid_client` may mean the secret was rotated in Vault while this process
    held the old one: forget the cached value and try once more with what the secret store holds now. The
    provider checks the client before it spends the code (RFC 6749 §5.2), so the retry may use the same code."""
    for attempt in (1, 2):
        client = provider.oauth_client(sso.settings.client_id, sso.client_secret(), sso.settings.redirect_uri,
                                       sso.settings.scopes)
        try:
            async with client:
                return await provider.exchange_code(client, metadata, code=code, code_verifier=code_verifier)
        except SignInRefused as refused:
            if refused.reason != "client_rejected" or attempt == 2 or sso.settings.client_secret is None:
                raise
            secret_refs.invalidate(str(sso.settings.client_secret))
    raise AssertionError("unreachable")
