"""`/api/v1/reports` (the archive, role permission `reports:read`) and `/api/v1/feedback` (UAT feedback: any staff
role records it, `reports:read` lists it). Wiring only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.errors import NotFound
from rentguy_crm.kit import inputs
from rentguy_crm.kit.pagination import Page, PageQuery
from rentguy_crm.reporting import repository, schemas, service
from rentguy_crm.reporting.schemas import KEY_PATTERN, TAG_PATTERN

router = APIRouter(tags=["reports"])
feedback_router = APIRouter(tags=["reports"])

Reader = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]
FeedbackWriter = Annotated[Principal, Depends(require(Permission.FEEDBACK_WRITE))]
ReportId = Annotated[inputs.RecordId, Path(description="Report id")]


@router.get("", response_model=Page[schemas.ReportSummary], summary="Archived reports, newest period first")
async def list_reports(session: Session, principal: Reader, page: PageQuery,
                       kind: Annotated[Literal["automation_sla", "retro"] | None, Query()] = None) -> object:
    rows, total = await repository.list_reports(session, principal.tenant_id, kind=kind, limit=page.limit,
                                                offset=page.offset)
    return Page(items=[schemas.ReportSummary(**schemas.summary(r)) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/{report_id}", response_model=schemas.ReportDetail, summary="One report with its figures")
async def get_report(report_id: ReportId, session: Session, principal: Reader) -> object:
    report = await service.get(session, principal.tenant_id, report_id)
    return schemas.ReportDetail(**schemas.summary(report), figures=report.figures)


@router.get("/{report_id}/pdf", summary="The report's PDF", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def get_report_pdf(report_id: ReportId, session: Session, principal: Reader) -> Response:
    report = await service.get(session, principal.tenant_id, report_id)
    if report.pdf is None:
        raise NotFound(f"Report {report_id} has no PDF: {report.pdf_error or 'none was made'}")
    return Response(report.pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{report.kind}-{report.period}.pdf"'})


@router.get("/{report_id}/html", summary="The report as a self-contained HTML page", response_class=Response,
            responses={200: {"content": {"text/html": {}}}})
async def get_report_html(report_id: ReportId, session: Session, principal: Reader) -> Response:
    report = await service.get(session, principal.tenant_id, report_id)
    return Response(report.html, media_type="text/html; charset=utf-8")


@router.get("/{report_id}/charts/{name}", summary="One chart of the report (PNG)", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def get_report_chart(report_id: ReportId, session: Session, principal: Reader,
                           name: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]) -> Response:
    report = await service.get(session, principal.tenant_id, report_id)
    charts = service.chart_bytes(report)
    if name not in charts:
        raise NotFound(f"Report {report_id} has no chart '{name}' (it has: {', '.join(sorted(charts))}).")
    return Response(charts[name], media_type="image/png")


@feedback_router.post("", status_code=201, response_model=schemas.Feedback, summary="Record UAT feedback")
async def create_feedback(body: schemas.FeedbackCreate, session: Session, principal: FeedbackWriter) -> object:
    return await service.add_feedback(session, principal.tenant_id, author=principal.actor, text=body.text,
                                      tags=body.tags, workflow_key=body.workflow_key,
                                      template_key=body.template_key, screen=body.screen)


@feedback_router.get("", response_model=Page[schemas.Feedback], summary="UAT feedback, newest first")
async def list_feedback(session: Session, principal: Reader, page: PageQuery,
                        tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
                        workflow_key: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None,
                        template_key: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None) -> object:
    items, total = await repository.list_feedback(session, principal.tenant_id, tag=tag, workflow_key=workflow_key,
                                                  template_key=template_key, limit=page.limit, offset=page.offset)
    return Page(items=[schemas.Feedback.model_validate(i) for i in items], total=total, limit=page.limit,
                offset=page.offset)
