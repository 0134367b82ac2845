"""The per-tenant shared secret of a vendor's outgoing webhook (Opsgenie, Freshdesk): the vendor sends it in the
header `X-Crm-Webhook-Secret` (both let a webhook carry custom headers) or as the password of HTTP basic auth.

The caller is anonymous: an unknown tenant, a tenant without the vendor, and a vendor without a webhook secret get
one and the same 404, so the door cannot be used to learn which tenants exist. A wrong secret is 401; a secret
whose reference cannot be resolved here is 503 (the vendor retries), and its reason goes to the log only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable

import structlog
from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.errors import NotFound, ServiceUnavailable, Unauthorized
from rentguy_crm.kit import secrets
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.channels import ChannelsConfig

log = structlog.get_logger(__name__)

HEADER = "X-Crm-Webhook-Secret"
RETRY_LATER_SECONDS = 60


def _presented(request: Request) -> str | None:
    if request.headers.get(HEADER):
        return request.headers[HEADER]
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


async def authenticated_tenant(session: AsyncSession, request: Request, slug: str, vendor: str,
                               secret_of: Callable[[ChannelsConfig], str | None]) -> Tenant:
    """The tenant whose `vendor` webhook secret the request carries, or the problem to answer."""
    tenant = await tenants.find(session, slug)
    reference: str | None = None
    if tenant is not None:
        try:
            reference = secret_of(ChannelsConfig.model_validate((tenant.config or {}).get("channels") or {}))
        except ValidationError:
            log.warning("webhook_channels_config_invalid", vendor=vendor, tenant=tenant.slug)
    if tenant is None or reference is None:
        log.info("webhook_not_configured", vendor=vendor, reason="no tenant" if tenant is None else "no secret")
        raise NotFound(f"No {vendor.capitalize()} webhook is configured at this address.")
    try:
        expected = secrets.resolve(reference).get_secret_value()
    except secrets.SecretUnavailable as exc:
        log.warning("webhook_secret_unavailable", vendor=vendor, tenant=tenant.slug, reason=str(exc))
        raise ServiceUnavailable(f"The {vendor.capitalize()} webhook cannot be checked now; retry later.",
                                 headers={"Retry-After": str(RETRY_LATER_SECONDS)}) from None
    presented = _presented(request)
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        log.info("webhook_secret_refused", vendor=vendor, tenant=tenant.slug, presented=presented is not None)
        raise Unauthorized(f"Send the tenant's {vendor.capitalize()} webhook secret in the {HEADER} header "
                           "(or as the basic-auth password).", headers={"WWW-Authenticate": 'Basic realm="webhooks"'})
    return tenant
