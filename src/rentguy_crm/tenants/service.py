"""Provisioning: apply a tenant config idempotently and report what changed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.crm.models import Pipeline, PipelineStage
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.models import Tenant


@dataclass
class ProvisionReport:
    tenant: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> dict[str, object]:
        return {"tenant": self.tenant, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged}


def checksum(config: TenantConfig) -> str:
    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _apply(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


async def provision(session: AsyncSession, config: TenantConfig, *, actor: str = "cli") -> ProvisionReport:
    report = ProvisionReport(tenant=config.slug)
    document = config.model_dump(mode="json")
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == config.slug))
    tenant_values: dict[str, object] = {
        "name": config.name, "aliases": config.aliases, "timezone": config.timezone,
        "locale": config.locale, "config": document, "config_checksum": checksum(config),
    }
    for alias in config.aliases:
        other = await repository.find(session, alias)
        if other is not None and other.slug != config.slug:
            raise ValueError(f"alias '{alias}' already belongs to tenant '{other.slug}'")
    if tenant is None:
        tenant = Tenant(slug=config.slug, **tenant_values)
        session.add(tenant)
        await session.flush()
        report.created.append(f"tenant {config.slug}")
        await audit.record(session, actor=actor, action="tenant.provisioned", entity_type="tenant",
                           entity_id=tenant.id, tenant_id=tenant.id, after={"slug": config.slug})
    else:
        before = {"config_checksum": tenant.config_checksum}
        if _apply(tenant, tenant_values):
            report.updated.append(f"tenant {config.slug}")
            await audit.record(session, actor=actor, action="tenant.updated", entity_type="tenant",
                               entity_id=tenant.id, tenant_id=tenant.id, before=before,
                               after={"config_checksum": tenant.config_checksum})
        else:
            report.unchanged.append(f"tenant {config.slug}")

    existing = {p.key: p for p in (await session.scalars(
        select(Pipeline).where(Pipeline.tenant_id == tenant.id))).all()}
    for position, spec in enumerate(config.pipelines):
        values: dict[str, object] = {"name": spec.name, "vertical": spec.vertical,
                                     "event_types": spec.event_types, "position": position}
        pipeline = existing.get(spec.key)
        label = f"pipeline {spec.key}"
        if pipeline is None:
            pipeline = Pipeline(tenant_id=tenant.id, key=spec.key, **values)
            session.add(pipeline)
            await session.flush()
            report.created.append(label)
        elif _apply(pipeline, values):
            report.updated.append(label)
        else:
            report.unchanged.append(label)
        stages = {s.key: s for s in (await session.scalars(
            select(PipelineStage).where(PipelineStage.pipeline_id == pipeline.id))).all()}
        for stage_position, stage_spec in enumerate(spec.stages):
            stage_values: dict[str, object] = {
                "name": stage_spec.name, "position": stage_position,
                "automation_flow": stage_spec.automation_flow, "outcome": stage_spec.outcome,
            }
            stage = stages.get(stage_spec.key)
            stage_label = f"stage {spec.key}.{stage_spec.key}"
            if stage is None:
                session.add(PipelineStage(tenant_id=tenant.id, pipeline_id=pipeline.id, key=stage_spec.key,
                                          **stage_values))
                report.created.append(stage_label)
            elif _apply(stage, stage_values):
                report.updated.append(stage_label)
    # Pipelines and stages missing from the file are kept: deals may still point at them.
    await session.flush()
    return report


def tenant_config(tenant: Tenant) -> TenantConfig:
    """The typed config of a provisioned tenant."""
    return TenantConfig.model_validate(tenant.config)
