"""Control characters and line breaks in single-line fields are refused at every lead door (422 naming the
field, nothing stored); a stored value that still cannot go into a mail fails its run at once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event
from rentguy_crm.webhooks.typeform.service import signature
from tests.intake.test_pipeline import PUBLIC, count, form, only
from tests.webhooks.typeform.test_typeform_webhook import FIXTURES, RECORDED, URL

INJECTION = "Eve\r\nBcc: x@example.org"


async def assert_refused(db: Database, response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert "x@example.org" not in json.dumps(problem)  # the value is not echoed back
    for model in (Lead, Contact, Event, AutomationRun):
        assert await count(db, model) == 0


async def test_line_break_in_first_name_is_refused_naming_the_field(client: httpx.AsyncClient, db: Database,
                                                                    mrdj) -> None:
    response = await client.post(PUBLIC, json=form(first_name=INJECTION))
    await assert_refused(db, response, "first_name")
    message = response.json()["errors"][0]["message"]
    assert "control characters" in message and "(U+000D at position 3)" in message  # the character, not the value


@pytest.mark.parametrize(("field", "value"), [
    ("last_name", "de\nVries"), ("city", "Utrecht\rBcc: x"), ("venue", "Zaal\x1b[31m"),
    ("consent_text_version", "v1\nv2"), ("utm_source", "google\tads"), ("email", "anna@example.nl\r\nBcc: y"),
    ("phone", "06 1234\n5678"), ("first_name", "Eve\u2028Bcc"), ("first_name", "Eve\x85Bcc"),
    ("first_name", "Eve\x7f"), ("message", "hallo\x00"), ("message", "bel\x07 me"),
])
async def test_control_character_in_a_lead_field_is_refused(client: httpx.AsyncClient, db: Database, mrdj,
                                                            field: str, value: str) -> None:
    await assert_refused(db, await client.post(PUBLIC, json=form(**{field: value})), field)


async def test_message_keeps_line_breaks_and_tabs(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(message="Regel 1\r\nRegel 2\n\tmet tab\rRegel 3"))
    assert response.status_code == 201, response.text
    assert (await only(db, Lead)).message == "Regel 1\nRegel 2\n\tmet tab\nRegel 3"


@pytest.mark.parametrize(("field", "value"), [
    ("first_name", INJECTION), ("external_id", "site\n42"), ("utm_campaign", "x\r\ny"),
])
async def test_server_route_refuses_control_characters(client: httpx.AsyncClient, db: Database, factory, mrdj,
                                                       field: str, value: str) -> None:
    headers = await factory.headers(mrdj, "sales")
    body = form(tenant=None, external_id="site-1") | {field: value}
    await assert_refused(db, await client.post("/api/v1/leads", json=body, headers=headers), field)


async def test_typeform_answer_with_a_line_break_is_refused(client: httpx.AsyncClient, db: Database, mrdj,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_MRDJ_TYPEFORM_SECRET", RECORDED["secret"])
    payload: dict[str, Any] = json.loads((FIXTURES / "form_response.json").read_text())
    payload["form_response"]["answers"][0]["text"] = INJECTION
    body = json.dumps(payload).encode()
    response = await client.post(URL, content=body, headers={
        "Typeform-Signature": signature(RECORDED["secret"], body), "Content-Type": "application/json"})
    await assert_refused(db, response, "first_name")


async def test_stored_name_with_a_line_break_cannot_add_a_mail_header(db: Database, factory, smtp) -> None:
    """A value stored before the rule (or by a path that skipped it) neither adds a header nor loops until dead:
    the mail channel writes values into headers without line breaks (an address that cannot be written fails the
    step for good: tests/test_channel_escaping.py)."""
    from rentguy_crm.automation.engine.executor import RunExecutor
    from rentguy_crm.automation.runs.queue import QueueDatabase
    from rentguy_crm.integrations.registry import build_channels
    from tests.automation.engine.test_channel_steps import channels_doc, tenant_with_library
    from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc

    tenant = await tenant_with_library(db, factory, **channels_doc(smtp.port))
    contact = await factory.contact(tenant, first_name=INJECTION, email="eve@example.nl")
    lead = await factory.lead(tenant, contact)
    wf = await install_workflow(db, tenant, workflow_doc(steps=[
        {"type": "send_email", "template": "lead-welcome"}, {"type": "create_task", "title": "Bel de lead"}]))
    run = await queued_run(db, wf, lead_id=lead.id)
    qdb = QueueDatabase(db.url)
    clock = Clock(dt.datetime.now(dt.UTC))
    try:
        executor = RunExecutor(qdb, "worker-a", clock=clock, channels_factory=build_channels)
        assert await run_due(qdb, clock, executor=executor) == ["succeeded"]
    finally:
        await qdb.dispose()
    assert (await get_run(db, run.id)).attempt == 1
    [mail] = smtp.messages
    assert "Bcc" not in mail.keys() and mail.get_all("To") == ["eve@example.nl"]
    assert "Eve Bcc: x@example.org" in " ".join(mail["Subject"].split())  # the name, on the subject line


@pytest.fixture
def smtp() -> Any:
    from tests.vendor_fakes import SmtpFake

    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


@pytest.mark.parametrize("error", [ValueError("Header values may not contain linefeed or carriage return"),
                                   TypeError("can't compare offset-naive and offset-aware datetimes")])
async def test_a_step_failing_on_a_value_fails_the_run_at_once(db: Database, factory, monkeypatch,  # type: ignore[no-untyped-def]
                                                               error: Exception) -> None:
    from rentguy_crm.automation.engine import step_registry
    from rentguy_crm.automation.runs.queue import QueueDatabase
    from tests.automation_support import Clock, get_run, install_workflow, queued_run, run_due, workflow_doc

    async def failing(ctx: Any, step: Any) -> Any:
        raise error

    monkeypatch.setitem(step_registry._HANDLERS, "notify", failing)
    tenant = await factory.tenant()
    wf = await install_workflow(db, tenant, workflow_doc(steps=[{"type": "notify", "template": "record"}]))
    run = await queued_run(db, wf)
    qdb = QueueDatabase(db.url)
    try:
        assert await run_due(qdb, Clock(dt.datetime.now(dt.UTC))) == ["failed"]
    finally:
        await qdb.dispose()
    failed = await get_run(db, run.id)
    assert (failed.status, failed.attempt, failed.last_error_type) == ("failed", 1, type(error).__name__)
