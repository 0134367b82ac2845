"""Which tenants' rows a query may read or write: a type that only authentication (or an operator's command) produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantScope:
    """One tenant's rows (`tenant_id`), as proven by an authenticated principal (API key or staff session)."""

    tenant_id: int


@dataclass(frozen=True, slots=True)
class AllTenants:
    """Every tenant's rows: operators' commands with database access only, never an HTTP principal."""


Scope = TenantScope | AllTenants
