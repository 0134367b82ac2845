"""Screen 6, Automations (`/automations`): the workflows with their state and failure rate against the 2% line,
pause and resume with a reason, runs with filters, a run's step log, and retry, cancel and "retry all failed of a
workflow since a time". Every action goes through the same services as the API and the CLI, audited there."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.automation.runs import service as runs
from rentguy_crm.automation.runs.models import RUN_STATUSES
from rentguy_crm.automation.runs.status import FAILURE_THRESHOLD, automation_health
from rentguy_crm.automation.workflows import repository as workflows
from rentguy_crm.db import utcnow
from rentguy_crm.errors import ValidationFailed
from rentguy_crm.kit import clock, inputs
from rentguy_crm.kit.inputs import LookBack, Offset, Text
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.web.access import form_of, require_page
from rentguy_crm.web.rendering import DEFAULT_ZONE, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.AUTOMATION_READ))]
Operator = Annotated[Principal, Depends(require_page(Permission.AUTOMATION_OPERATE))]
WorkflowKey = Annotated[Text, Path(max_length=64, pattern=r"^[a-z0-9_\-]+$")]
PAGE_SIZE = 25
REASON_LIMIT = 300


async def _tenant(session: Session, principal: Principal) -> Tenant:
    tenant = await tenants.by_id(session, principal.tenant_id)
    assert tenant is not None  # the session's tenant exists while the session lives
    return tenant


@router.get("/automations")
async def automations_page(request: Request, principal: Reader, session: Session,
                           workflow: Annotated[Text | None, Query(max_length=64)] = None,
                           status: Annotated[Text | None, Query(max_length=32)] = None,
                           since: Annotated[Text | None, Query(max_length=32)] = None) -> HTMLResponse:
    query = {name: value for name, value in (("workflow", workflow), ("status", status), ("since", since)) if value}
    keys = sorted(w.key for w in await workflows.current_versions(session, principal.scope))
    return render(request, "automations/index.html", {
        "active": "automations", "keys": keys, "statuses": RUN_STATUSES, "filters": query,
        "runs_url": "/ui/automations/runs" + (f"?{urlencode(query)}" if query else "")})


async def _workflow_rows(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Every current workflow of the tenant, with its failure rate, dead runs and pause (from the health check)."""
    health = {flow["workflow"]: flow for flow in
              (await automation_health(session, clock.now(), principal.scope))["workflows"]}
    rows = []
    for workflow in await workflows.current_versions(session, principal.scope):
        flow = health.pop(workflow.key, {})
        rows.append({"key": workflow.key, "name": workflow.name, "version": workflow.version,
                     "enabled": workflow.enabled, **_health_of(flow)})
    rows += [{"key": key, "name": key, "version": None, "enabled": False, **_health_of(flow)}
             for key, flow in health.items()]  # runs of a workflow no longer in the library
    return sorted(rows, key=lambda row: row["key"])


def _health_of(flow: dict[str, Any]) -> dict[str, Any]:
    return {"finished": flow.get("finished", 0), "failed": flow.get("failed", 0),
            "failure_rate": flow.get("failure_rate", 0.0), "over_line": flow.get("over_2_percent", False),
            "dead_24h": flow.get("dead_24h", 0), "paused": flow.get("paused", False),
            "paused_at": flow.get("paused_at"), "paused_by": flow.get("paused_by"),
            "pause_reason": flow.get("pause_reason")}


async def _workflow_table(request: Request, session: Session, principal: Principal,
                          notice: str | None = None, count: int | None = None) -> HTMLResponse:
    return render(request, "automations/fragments/workflows.html", {
        "workflows": await _workflow_rows(session, principal), "line": FAILURE_THRESHOLD,
        "can_operate": principal.can(Permission.AUTOMATION_OPERATE), "notice": notice, "count": count})


@router.get("/ui/automations/workflows")
async def workflow_table(request: Request, principal: Reader, session: Session) -> HTMLResponse:
    return await _workflow_table(request, session, principal)


@router.get("/ui/automations/runs")
async def run_list(request: Request, principal: Reader, session: Session,
                   workflow: Annotated[Text | None, Query(max_length=64)] = None,
                   status: Annotated[Text | None, Query(max_length=32)] = None,
                   since: Annotated[LookBack | None, Query()] = None,
                   offset: Annotated[Offset, Query()] = 0) -> HTMLResponse:
    found, total = await runs.list_runs(session, principal.scope, workflow=workflow or None, status=status or None,
                                        since=utcnow() - since if since else None, limit=PAGE_SIZE, offset=offset)
    query = {name: value for name, value in request.query_params.items() if name != "offset" and value}
    return render(request, "automations/fragments/runs.html", {
        "runs": found, "total": total, "offset": offset, "query": query, "filtered": bool(query),
        "can_operate": principal.can(Permission.AUTOMATION_OPERATE),
        "previous_offset": max(offset - PAGE_SIZE, 0) if offset else None,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < total else None})


@router.get("/automations/runs/{run_id}")
async def run_page(request: Request, run_id: inputs.RecordId, principal: Reader, session: Session) -> HTMLResponse:
    run = await runs.get_run(session, principal.scope, run_id)
    return render(request, "automations/run.html", {"active": "automations", "run": runs.run_detail(run)})


async def _run_detail(request: Request, session: Session, principal: Principal, run_id: int,
                      notice: str | None = None) -> HTMLResponse:
    run = await runs.get_run(session, principal.scope, run_id)
    detail = runs.run_detail(run)
    detail["step_log"] = [{**entry, "at_time": _moment(entry.get("at"))} for entry in detail["step_log"] or []]
    return render(request, "automations/fragments/run_detail.html", {
        "run": detail, "notice": notice, "can_operate": principal.can(Permission.AUTOMATION_OPERATE),
        "retryable": run.status in runs.RETRYABLE_STATUSES, "cancellable": run.status in runs.CANCELLABLE_STATUSES})


def _moment(value: object) -> dt.datetime | None:
    """A step-log time (stored as ISO text) as a moment the page shows in the tenant's zone."""
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@router.get("/ui/automations/runs/{run_id}")
async def run_detail(request: Request, run_id: inputs.RecordId, principal: Reader, session: Session) -> HTMLResponse:
    return await _run_detail(request, session, principal, run_id)


@router.post("/ui/automations/runs/{run_id}/retry")
async def retry(request: Request, run_id: inputs.RecordId, principal: Operator, session: Session) -> HTMLResponse:
    await runs.retry_run(session, principal.scope, run_id, actor=principal.actor, now=utcnow())
    return await _run_detail(request, session, principal, run_id, "retried")


@router.post("/ui/automations/runs/{run_id}/cancel")
async def cancel(request: Request, run_id: inputs.RecordId, principal: Operator, session: Session) -> HTMLResponse:
    await runs.cancel_run(session, principal.scope, run_id, actor=principal.actor, now=utcnow())
    return await _run_detail(request, session, principal, run_id, "cancelled")


def _reason_of(form: dict[str, str]) -> str | None:
    reason = " ".join(form.get("reason", "").split())
    if len(reason) > REASON_LIMIT:
        raise ValidationFailed(f"The reason is {len(reason)} characters; at most {REASON_LIMIT}.",
                               errors=[{"field": "reason", "message": "too long"}])
    return reason or None


@router.post("/ui/automations/workflows/{key}/pause")
async def pause(request: Request, key: WorkflowKey, principal: Operator, session: Session) -> HTMLResponse:
    reason = _reason_of(await form_of(request))
    if reason is None:
        raise ValidationFailed("A reason is needed to pause a workflow: colleagues read it on Today.",
                               errors=[{"field": "reason", "message": "required"}])
    await runs.pause_workflow(session, await _tenant(session, principal), key, actor=principal.actor,
                              reason=reason, now=utcnow())
    return await _workflow_table(request, session, principal, "paused")


@router.post("/ui/automations/workflows/{key}/resume")
async def resume(request: Request, key: WorkflowKey, principal: Operator, session: Session) -> HTMLResponse:
    await runs.resume_workflow(session, await _tenant(session, principal), key, actor=principal.actor)
    return await _workflow_table(request, session, principal, "resumed")


def since_of(value: str, zone: str) -> dt.datetime:
    """A `datetime-local` value, read in the tenant's zone (what the person sees on every page)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(f"'since' must be a date and time such as 2026-12-01T09:30; got '{value[:40]}'.",
                               errors=[{"field": "since", "message": "not a date and time"}]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(dt.UTC)


@router.post("/ui/automations/workflows/{key}/retry-failed")
async def retry_failed(request: Request, key: WorkflowKey, principal: Operator, session: Session) -> HTMLResponse:
    zone = (await _tenant(session, principal)).timezone or DEFAULT_ZONE
    since = since_of((await form_of(request)).get("since", ""), zone)
    retried = await runs.retry_failed_since(session, principal.scope, key, since, actor=principal.actor,
                                            now=utcnow())
    return await _workflow_table(request, session, principal, "retried_all", len(retried))
