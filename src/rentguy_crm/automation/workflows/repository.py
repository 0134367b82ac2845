"""Tenant-scoped queries on `workflows` (the stored versions of workflow definitions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.crm.models import Pipeline, PipelineStage
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope


async def current_versions(session: AsyncSession, scope: TenantScope) -> list[Workflow]:
    statement = (select(Workflow).where(Workflow.tenant_id == scope.tenant_id, Workflow.is_current.is_(True))
                 .order_by(Workflow.key))
    return list((await session.scalars(statement)).all())


async def get(session: AsyncSession, scope: TenantScope, key: str, version: int | None = None) -> Workflow | None:
    """One version of a workflow; the current one when no version is given."""
    statement = select(Workflow).where(Workflow.tenant_id == scope.tenant_id, Workflow.key == key)
    if version is None:
        statement = statement.where(Workflow.is_current.is_(True))
    else:
        statement = statement.where(Workflow.version == version)
    return await session.scalar(statement.order_by(Workflow.version.desc()).limit(1))


async def latest_version_number(session: AsyncSession, scope: TenantScope, key: str) -> int:
    statement = select(func.max(Workflow.version)).where(Workflow.tenant_id == scope.tenant_id, Workflow.key == key)
    return int(await session.scalar(statement) or 0)


async def version_numbers(session: AsyncSession, scope: TenantScope, key: str) -> list[int]:
    statement = (select(Workflow.version).where(Workflow.tenant_id == scope.tenant_id, Workflow.key == key)
                 .order_by(Workflow.version))
    return list((await session.scalars(statement)).all())


async def current_version(session: AsyncSession, scope: TenantScope, key: str) -> Workflow | None:
    """The current version of a workflow (enabled or not)."""
    return await session.scalar(select(Workflow).where(Workflow.tenant_id == scope.tenant_id,
                                                       Workflow.key == key,
                                                       Workflow.is_current.is_(True)))


async def current_enabled(session: AsyncSession, scope: TenantScope) -> list[Workflow]:
    """The tenant's current, enabled versions: the workflows events may start."""
    rows = await session.scalars(select(Workflow).where(Workflow.tenant_id == scope.tenant_id,
                                                        Workflow.is_current.is_(True),
                                                        Workflow.enabled.is_(True)))
    return list(rows.all())


async def has_workflow(session: AsyncSession, scope: TenantScope, key: str) -> bool:
    """Whether the tenant has any version of this workflow."""
    return await session.scalar(select(Workflow.id).where(Workflow.tenant_id == scope.tenant_id, Workflow.key == key)
                                .limit(1)) is not None


async def by_id(session: AsyncSession, workflow_id: int) -> Workflow | None:
    """A stored version by id (runs name the version they started with by id)."""
    return await session.get(Workflow, workflow_id)


async def current_keys_with_slugs(session: AsyncSession, *, tenant_slug: str | None = None,
                                  key: str | None = None) -> set[tuple[str, str]]:
    """(tenant slug, workflow key) of every current version, optionally of one tenant (a worker's `--tenant`
    slug) or one workflow."""
    query = (select(Tenant.slug, Workflow.key).join(Tenant, Tenant.id == Workflow.tenant_id)
             .where(Workflow.is_current.is_(True)))
    if tenant_slug:
        query = query.where(Tenant.slug == tenant_slug)
    if key:
        query = query.where(Workflow.key == key)
    return {(slug, workflow_key) for slug, workflow_key in (await session.execute(query)).all()}


async def current_with_slugs(session: AsyncSession) -> list[tuple[str, str, bool, dict[str, Any]]]:
    """(tenant slug, key, enabled, definition) of every tenant's current versions (the /metrics scrape)."""
    rows = await session.execute(
        select(Tenant.slug, Workflow.key, Workflow.enabled, Workflow.definition)
        .join(Tenant, Tenant.id == Workflow.tenant_id)
        .where(Workflow.is_current.is_(True))
    )
    return [(slug, key, enabled, definition) for slug, key, enabled, definition in rows]


async def stage_keys(session: AsyncSession, scope: TenantScope) -> list[str]:
    """The keys of every pipeline stage of the tenant, sorted (what `deal.stage.<key>` triggers may name)."""
    statement = (select(PipelineStage.key).join(Pipeline, Pipeline.id == PipelineStage.pipeline_id)
                 .where(Pipeline.tenant_id == scope.tenant_id).distinct())
    return sorted((await session.scalars(statement)).all())

