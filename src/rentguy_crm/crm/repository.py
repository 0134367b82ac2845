"""Tenant-scoped queries for CRM records. Every statement starts from `scoped()`, so none forgets the tenant."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm.models import Pipeline, PipelineStage
from rentguy_crm.errors import NotFound

M = TypeVar("M")


def scoped(model: type[M], tenant_id: int) -> Select[tuple[M]]:
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


async def get_scoped(session: AsyncSession, model: type[M], tenant_id: int, record_id: int, label: str) -> M:
    """One record of the tenant; another tenant's record is simply not found (404, not 403)."""
    obj = await session.scalar(scoped(model, tenant_id).where(model.id == record_id))  # type: ignore[attr-defined]
    if obj is None:
        raise NotFound(f"No {label} with id {record_id}.")
    return obj


async def pipelines_with_stages(session: AsyncSession, tenant_id: int) -> list[tuple[Pipeline, list[PipelineStage]]]:
    pipelines = (await session.scalars(scoped(Pipeline, tenant_id).order_by(Pipeline.position, Pipeline.id))).all()
    stages = (await session.scalars(
        scoped(PipelineStage, tenant_id).order_by(PipelineStage.position, PipelineStage.id))).all()
    by_pipeline: dict[int, list[PipelineStage]] = {}
    for stage in stages:
        by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
    return [(p, by_pipeline.get(p.id, [])) for p in pipelines]


def as_dict(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}
