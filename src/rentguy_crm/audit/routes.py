"""`GET /api/v1/audit`: the tenant's audit entries, newest first, for roles with the audit permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from rentguy_crm.audit import repository
from rentguy_crm.audit.schemas import AuditFilters, AuditRecord, audit_filters
from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.kit.inputs import Text
from rentguy_crm.kit.pagination import Page, PageQuery

router = APIRouter(tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=Page[AuditRecord], summary="The tenant's audit log, newest first")
async def list_audit(session: Session, principal: Auditor, page: PageQuery,
                     sort: Annotated[Text | None, Query(description="at or -at (default -at); ties by id")] = None,
                     filters: AuditFilters = Depends(audit_filters)) -> Page[AuditRecord]:
    rows, total = await repository.list_entries(session, principal.scope, filters, sort, page)
    return Page(items=[AuditRecord.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)
