"""Checks a tenant's live SSO configuration end to end (runbook 2.3 step 2; what the `--case=sso` smoke test runs):
discovery and key set reachable, the issuer names the configured directory, the client secret resolves and is
accepted by the token endpoint, the redirect URI answers, the role mapping names only our roles. Each failed
check says what to do."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from authlib.integrations.httpx_client import OAuthError

from rentguy_crm.auth.sso import provider
from rentguy_crm.kit import secrets as secret_refs
from rentguy_crm.tenants.sections.sso import ROLE_NAMES, SsoSettings

# An authorization code no provider issued: the token endpoint answers `invalid_grant` when it accepted the client
# credentials and `invalid_client` when it did not (RFC 6749 §5.2), so the secret is checked without a sign-in.
PROBE_CODE = "rentguy-crm-smoke-probe-not-a-code"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def check_sso(slug: str, settings: SsoSettings, entra_authority: str) -> list[Check]:
    checks: list[Check] = []
    url = settings.discovery_url(entra_authority)
    try:
        metadata = await provider.discover(url, fresh=True)
        checks.append(Check("discovery", True, url))
    except provider.ProviderUnavailable as exc:
        return [Check("discovery", False, f"{exc}. Check sso.directory_id / sso.issuer in configs/tenants/{slug}.json "
                                          "and that this host reaches the provider (proxy, firewall).")]
    try:
        keys = await provider.key_set(metadata.jwks_uri, fresh=True)
        checks.append(Check("keys", bool(keys.keys), f"{len(keys.keys)} signing key(s) at {metadata.jwks_uri}"))
    except provider.ProviderUnavailable as exc:
        checks.append(Check("keys", False, f"{exc}. The provider's key set must be reachable to check ID tokens."))
    expected = settings.directory_id if settings.provider == "entra" else settings.issuer
    issuer_ok = bool(expected) and ((expected or "") in metadata.issuer if settings.provider == "entra"
                                    else metadata.issuer.rstrip("/") == (expected or "").rstrip("/"))
    checks.append(Check("issuer", issuer_ok, f"issuer {metadata.issuer}" if issuer_ok else
                        f"the provider's issuer {metadata.issuer} does not match the configured "
                        f"{'directory' if settings.provider == 'entra' else 'issuer'} {expected}; correct "
                        f"sso.directory_id in configs/tenants/{slug}.json with the security officer."))
    checks.append(await _check_secret(slug, settings, metadata))
    checks.append(await _check_redirect(settings))
    unknown = sorted({r for roles in [*settings.group_roles.values(), *settings.app_roles.values()] for r in roles}
                     - set(ROLE_NAMES))
    mapped = len(settings.group_roles) + len(settings.app_roles)
    checks.append(Check("role_mapping", not unknown and mapped > 0,
                        f"{mapped} group(s)/app role(s) mapped to our roles" if not unknown and mapped else
                        f"the mapping names unknown roles {unknown} or nothing at all; use only "
                        f"{', '.join(ROLE_NAMES)}"))
    return checks


async def _check_secret(slug: str, settings: SsoSettings, metadata: provider.ProviderMetadata) -> Check:
    try:
        secret = secret_refs.resolve(settings.client_secret)
    except secret_refs.SecretUnavailable as exc:
        return Check("client_secret", False, f"{exc}. Store the current secret where the reference points "
                                             f"(runbook 2.3 step 3) or correct sso.client_secret.")
    client = provider.oauth_client(settings.client_id, secret, settings.redirect_uri, settings.scopes)
    try:
        async with client:
            await client.fetch_token(metadata.token_endpoint, grant_type="authorization_code", code=PROBE_CODE,
                                     code_verifier="x" * 43)
    except OAuthError as exc:
        if exc.error == "invalid_client":
            return Check("client_secret", False, f"the token endpoint refuses client {settings.client_id} "
                                                 f"(invalid_client): the secret is expired or wrong. Make a new "
                                                 f"secret in the Entra portal and store it at {settings.client_secret} "
                                                 f"(runbook 2.3 step 3).")
        if exc.error in ("invalid_grant", "invalid_request"):
            return Check("client_secret", True, f"{settings.client_secret} resolves and the token endpoint accepts "
                                                f"the client ({exc.error} for a made-up code, as expected)")
        return Check("client_secret", False, f"the token endpoint answered {exc.error}; see the provider's logs")
    except httpx.HTTPError as exc:
        return Check("client_secret", False, f"the token endpoint did not answer ({type(exc).__name__})")
    return Check("client_secret", False, "the token endpoint accepted a made-up code; this is not a real provider")


async def _check_redirect(settings: SsoSettings) -> Check:
    try:
        async with httpx.AsyncClient(timeout=provider.HTTP_TIMEOUT, follow_redirects=False) as client:
            answer = await client.get(settings.redirect_uri, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        return Check("redirect_uri", False, f"{settings.redirect_uri} did not answer ({type(exc).__name__}); the "
                                            "suite must be reachable there, or correct sso.redirect_uri")
    # Without a sign-in in progress our callback answers 400 (state_missing): the route is there and ours.
    if answer.status_code >= 500 or answer.status_code == 404:
        return Check("redirect_uri", False, f"{settings.redirect_uri} answered HTTP {answer.status_code}; it must "
                                            "be this suite's /api/v1/auth/sso/callback")
    return Check("redirect_uri", True, f"{settings.redirect_uri} answers (HTTP {answer.status_code})")
