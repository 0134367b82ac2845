"""A tenant's pipelines and stages from its config file: created or updated in place, never deleted."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.crm import repository
from rentguy_crm.crm.models import Pipeline, PipelineStage
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.tenants.service import ProvisionReport, apply_values


async def provision_pipelines(session: AsyncSession, scope: TenantScope, config: TenantConfig,
                              report: ProvisionReport) -> None:
    """Create or update the pipelines and stages named in `config`; each change is added to `report`."""
    existing = {p.key: p for p in await repository.pipelines_of(session, scope)}
    for position, spec in enumerate(config.pipelines):
        values: dict[str, object] = {"name": spec.name, "vertical": spec.vertical,
                                     "event_types": spec.event_types, "position": position}
        pipeline = existing.get(spec.key)
        label = f"pipeline {spec.key}"
        if pipeline is None:
            pipeline = Pipeline(tenant_id=scope.tenant_id, key=spec.key, **values)
            session.add(pipeline)
            await session.flush()
            report.created.append(label)
        elif apply_values(pipeline, values):
            report.updated.append(label)
        else:
            report.unchanged.append(label)
        stages = {s.key: s for s in await repository.stages_of(session, scope, pipeline.id)}
        for stage_position, stage_spec in enumerate(spec.stages):
            stage_values: dict[str, object] = {
                "name": stage_spec.name, "position": stage_position,
                "automation_flow": stage_spec.automation_flow, "outcome": stage_spec.outcome,
            }
            stage = stages.get(stage_spec.key)
            stage_label = f"stage {spec.key}.{stage_spec.key}"
            if stage is None:
                session.add(PipelineStage(tenant_id=scope.tenant_id, pipeline_id=pipeline.id, key=stage_spec.key,
                                          **stage_values))
                report.created.append(stage_label)
            elif apply_values(stage, stage_values):
                report.updated.append(stage_label)
    # Pipelines and stages missing from the file are kept: deals may still point at them.
    await session.flush()
