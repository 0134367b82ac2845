"""Making, archiving and sending the reports; recording feedback. Never commits: the command, request or scheduled
tick that calls it owns the transaction. Every change is audited."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.errors import Conflict, NotFound, ValidationFailed
from rentguy_crm.integrations.base import EmailMessage, Mailer, MailPart
from rentguy_crm.kit import clock
from rentguy_crm.reporting import charts, figures, periods, rendering, repository
from rentguy_crm.reporting.models import FeedbackItem, Report
from rentguy_crm.reporting.pdf import PdfUnavailable, render_pdf
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.reports import ReportsSettings

log = structlog.get_logger(__name__)

CHARTS = {"automation_sla": charts.weekly_charts, "retro": charts.retro_charts}


def report_settings(tenant: Tenant) -> ReportsSettings:
    """The tenant's `reports` section, or the defaults (no recipients) when it has none."""
    raw = (tenant.config or {}).get("reports")
    return ReportsSettings.model_validate(raw) if raw else ReportsSettings()


def report_zone(tenant: Tenant) -> str:
    return report_settings(tenant).timezone or tenant.timezone or "UTC"


def chart_bytes(report: Report) -> dict[str, bytes]:
    return {name: base64.b64decode(value) for name, value in (report.charts or {}).items()}


async def _build(kind: str, tenant: Tenant, period: periods.Period, session: AsyncSession) -> dict[str, Any]:
    if kind == "automation_sla":
        return await figures.automation_sla(session, tenant.id, tenant.slug, period)
    return await figures.retro(session, tenant.id, tenant.slug, period)


@dataclass
class PreparedReport:
    """A report computed and rendered, not yet archived."""

    kind: str
    period: str
    figures: dict[str, Any]
    pictures: dict[str, bytes]
    html: str
    pdf: bytes | None
    pdf_error: str | None


def render_report(kind: str, data: dict[str, Any], language: str,
                  generated_text: str) -> tuple[dict[str, bytes], str, bytes | None, str | None]:
    """Charts, HTML, and PDF (or why there is none) of a report's figures: CPU work with no database, picklable so
    it can run in a separate process."""
    pictures = CHARTS[kind](data)
    html = rendering.render(kind, data, language=language, generated_at=generated_text,
                            image=lambda name: rendering.data_uri(pictures[name]))
    try:
        return pictures, html, render_pdf(html), None
    except PdfUnavailable as exc:
        return pictures, html, None, exc.detail


def render_report_niced(kind: str, data: dict[str, Any], language: str,
                        generated_text: str) -> tuple[dict[str, bytes], str, bytes | None, str | None]:
    """`render_report` at the lowest CPU priority: the process that runs it yields to lead capture and runs."""
    os.nice(19)
    return render_report(kind, data, language, generated_text)


async def prepare(session: AsyncSession, tenant: Tenant, kind: str, period: periods.Period, *,
                  now: dt.datetime, isolate: bool = False) -> PreparedReport:
    """Compute the figures of a past period (reads only), draw the charts, render the HTML and the PDF. Raises
    PeriodError for a period that is not over; a PDF that cannot be made leaves `pdf` None and says why.

    `isolate=True` (the workers) draws and renders in a separate process at the lowest CPU priority: matplotlib
    and WeasyPrint hold the GIL and a core for seconds, which would otherwise slow the worker's and the API's
    handling of leads meanwhile (measured: the 200-lead burst of the acceptance scenario missed its start-time
    target while a report was made in a thread)."""
    noun = "week" if kind == "automation_sla" else "month"
    periods.require_past(period, now, noun)
    data = await _build(kind, tenant, period, session)
    args = (kind, data, report_settings(tenant).language, clock.local_text(now, report_zone(tenant)))
    if isolate:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pictures, html, pdf, pdf_error = await asyncio.get_running_loop().run_in_executor(
                pool, render_report_niced, *args)
    else:
        pictures, html, pdf, pdf_error = await asyncio.to_thread(render_report, *args)
    if pdf_error:
        log.warning("report_pdf_unavailable", tenant=tenant.slug, kind=kind, period=period.label)
    return PreparedReport(kind, period.label, data, pictures, html, pdf, pdf_error)


async def archive(session: AsyncSession, tenant: Tenant, prepared: PreparedReport, *, actor: str,
                  now: dt.datetime) -> Report:
    """Store a prepared report, replacing an earlier generation of the same period (when it was sent is kept)."""
    encoded = {name: base64.b64encode(png).decode() for name, png in prepared.pictures.items()}
    report = await repository.find_report(session, tenant.id, prepared.kind, prepared.period)
    before = None if report is None else {"generated_at": report.generated_at.isoformat(),
                                          "generated_by": report.generated_by}
    if report is None:
        report = Report(tenant_id=tenant.id, kind=prepared.kind, period=prepared.period, sent_to=[])
    report.generated_at, report.generated_by = now, actor
    report.figures, report.charts, report.html = prepared.figures, encoded, prepared.html
    report.pdf, report.pdf_error = prepared.pdf, prepared.pdf_error
    await repository.add(session, report)
    await audit.record(session, actor=actor, action="report.generated" if before is None else "report.regenerated",
                       entity_type="report", entity_id=report.id, tenant_id=tenant.id, before=before,
                       after={"kind": prepared.kind, "period": prepared.period, "generated_at": now.isoformat(),
                              "pdf": prepared.pdf is not None})
    return report


async def generate(session: AsyncSession, tenant: Tenant, kind: str, period: periods.Period, *, actor: str,
                   now: dt.datetime | None = None) -> Report:
    """Prepare and archive a report of a past period in one session (the CLI and the tests)."""
    now = now or clock.now()
    prepared = await prepare(session, tenant, kind, period, now=now)
    return await archive(session, tenant, prepared, actor=actor, now=now)


def mail_for(report: Report, tenant: Tenant, to: str) -> EmailMessage:
    """The report as a mail to one recipient: HTML with the charts inline (cid:), text summary, PDF attached."""
    language = report_settings(tenant).language
    pictures = chart_bytes(report)
    generated_text = clock.local_text(report.generated_at, report_zone(tenant))
    html = rendering.render(report.kind, report.figures, language=language, generated_at=generated_text,
                            image=lambda name: f"cid:{name}.{report.id}@report")
    text = rendering.text_summary(report.kind, report.figures, language)
    attachments = []
    if report.pdf is not None:
        attachments.append(MailPart(report.pdf, "application/pdf", filename=pdf_filename(report, tenant)))
    else:
        text += f"\n{rendering.LABELS[language]['pdf_missing']}: {report.pdf_error}\n"
    return EmailMessage(to=to, subject=rendering.title(report.kind, report.figures, language), text=text, html=html,
                        inline_images=[MailPart(png, "image/png", filename=f"{name}.png",
                                                cid=f"{name}.{report.id}@report") for name, png in pictures.items()],
                        attachments=attachments)


def pdf_filename(report: Report, tenant: Tenant) -> str:
    return f"{tenant.slug}-{report.kind.replace('_', '-')}-{report.period}.pdf"


async def send(session: AsyncSession, tenant: Tenant, report: Report, mailer: Mailer | None, *, actor: str,
               now: dt.datetime | None = None) -> list[str]:
    """Mail the report to every recipient of the tenant's `reports` section; returns who it went to. The
    idempotency key names the report, its generation and the recipient, so a retried send is the same message."""
    recipients = report_settings(tenant).recipients
    if not recipients:
        raise Conflict(f"Tenant {tenant.slug} has no report recipients: add them to the 'reports' section of "
                       f"configs/tenants/{tenant.slug}.json and provision it.")
    if mailer is None:
        raise Conflict(f"Tenant {tenant.slug} has no e-mail channel: configure 'channels.email' to send reports.")
    now = now or clock.now()
    generation = int(report.generated_at.timestamp())
    sent: list[str] = []
    for recipient in recipients:
        address = f"{recipient.name} <{recipient.email}>"
        await mailer.send(mail_for(report, tenant, address),
                          idempotency_key=f"report:{report.id}:{generation}:{recipient.email}")
        sent.append(str(recipient.email))
    before = {"sent_at": report.sent_at.isoformat() if report.sent_at else None}
    report.sent_at, report.sent_to = now, sent
    await session.flush()
    # Recipients are counted, not named, in the audit entry and the log (no personal data in logs).
    await audit.record(session, actor=actor, action="report.sent", entity_type="report", entity_id=report.id,
                       tenant_id=tenant.id, before=before, after={"sent_at": now.isoformat(), "recipients": len(sent)})
    log.info("report_sent", tenant=tenant.slug, kind=report.kind, period=report.period, recipients=len(sent))
    return sent


async def get(session: AsyncSession, tenant_id: int, report_id: int) -> Report:
    report = await repository.get_report(session, tenant_id, report_id)
    if report is None:
        raise NotFound(f"No report {report_id}.")
    return report


async def add_feedback(session: AsyncSession, tenant_id: int, *, author: str, text: str, tags: list[str],
                       workflow_key: str | None, template_key: str | None, screen: str | None,
                       now: dt.datetime | None = None) -> FeedbackItem:
    """Record a feedback item; a workflow or template key the tenant does not have is a 422 naming it."""
    problems = []
    if workflow_key and not await repository.workflow_exists(session, tenant_id, workflow_key):
        problems.append({"field": "workflow_key", "type": "value_error",
                         "message": f"no workflow '{workflow_key}' in this tenant"})
    if template_key and not await repository.template_exists(session, tenant_id, template_key):
        problems.append({"field": "template_key", "type": "value_error",
                         "message": f"no template '{template_key}' in this tenant"})
    if problems:
        raise ValidationFailed("; ".join(p["message"] for p in problems), errors=problems)
    item = await repository.add(session, FeedbackItem(
        tenant_id=tenant_id, author=author, text=text, tags=tags, workflow_key=workflow_key,
        template_key=template_key, screen=screen, created_at=now or clock.now()))
    await audit.record(session, actor=author, action="feedback.created", entity_type="feedback_item",
                       entity_id=item.id, tenant_id=tenant_id, after=figures.feedback_json(item))
    return item
