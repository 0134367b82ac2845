"""Making, archiving and mailing a report: charts drawn once and reused, HTML mail with the charts inline and the
PDF attached through the tenant's mailer (a real SMTP server on 127.0.0.1), and a clear message, not a crash,
when WeasyPrint cannot be loaded."""

from __future__ import annotations

import base64
import datetime as dt
import sys
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.integrations.smtp.mailer import SmtpMailer
from rentguy_crm.reporting import periods, service
from rentguy_crm.reporting.models import Report
from rentguy_crm.tenants.sections.channels import EmailChannel
from tests.reporting.support import seed_weeks
from tests.vendor_fakes import SmtpFake

NOW = dt.datetime(2025, 3, 17, 7, 30, tzinfo=dt.UTC)
RECIPIENTS = {"recipients": [{"name": "Bart", "email": "bart@mr-dj.nl"},
                             {"name": "Operations", "email": "operations@mr-dj.nl"}]}


@pytest.fixture
def smtp() -> Any:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(EmailChannel(provider="smtp", host="127.0.0.1", port=port, security="none",
                                   from_address="Mr. DJ <info@mr-dj.nl>", timeout_seconds=60))


@pytest.fixture
async def mrdj(db, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj", reports=RECIPIENTS)
    other = await factory.tenant("other")
    await seed_weeks(db, tenant, other)
    return tenant


async def generate(db, tenant, label: str = "2025-W11") -> Report:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await service.generate(session, tenant, "automation_sla", periods.week(label), actor="test", now=NOW)


def text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


def parts(message: Message) -> dict[str, list[Message]]:
    found: dict[str, list[Message]] = {}
    for part in message.walk():
        found.setdefault(part.get_content_type(), []).append(part)
    return found


async def test_a_report_is_archived_with_figures_charts_html_and_a_pdf(db, mrdj) -> None:
    report = await generate(db, mrdj)
    assert report.period == "2025-W11" and report.kind == "automation_sla"
    assert set(report.charts) == {"sla", "outcomes"}
    png = base64.b64decode(report.charts["sla"])
    assert png.startswith(b"\x89PNG")
    # The archived HTML is self-contained: the same chart bytes as data: URIs.
    assert report.charts["sla"] in report.html
    assert report.pdf is not None and report.pdf.startswith(b"%PDF") and report.pdf_error is None


async def test_generating_a_period_again_replaces_it_and_is_audited(db, mrdj) -> None:
    first = await generate(db, mrdj)
    second = await generate(db, mrdj)
    assert first.id == second.id
    async with db.session() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "report")
                                         .order_by(AuditEntry.id))).all()
        assert (await session.scalar(select(Report.id).where(Report.tenant_id == mrdj.id).limit(2))) == first.id
    assert actions == ["report.generated", "report.regenerated"]


async def test_the_current_week_is_refused(db, mrdj) -> None:
    async with db.session() as session:
        with pytest.raises(periods.PeriodError, match="not over yet"):
            await service.generate(session, mrdj, "automation_sla", periods.week("2025-W12"), actor="test", now=NOW)


async def test_the_mail_shows_the_charts_inline_and_attaches_the_pdf(db, mrdj, smtp: SmtpFake) -> None:
    report = await generate(db, mrdj)
    async with db.session() as session:
        stored = await session.get(Report, report.id)
        sent = await service.send(session, mrdj, stored, mailer(smtp.port), actor="test", now=NOW)
    assert sent == ["bart@mr-dj.nl", "operations@mr-dj.nl"]
    assert sorted(m["To"] for m in smtp.messages) == ["Bart <bart@mr-dj.nl>", "Operations <operations@mr-dj.nl>"]
    message = smtp.messages[0]
    assert message["Subject"] == "Automation SLA mrdj 2025-W11"
    found = parts(message)
    html = text_of(found["text/html"][0])
    images = found["image/png"]
    assert {img["Content-ID"] for img in images} == {f"<sla.{report.id}@report>", f"<outcomes.{report.id}@report>"}
    assert f'src="cid:sla.{report.id}@report"' in html and "data:image/png" not in html
    # The inline image is the very chart that was archived: drawn once.
    sla = next(img for img in images if img["Content-ID"] == f"<sla.{report.id}@report>")
    assert sla.get_payload(decode=True) == base64.b64decode(report.charts["sla"])
    [pdf] = found["application/pdf"]
    assert pdf.get_filename() == "mrdj-automation-sla-2025-W11.pdf"
    assert pdf.get_payload(decode=True) == report.pdf
    assert "lead_intake" in text_of(found["text/plain"][0])


async def test_sending_records_when_and_to_how_many_without_naming_them_in_the_audit(db, mrdj, smtp) -> None:
    report = await generate(db, mrdj)
    async with db.session() as session:
        stored = await session.get(Report, report.id)
        await service.send(session, mrdj, stored, mailer(smtp.port), actor="test", now=NOW)
    async with db.session() as session:
        stored = await session.get(Report, report.id)
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "report.sent"))
    assert stored.sent_at == NOW and stored.sent_to == ["bart@mr-dj.nl", "operations@mr-dj.nl"]
    assert entry.after == {"sent_at": NOW.isoformat(), "recipients": 2}


async def test_without_recipients_sending_is_refused_with_the_reason(db, factory, smtp) -> None:
    tenant = await factory.tenant("quiet", reports={"recipients": []})
    async with db.session() as session:
        report = await service.generate(session, tenant, "automation_sla", periods.week("2025-W11"), actor="t",
                                        now=NOW)
        with pytest.raises(Exception, match="no report recipients"):
            await service.send(session, tenant, report, mailer(smtp.port), actor="t", now=NOW)
    assert smtp.messages == []


async def test_without_weasyprint_the_report_is_archived_and_mailed_without_a_pdf(db, mrdj, smtp,
                                                                                  monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as when its libraries are missing
    report = await generate(db, mrdj)
    assert report.pdf is None
    assert "WeasyPrint cannot be loaded" in report.pdf_error and "libpango-1.0-0" in report.pdf_error
    async with db.session() as session:
        stored = await session.get(Report, report.id)
        await service.send(session, mrdj, stored, mailer(smtp.port), actor="test", now=NOW)
    found = parts(smtp.messages[0])
    assert "application/pdf" not in found
    assert "libpango-1.0-0" in text_of(found["text/plain"][0])
