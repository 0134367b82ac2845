"""Tenant-scoped queries for templates and versions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.models import Deal, Lead
from rentguy_crm.db import utcnow
from rentguy_crm.errors import Conflict, NotFound
from rentguy_crm.templates.models import Delivery, Template, TemplateVersion
from rentguy_crm.tenants.scope import TenantScope


async def templates(session: AsyncSession, scope: TenantScope, *, key: str | None = None,
                    channel: str | None = None, language: str | None = None) -> list[Template]:
    stmt = select(Template).where(Template.tenant_id == scope.tenant_id)
    if key:
        stmt = stmt.where(Template.key == key)
    if channel:
        stmt = stmt.where(Template.channel == channel)
    if language:
        stmt = stmt.where(Template.language == language)
    return list((await session.scalars(stmt.order_by(Template.key, Template.channel, Template.language))).all())


async def template(session: AsyncSession, scope: TenantScope, template_id: int) -> Template:
    found = await session.scalar(select(Template).where(Template.tenant_id == scope.tenant_id,
                                                        Template.id == template_id))
    if found is None:
        raise NotFound(f"No template with id {template_id}.")
    return found


async def find_template(session: AsyncSession, scope: TenantScope, key: str, channel: str,
                        language: str) -> Template | None:
    return await session.scalar(select(Template).where(
        Template.tenant_id == scope.tenant_id, Template.key == key, Template.channel == channel,
        Template.language == language))


async def versions(session: AsyncSession, scope: TenantScope, template_ids: list[int]) -> list[TemplateVersion]:
    if not template_ids:
        return []
    return list((await session.scalars(select(TemplateVersion).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.template_id.in_(template_ids))
        .order_by(TemplateVersion.template_id, TemplateVersion.version))).all())


async def version(session: AsyncSession, scope: TenantScope, version_id: int) -> TemplateVersion:
    found = await session.scalar(select(TemplateVersion).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.id == version_id))
    if found is None:
        raise NotFound(f"No template version with id {version_id}.")
    return found


async def version_by_number(session: AsyncSession, scope: TenantScope, template_id: int,
                            number: int) -> TemplateVersion | None:
    return await session.scalar(select(TemplateVersion).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.template_id == template_id,
        TemplateVersion.version == number))


async def live_version(session: AsyncSession, scope: TenantScope, template_id: int) -> TemplateVersion | None:
    return await session.scalar(select(TemplateVersion).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.template_id == template_id,
        TemplateVersion.status == "live"))


async def next_version_number(session: AsyncSession, scope: TenantScope, template_id: int) -> int:
    current = await session.scalar(select(func.max(TemplateVersion.version)).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.template_id == template_id))
    return (current or 0) + 1


async def delivery(session: AsyncSession, idempotency_key: str) -> Delivery | None:
    return await session.scalar(select(Delivery).where(Delivery.idempotency_key == idempotency_key))


async def recent_lead_ids(session: AsyncSession, scope: TenantScope, limit: int) -> list[int]:
    """The tenant's newest leads (not spam): what publishing renders a template against besides samples."""
    from_newest = select(Lead.id).where(Lead.tenant_id == scope.tenant_id, Lead.status != "spam") \
        .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)
    return list((await session.scalars(from_newest)).all())


async def recent_deal_ids(session: AsyncSession, scope: TenantScope, limit: int) -> list[int]:
    from_newest = select(Deal.id).where(Deal.tenant_id == scope.tenant_id) \
        .order_by(Deal.created_at.desc(), Deal.id.desc()).limit(limit)
    return list((await session.scalars(from_newest)).all())


async def lock_template_of(session: AsyncSession, scope: TenantScope, version_id: int) -> None:
    """Written as the very first statement: a row lock on Postgres and the write lock on SQLite (where a read
    before the first write could not be upgraded once another writer committed), so concurrent publishes of
    one template run one after the other and each sees the other's result. Conflict when the lock is busy."""
    template_of_version = select(TemplateVersion.template_id).where(
        TemplateVersion.id == version_id, TemplateVersion.tenant_id == scope.tenant_id).scalar_subquery()
    try:
        await session.execute(update(Template).where(Template.id == template_of_version)
                              .values(updated_at=utcnow()))
    except OperationalError:
        raise Conflict("The template is being changed by someone else right now; try again.") from None


async def archive_live_versions(session: AsyncSession, scope: TenantScope, template_id: int, *, keep: int,
                                now: dt.datetime) -> None:
    """Archive the template's live version(s) other than `keep`, which is about to go live."""
    await session.execute(update(TemplateVersion).where(
        TemplateVersion.tenant_id == scope.tenant_id, TemplateVersion.template_id == template_id,
        TemplateVersion.status == "live",
        TemplateVersion.id != keep).values(status="archived", archived_at=now, updated_at=now))
