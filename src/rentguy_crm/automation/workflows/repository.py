"""Tenant-scoped queries on `workflows` (the stored versions of workflow definitions)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.workflows.models import Workflow


async def current_versions(session: AsyncSession, tenant_id: int) -> list[Workflow]:
    statement = (select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.is_current.is_(True))
                 .order_by(Workflow.key))
    return list((await session.scalars(statement)).all())


async def get(session: AsyncSession, tenant_id: int, key: str, version: int | None = None) -> Workflow | None:
    """One version of a workflow; the current one when no version is given."""
    statement = select(Workflow).where(Workflow.tenant_id == tenant_id, Workflow.key == key)
    if version is None:
        statement = statement.where(Workflow.is_current.is_(True))
    else:
        statement = statement.where(Workflow.version == version)
    return await session.scalar(statement.order_by(Workflow.version.desc()).limit(1))


async def latest_version_number(session: AsyncSession, tenant_id: int, key: str) -> int:
    statement = select(func.max(Workflow.version)).where(Workflow.tenant_id == tenant_id, Workflow.key == key)
    return int(await session.scalar(statement) or 0)


async def version_numbers(session: AsyncSession, tenant_id: int, key: str) -> list[int]:
    statement = (select(Workflow.version).where(Workflow.tenant_id == tenant_id, Workflow.key == key)
                 .order_by(Workflow.version))
    return list((await session.scalars(statement)).all())
