"""Automation operations API (`/api/v1/automation`): runs, pause/resume, workers. Wiring only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs import schemas, service, status
from rentguy_crm.db import utcnow
from rentguy_crm.kit.inputs import LookBack, Offset, RecordId, Text
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

router = APIRouter(tags=["automation"])

Reader = Annotated[Principal, Depends(require(Permission.AUTOMATION_READ))]
Operator = Annotated[Principal, Depends(require(Permission.AUTOMATION_OPERATE))]
RunId = Annotated[RecordId, Path(description="Run id")]


def _scope(principal: Principal) -> TenantScope:
    """The rows a request may touch: its API key's tenant."""
    return principal.scope


async def _tenant(session: AsyncSession, principal: Principal) -> Tenant:
    tenant = await tenants.by_id(session, principal.tenant_id)
    assert tenant is not None
    return tenant


WorkflowKey = Annotated[Text, Path(max_length=64, description="Workflow key, e.g. lead_intake")]


@router.get("/runs", response_model=schemas.RunPage, summary="Runs of the caller's tenant, newest first")
async def list_runs(
    session: Session, principal: Reader,
    workflow: Annotated[Text | None, Query(max_length=64)] = None,
    status_: Annotated[Text | None, Query(alias="status", max_length=32)] = None,
    since: Annotated[LookBack | None, Query(description="Created within this window, e.g. 1h, 2 days")] = None,
    lead_id: Annotated[RecordId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> dict[str, Any]:
    rows, total = await service.list_runs(session, _scope(principal), workflow=workflow, status=status_,
                                          since=utcnow() - since if since else None, lead_id=lead_id,
                                          limit=limit, offset=offset)
    return {"items": [service.run_summary(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/runs", response_model=schemas.RunDetail, status_code=201, summary="Start a run by hand")
async def start_run(body: schemas.RunStart, session: Session, principal: Operator) -> dict[str, Any]:
    tenant = await _tenant(session, principal)
    run = await service.start_manual_run(session, tenant, body.workflow, lead_id=body.lead_id, deal_id=body.deal_id)
    await audit.record(session, actor=principal.actor, action="automation.run.start", entity_type="automation_run",
                       entity_id=run.id, tenant_id=tenant.id, after=body.model_dump())
    return service.run_detail(run)


@router.get("/runs/{run_id}", response_model=schemas.RunDetail, summary="One run with its step log")
async def get_run(run_id: RunId, session: Session, principal: Reader) -> dict[str, Any]:
    return service.run_detail(await service.get_run(session, _scope(principal), run_id))


@router.post("/runs/{run_id}/retry", response_model=schemas.RunDetail, summary="Queue a failed/dead run again")
async def retry_run(run_id: RunId, session: Session, principal: Operator) -> dict[str, Any]:
    run = await service.retry_run(session, _scope(principal), run_id, actor=principal.actor, now=utcnow())
    return service.run_detail(run)


@router.post("/runs/{run_id}/cancel", response_model=schemas.RunDetail, summary="Cancel an unfinished run")
async def cancel_run(run_id: RunId, session: Session, principal: Operator) -> dict[str, Any]:
    run = await service.cancel_run(session, _scope(principal), run_id, actor=principal.actor, now=utcnow())
    return service.run_detail(run)


@router.post("/workflows/{key}/pause", response_model=schemas.WorkflowPauseState,
             summary="Pause a workflow: its runs queue but are not claimed")
async def pause_workflow(key: WorkflowKey, session: Session, principal: Operator,
                         body: schemas.PauseRequest | None = None) -> dict[str, Any]:
    tenant = await _tenant(session, principal)
    pause = await service.pause_workflow(session, tenant, key, actor=principal.actor,
                                         reason=body.reason if body else None, now=utcnow())
    return {"tenant": tenant.slug, "workflow": key, "paused": True, "paused_at": pause.paused_at,
            "paused_by": pause.paused_by, "reason": pause.reason}


@router.post("/workflows/{key}/resume", response_model=schemas.WorkflowPauseState,
             summary="Resume a paused workflow")
async def resume_workflow(key: WorkflowKey, session: Session, principal: Operator) -> dict[str, Any]:
    tenant = await _tenant(session, principal)
    await service.resume_workflow(session, tenant, key, actor=principal.actor)
    return {"tenant": tenant.slug, "workflow": key, "paused": False}


@router.get("/workers", summary="Workers (heartbeat age) and the tenant's queue depth, lag and pauses")
async def workers(session: Session, principal: Reader) -> dict[str, Any]:
    now = utcnow()
    return {"workers": await status.worker_status(session, now),
            "queue": await status.queue_status(session, now, _scope(principal))}
