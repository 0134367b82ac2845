"""`GET /api/v1/audit`: the tenant's audit entries, newest first, for roles with the audit permission.

The request's session and principal come from `auth`, which audits its own changes and so sits beside `audit`
importing it: the app hands their dependencies to `audit_router` rather than this door importing `auth`."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import repository
from rentguy_crm.audit.schemas import AuditFilters, AuditRecord, audit_filters
from rentguy_crm.kit.inputs import Text
from rentguy_crm.kit.pagination import Page, PageQuery
from rentguy_crm.tenants.scope import TenantScope


class Auditor(Protocol):
    """The request's principal, holding the audit permission."""

    @property
    def scope(self) -> TenantScope: ...


def audit_router(session_dependency: Any, auditor_dependency: Any) -> APIRouter:
    """The audit log's door. `session_dependency`: the `Depends` of the request's session (which commits or rolls
    back with the request); `auditor_dependency`: the `Depends` of its principal, refused without the audit
    permission."""
    router = APIRouter(tags=["audit"])

    @router.get("", response_model=Page[AuditRecord], summary="The tenant's audit log, newest first")
    async def list_audit(*, session: AsyncSession = session_dependency, principal: Auditor = auditor_dependency,
                         page: PageQuery,
                         sort: Annotated[Text | None, Query(description="at or -at (default -at); ties by id")] = None,
                         filters: AuditFilters = Depends(audit_filters)) -> Page[AuditRecord]:
        rows, total = await repository.list_entries(session, principal.scope, filters, sort, page)
        return Page(items=[AuditRecord.model_validate(r) for r in rows], total=total, limit=page.limit,
                    offset=page.offset)

    return router
