"""Screen 9, Reports (`/reports`): the latest weekly Automation SLA and monthly trend charts, drawn once on the
server when the report was made and served from the archive as images, and the list of archived reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from rentguy_crm.auth.dependencies import Session
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.errors import NotFound
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import PageParams, page_params
from rentguy_crm.reporting import repository as report_records
from rentguy_crm.reporting import schemas as report_schemas
from rentguy_crm.reporting import service as reports
from rentguy_crm.web.access import require_page
from rentguy_crm.web.rendering import PAGE_HEADERS, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require_page(Permission.REPORTS_READ))]
Paging = Annotated[PageParams, Depends(page_params)]
ChartName = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]
PAGE_SIZE = 20
# What each chart shows, for its alt text (the charts are pictures of numbers the report's HTML also lists).
CHART_TITLES = {
    ("automation_sla", "sla"): "Share of automations done within 2 minutes, per workflow, against the target",
    ("automation_sla", "outcomes"): "Finished, failed and dead runs per workflow",
    ("retro", "volume"): "Runs per week over the month",
    ("retro", "failure_rate"): "Failure rate per week over the month",
    ("retro", "sla"): "Share within 2 minutes per week over the month, against the target",
}


@router.get("/reports")
async def reports_page(request: Request, principal: Reader) -> HTMLResponse:
    return render(request, "reports/index.html", {"active": "reports"})


async def _latest(session: Session, principal: Principal, kind: str) -> dict[str, Any] | None:
    rows, _total = await report_records.list_reports(session, principal.tenant_id, kind=kind, limit=1, offset=0)
    return report_schemas.summary(rows[0]) if rows else None


@router.get("/ui/reports/charts")
async def latest_charts(request: Request, principal: Reader, session: Session) -> HTMLResponse:
    latest = [(kind, await _latest(session, principal, kind)) for kind in ("automation_sla", "retro")]
    return render(request, "reports/fragments/charts.html", {"latest": latest, "titles": CHART_TITLES})


@router.get("/ui/reports/list")
async def archive(request: Request, principal: Reader, session: Session, paging: Paging) -> HTMLResponse:
    page_size = min(paging.limit, PAGE_SIZE)
    rows, total = await report_records.list_reports(session, principal.tenant_id, kind=None, limit=page_size,
                                                    offset=paging.offset)
    return render(request, "reports/fragments/archive.html", {
        "reports": [report_schemas.summary(r) for r in rows], "total": total, "offset": paging.offset,
        "previous_offset": max(paging.offset - page_size, 0) if paging.offset else None,
        "next_offset": paging.offset + page_size if paging.offset + page_size < total else None})


@router.get("/ui/reports/{report_id}/charts/{name}")
async def chart(report_id: inputs.RecordId, name: ChartName, principal: Reader, session: Session) -> Response:
    """One archived chart as the PNG the mail carried (no drawing here: the report holds its pictures)."""
    report = await reports.get(session, principal.tenant_id, report_id)
    charts = reports.chart_bytes(report)
    if name not in charts:
        raise NotFound(f"Report {report_id} has no chart '{name}' (it has: {', '.join(sorted(charts))}).")
    return Response(charts[name], media_type="image/png",
                    headers={**PAGE_HEADERS, "Cache-Control": "private, max-age=3600"})
