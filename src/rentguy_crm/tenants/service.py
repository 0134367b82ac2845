"""Provisioning of the tenant row: apply a tenant config idempotently and report what changed.
The domains provision their own sections (pipelines: `crm.provisioning`); `rentguy_crm.provisioning` runs them all."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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


def apply_values(obj: object, values: dict[str, object]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


@dataclass(frozen=True)
class TenantChange:
    """What provisioning did to the tenant row, for the audit log the caller writes (`action` None: nothing)."""

    tenant: Tenant
    action: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def provision_tenant(session: AsyncSession, config: TenantConfig, report: ProvisionReport) -> TenantChange:
    """Create or update the tenant row of `config`; its changes are added to `report` and returned for the
    audit log (`rentguy_crm.provisioning` records them)."""
    document = config.model_dump(mode="json")
    tenant = await repository.by_slug(session, config.slug)
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
        change = TenantChange(tenant, "tenant.provisioned", None, {"slug": config.slug})
    else:
        before = {"config_checksum": tenant.config_checksum}
        if apply_values(tenant, tenant_values):
            report.updated.append(f"tenant {config.slug}")
            change = TenantChange(tenant, "tenant.updated", before, {"config_checksum": tenant.config_checksum})
        else:
            report.unchanged.append(f"tenant {config.slug}")
            change = TenantChange(tenant, None, None, None)

    await session.flush()
    return change


def tenant_config(tenant: Tenant) -> TenantConfig:
    """The typed config of a provisioned tenant."""
    return TenantConfig.model_validate(tenant.config)
