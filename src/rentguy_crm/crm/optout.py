"""Objection to marketing (GDPR art. 21(2)): the one-click unsubscribe link of marketing mail (RFC 8058) and the
check every channel step makes before it sends a marketing message.

The link carries a token `<tenant id>.<contact id>.<HMAC-SHA256 of both under the app secret>`: it cannot be
guessed or moved to another person, and it needs no database row of its own. The app secret is refused at start
outside development mode when it is the default (config.py), so no token is signed with a known key in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope, signed_link_scope
from rentguy_crm.config import get_settings
from rentguy_crm.crm import repository
from rentguy_crm.crm.models import MarketingOptOut
from rentguy_crm.errors import NotFound
from rentguy_crm.kit import clock
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.models import Tenant

UNSUBSCRIBE_PATH = "/api/v1/unsubscribe/{token}"
_TOKEN = re.compile(r"^(\d{1,19})\.(\d{1,19})\.([A-Za-z0-9_-]{43})$")


def _mac(message: str) -> str:
    secret = get_settings().secret_key.get_secret_value().encode()
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_for(tenant_id: int, contact_id: int) -> str:
    return f"{tenant_id}.{contact_id}.{_mac(f'unsubscribe:{tenant_id}:{contact_id}')}"


def parse_token(token: str) -> tuple[int, int]:
    """(tenant id, contact id). A token that is malformed or not ours: 404, like a link to nothing."""
    match = _TOKEN.match(token or "")
    if match is None:
        raise NotFound("This unsubscribe link is not valid.")
    tenant_id, contact_id = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _mac(f"unsubscribe:{tenant_id}:{contact_id}")):
        raise NotFound("This unsubscribe link is not valid.")
    return tenant_id, contact_id


def unsubscribe_url(tenant: Tenant, contact_id: int, template: str | None = None) -> str:
    """The link for marketing mail: the tenant's `unsubscribe_url` if it has one (`{token}` and `{contact_id}`
    are filled in), otherwise the suite's own one-click route under CRM_BASE_URL."""
    token = token_for(tenant.id, contact_id)
    if template and "{token}" in template:
        return template.replace("{token}", token).replace("{contact_id}", str(contact_id))
    return get_settings().public_url.rstrip("/") + UNSUBSCRIBE_PATH.format(token=token)


def user_agent_class(user_agent: str | None) -> str:
    """A class, not the string (which fingerprints a person): bot, mobile, browser, mail-client or none."""
    ua = (user_agent or "").lower()
    if not ua:
        return "none"
    if any(word in ua for word in ("bot", "crawler", "spider", "preview", "scanner")):
        return "bot"
    if any(word in ua for word in ("outlook", "thunderbird", "applemail", "gmail")):
        return "mail-client"
    if "mobile" in ua or "android" in ua or "iphone" in ua:
        return "mobile"
    if "mozilla" in ua:
        return "browser"
    return "other"


def ip_hash(ip: str | None) -> str | None:
    return _mac(f"ip:{ip}")[:32] if ip else None


async def record_optout(session: AsyncSession, token: str, *, ip: str | None, user_agent: str | None) -> bool:
    """Record the objection of the token's contact. True when recorded now, False when it was already (or the
    contact is gone: an erased person's old link changes nothing and says so without an error)."""
    tenant_id, contact_id = parse_token(token)
    scope = signed_link_scope(tenant_id)
    contact = await repository.contact_by_id(session, scope, contact_id)
    if contact is None or await repository.has_opted_out(session, scope, contact_id):
        return False
    now = clock.now()
    before = {"marketing_opt_in": contact.marketing_opt_in}
    session.add(MarketingOptOut(tenant_id=tenant_id, contact_id=contact_id, at=now, source="list-unsubscribe",
                                ip_hash=ip_hash(ip), user_agent_class=user_agent_class(user_agent)))
    contact.marketing_opt_in = False
    contact.consent = {"marketing_opt_in": False, "withdrawn_at": now.isoformat(), "source": "list-unsubscribe"}
    await session.flush()
    await audit.record(session, actor="unsubscribe-link", action="contact.marketing_opt_out", entity_type="contact",
                       entity_id=contact_id, tenant_id=tenant_id, before=before,
                       after={"marketing_opt_in": False, "user_agent_class": user_agent_class(user_agent)},
                       reason="List-Unsubscribe (RFC 8058)")
    return True


def is_marketing(tenant: Tenant, *, step_marketing: bool, workflow: str | None, template: str | None) -> bool:
    """Marked in the step (`marketing: true`) or, for the whole workflow or template, in the tenant's config
    section `privacy`."""
    if step_marketing:
        return True
    try:
        settings = TenantConfig.model_validate(tenant.config).privacy
    except ValueError:
        return False
    return (workflow in settings.marketing_workflows) or (template in settings.marketing_templates)


async def marketing_refusal(session: AsyncSession, tenant: Tenant, contact: dict[str, Any], *, step_marketing: bool,
                            workflow: str | None, template: str | None) -> str | None:
    """Why a marketing message may not go to this contact (None: it may, or it is not marketing)."""
    if not is_marketing(tenant, step_marketing=step_marketing, workflow=workflow, template=template):
        return None
    contact_id = contact.get("id")
    if contact_id is not None and await repository.has_opted_out(session, job_scope(tenant.id), int(contact_id)):
        return "the contact objected to marketing"
    if not contact.get("marketing_opt_in"):
        return "no marketing consent"
    return None
