"""`crm reports …` (make, archive, send and read the weekly Automation SLA and the monthly retro; provision
Metabase) and `crm feedback …` (UAT feedback items)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rentguy_crm.db import one_off_session
from rentguy_crm.integrations.registry import build_channels
from rentguy_crm.kit import clock
from rentguy_crm.kit.console import JsonOption, console, emit, fail, print_json, run_async
from rentguy_crm.reporting import metabase, periods, repository, schemas, service
from rentguy_crm.reporting.figures import feedback_json
from rentguy_crm.reporting.models import Report
from rentguy_crm.tenants import repository as tenants

app = typer.Typer(help="Reports: the weekly Automation SLA and the monthly retro (playbook §4), the archive, "
                       "Metabase.", no_args_is_help=True)
feedback_app = typer.Typer(help="UAT feedback items the monthly retro lists.", no_args_is_help=True)

TenantOption = typer.Option(..., "--tenant", "-t", help="Tenant slug, e.g. mrdj.")
SendOption = typer.Option(False, "--send", help="Mail it to the tenant's report recipients (HTML, charts inline, "
                                                "PDF attached).")
PdfOption = typer.Option(None, "--pdf", dir_okay=False, help="Also write the PDF to this file.")
ACTOR = "cli"
WEEK_COLUMNS = ["workflow", "runs", "succeeded", "failed", "dead", "pct_within_sla", "pct_within_2_minutes",
                "meets_target", "p95_duration_seconds"]
LIST_COLUMNS = ["id", "kind", "period", "generated_at", "generated_by", "sent_at", "recipients", "has_pdf"]


def _period(kind: str, label: str) -> periods.Period:
    """The past period named, or exit 2 with the reason (malformed, current or future)."""
    try:
        period = periods.week(label) if kind == "automation_sla" else periods.month(label)
        return periods.require_past(period, clock.now(), "week" if kind == "automation_sla" else "month")
    except periods.PeriodError as exc:
        raise fail(str(exc), code=2) from None


def _make(kind: str, tenant: str, label: str, send: bool, pdf: Path | None, as_json: bool) -> None:
    period = _period(kind, label)

    async def go() -> tuple[dict[str, Any], Report, list[str]]:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            with console.status(f"making the {kind.replace('_', ' ')} report {period.label} of {t.slug} …"):
                report = await service.generate(session, t, kind, period, actor=ACTOR)
            sent: list[str] = []
            if send:
                sent = await service.send(session, t, report, (await build_channels(t)).mailer, actor=ACTOR)
            return schemas.summary(report), report, sent

    summary, report, sent = run_async(go)
    if pdf is not None:
        if report.pdf is None:
            raise fail(f"report {report.id} archived, but {report.pdf_error}")
        pdf.write_bytes(report.pdf)
    if as_json:
        print_json({**summary, "figures": report.figures, "sent_to": len(sent)})
        return
    emit(report.figures["workflows"], as_json=False, columns=WEEK_COLUMNS if kind == "automation_sla"
         else WEEK_COLUMNS[:-1], title=f"{kind} {period.label} of {tenant} (report {report.id})")
    if report.pdf_error:
        console.print(f"[yellow]no PDF:[/yellow] {report.pdf_error}", highlight=False, soft_wrap=True)
    if pdf is not None:
        console.print(f"PDF written to {pdf}", highlight=False)
    if send:
        console.print(f"sent to {len(sent)} recipient(s)", highlight=False)


@app.command("automation-sla")
def automation_sla(tenant: str = TenantOption,
                   week: str = typer.Option(..., "--week", "-w", help="A past ISO week, e.g. 2026-W48."),
                   send: bool = SendOption, pdf: Path | None = PdfOption, as_json: bool = JsonOption) -> None:
    """Make (and archive) the weekly Automation SLA of a past ISO week; exit 2 for a malformed, current or
    future week."""
    _make("automation_sla", tenant, week, send, pdf, as_json)


@app.command("retro")
def retro(tenant: str = TenantOption,
          month: str = typer.Option(..., "--month", "-m", help="A past month, e.g. 2026-11."),
          send: bool = SendOption, pdf: Path | None = PdfOption, as_json: bool = JsonOption) -> None:
    """Make (and archive) the monthly retro: weekly trends per workflow, top errors, slowest steps, incidents and
    the month's UAT feedback; exit 2 for a malformed, current or future month."""
    _make("retro", tenant, month, send, pdf, as_json)


@app.command("list")
def list_reports(tenant: str = TenantOption,
                 kind: str | None = typer.Option(None, "--kind", help="automation_sla or retro."),
                 limit: int = typer.Option(50, "--limit", min=1, max=500), as_json: bool = JsonOption) -> None:
    """The archived reports, newest period first."""
    if kind not in (None, "automation_sla", "retro"):
        raise fail(f"--kind is automation_sla or retro, not '{kind}'", code=2)

    async def go() -> tuple[list[dict[str, Any]], int]:
        async with one_off_session(read_only=True) as session:
            t = await tenants.get(session, tenant)
            rows, total = await repository.list_reports(session, t.id, kind=kind, limit=limit, offset=0)
            return [schemas.summary(r) for r in rows], total

    rows, total = run_async(go)
    emit(rows, as_json=as_json, columns=LIST_COLUMNS, title=f"reports of {tenant}", total=total, noun="reports")


@app.command("show")
def show(report_id: int = typer.Argument(..., help="Report id (crm reports list)."), tenant: str = TenantOption,
         as_json: bool = JsonOption) -> None:
    """One archived report: when it was made and sent, and its figures per workflow."""

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with one_off_session(read_only=True) as session:
            t = await tenants.get(session, tenant)
            report = await service.get(session, t.id, report_id)
            return schemas.summary(report), report.figures

    summary, data = run_async(go)
    if as_json:
        print_json({**summary, "figures": data})
        return
    emit(summary, as_json=False, columns=[*LIST_COLUMNS, "pdf_error"], title=f"report {report_id}")
    columns = WEEK_COLUMNS if summary["kind"] == "automation_sla" else WEEK_COLUMNS[:-1]
    emit(data["workflows"], as_json=False, columns=columns, title=f"{summary['kind']} {summary['period']}")


@app.command("send")
def send_report(report_id: int = typer.Argument(..., help="Report id (crm reports list)."),
                tenant: str = TenantOption) -> None:
    """Mail an archived report (again) to the tenant's report recipients."""

    async def go() -> list[str]:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            report = await service.get(session, t.id, report_id)
            return await service.send(session, t, report, (await build_channels(t)).mailer, actor=ACTOR)

    sent = run_async(go)
    console.print(f"report {report_id} sent to {len(sent)} recipient(s)", highlight=False)


@app.command("metabase-provision")
def metabase_provision(
    url: str = typer.Option(..., "--url", help="Metabase base URL, e.g. https://metabase.rentguy.nl"),
    username: str = typer.Option(..., "--username", envvar="CRM_METABASE_USERNAME", help="Metabase admin e-mail."),
    password_file: Path = typer.Option(..., "--password-file", envvar="CRM_METABASE_PASSWORD_FILE",
                                       exists=True, dir_okay=False, help="File holding the password."),
    database: str = typer.Option("crm", "--database", help="Name of the suite's database in Metabase."),
    tenant: str = typer.Option("mrdj", "--tenant", "-t", help="Tenant whose question and subscription to make."),
    as_json: bool = JsonOption,
) -> None:
    """Create or update, by name, the "Automation SLA" question, its dashboard and the weekly subscription to the
    tenant's report recipients in Metabase (REST API). Running it again changes nothing that is already right."""
    password = password_file.read_text(encoding="utf-8").strip()

    async def recipients() -> tuple[list[str], str]:
        async with one_off_session(read_only=True) as session:
            t = await tenants.get(session, tenant)
            settings = service.report_settings(t)
            return [str(r.email) for r in settings.recipients], settings.timezone or t.timezone

    emails, zone = run_async(recipients)
    try:
        outcome = metabase.provision(url, username, password, database_name=database, tenant=tenant,
                                     recipients=emails, timezone=zone)
    except metabase.MetabaseError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(outcome)
        return
    emit([{"object": k, **v} for k, v in outcome.items()], as_json=False, columns=["object", "id", "name", "action"],
         title=f"Metabase at {url}")


@feedback_app.command("add")
def add_feedback(
    tenant: str = TenantOption,
    text: str = typer.Option(..., "--text", help="The feedback."),
    tag: list[str] = typer.Option([], "--tag", help="A label (repeat for more), e.g. --tag uat --tag email."),
    workflow: str | None = typer.Option(None, "--workflow", help="The workflow it is about, e.g. lead_intake."),
    template: str | None = typer.Option(None, "--template", help="The template it is about, e.g. lead-welcome."),
    screen: str | None = typer.Option(None, "--screen", help="Where it was noticed."),
    author: str = typer.Option("cli", "--author", help="Who gave it (a role or team name, e.g. operations)."),
    as_json: bool = JsonOption,
) -> None:
    """Record a UAT feedback item."""
    body = schemas.FeedbackCreate(text=text, tags=tag, workflow_key=workflow, template_key=template, screen=screen)

    async def go() -> dict[str, Any]:
        async with one_off_session() as session:
            t = await tenants.get(session, tenant)
            item = await service.add_feedback(session, t.id, author=f"cli:{author}", text=body.text, tags=body.tags,
                                              workflow_key=body.workflow_key, template_key=body.template_key,
                                              screen=body.screen)
            return feedback_json(item)

    emit(run_async(go), as_json=as_json, title="feedback recorded")


@feedback_app.command("list")
def list_feedback(tenant: str = TenantOption,
                  month: str | None = typer.Option(None, "--month", "-m", help="Only this month, e.g. 2026-11."),
                  tag: str | None = typer.Option(None, "--tag", help="Only items with this label."),
                  workflow: str | None = typer.Option(None, "--workflow", help="Only items about this workflow."),
                  as_json: bool = JsonOption) -> None:
    """UAT feedback items, newest first."""
    try:
        period = periods.month(month) if month else None
    except periods.PeriodError as exc:
        raise fail(str(exc), code=2) from None

    async def go() -> tuple[list[dict[str, Any]], int]:
        async with one_off_session(read_only=True) as session:
            t = await tenants.get(session, tenant)
            items, total = await repository.list_feedback(
                session, t.id, start=period.start if period else None, end=period.end if period else None,
                tag=tag, workflow_key=workflow, limit=500)
            return [feedback_json(i) for i in items], total

    rows, total = run_async(go)
    emit(rows, as_json=as_json, columns=["id", "created_at", "author", "tags", "workflow_key", "template_key", "text"],
         title=f"feedback of {tenant}", total=total, noun="items")
