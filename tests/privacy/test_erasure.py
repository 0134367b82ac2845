"""Right to erasure: afterwards no table, no outbox file and no log line holds the person's e-mail, phone or
name; waiting runs are cancelled; payments stay without personal data; the audit log says who erased whom for
which request without the values; a later lead of the same person is a new lead."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.cli import app as cli
from rentguy_crm.config import Settings, get_settings
from rentguy_crm.crm.models import Contact
from rentguy_crm.model_registry import metadata
from rentguy_crm.observability.logging import configure_logging
from rentguy_crm.webhooks.mollie.models import Payment
from tests.privacy.scenario import EMAIL, FIRST, LAST, NEEDLES, outbox, person_through_the_front_door
from tests.table_counts import row_counts


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="DEBUG"), stream=stream)
    yield stream
    configure_logging(get_settings())


async def everything_stored(db) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(table, column, text) for every text and JSON value of every row of every table."""
    found = []
    async with db.session() as session:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        found.append((table.name, column.name, text))
    return found


def mentions(values: list[tuple[str, str, str]], needles: list[str]) -> list[tuple[str, str, str]]:
    lowered = [n.lower() for n in needles]
    return [(t, c, v[:120]) for t, c, v in values if any(n in v.lower() for n in lowered)]


def outbox_mentions(folder: Any, needles: list[str]) -> list[str]:
    hits = []
    for path in folder.parent.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace").lower()
            if any(n.lower() in text for n in needles):
                hits.append(path.name)
    return hits


async def test_after_erasure_nothing_anywhere_names_the_person(client, db, factory, log_stream) -> None:
    s = await person_through_the_front_door(client, db, factory)
    # The search finds the person before: the test would fail if erasure left anything.
    assert {t for t, _c, _v in mentions(await everything_stored(db), NEEDLES)} >= {
        "contacts", "leads", "deals", "activities", "template_deliveries", "payments",
        "audit_log"}
    assert outbox_mentions(outbox(s.tenant), NEEDLES)
    response = await client.post("/api/v1/privacy/erase", headers=s.headers,
                                 json={"email": EMAIL, "request": "AVG-2026-017"})
    assert response.status_code == 200, response.text
    assert response.json()["runs_cancelled"] == 1
    assert mentions(await everything_stored(db), NEEDLES) == []
    assert outbox_mentions(outbox(s.tenant), NEEDLES) == []
    log_text = log_stream.getvalue().lower()
    assert log_text, "the scenario logged something at DEBUG"
    assert [n for n in NEEDLES if n.lower() in log_text] == []


async def test_waiting_runs_are_cancelled_and_payments_kept_without_personal_data(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    await client.post("/api/v1/privacy/erase", headers=s.headers, json={"phone": "06 87651234", "request": "R-1"})
    async with db.session() as session:
        run = await session.get(AutomationRun, s.run_id)
        payment = await session.get(Payment, s.payment_id)
        assert await session.get(Contact, s.contact_id) is None
    assert (run.status, run.last_error_type, run.context) == ("cancelled", "erased", {})
    assert (run.workflow_key, run.lead_id) == ("lead_intake", None)
    assert (str(payment.amount), payment.currency, payment.status, payment.paid_at is not None) == (
        "500.00", "EUR", "paid", True)
    assert (payment.deal_id, payment.metadata_) == (None, {})


async def test_the_audit_log_keeps_who_and_which_request_never_the_values(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    await client.post("/api/v1/privacy/erase", headers=s.headers, json={"email": EMAIL, "request": "AVG-2026-018"})
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.erased"))
        merged = await session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.merged"))
    assert (entry.entity_type, entry.entity_id, entry.reason) == ("privacy_request", "AVG-2026-018", "AVG-2026-018")
    assert entry.actor.startswith("apikey:") and entry.after["counts"]["leads"] == 1
    assert merged.before == {"erased": True} and merged.reason == "same person"


async def test_a_later_lead_of_the_same_person_is_a_new_lead(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    await client.post("/api/v1/privacy/erase", headers=s.headers, json={"email": EMAIL, "request": "R-2"})
    again = await client.post("/api/v1/leads", headers={**s.headers, "Idempotency-Key": "form-123"}, json={
        "first_name": FIRST, "last_name": LAST, "email": EMAIL, "event_type": "feest"})
    assert again.status_code == 201, again.text
    body = again.json()
    # Not a replay of the erased submission (same Idempotency-Key) and not a duplicate of a known person.
    assert body["duplicate"] is False and body["status"] == "new"
    contact = (await client.get(f"/api/v1/crm/contacts/{body['contact_id']}", headers=s.headers)).json()
    assert contact["phone"] is None and contact["marketing_opt_in"] is False
    deals = (await client.get("/api/v1/crm/deals", headers=s.headers)).json()
    leads = (await client.get("/api/v1/crm/leads", headers=s.headers)).json()
    assert deals["total"] == 0 and [lead["event_type"] for lead in leads["items"]] == ["feest"]


async def test_dry_run_counts_and_changes_nothing_and_a_request_reference_is_required(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    before = await row_counts(db)
    dry = await client.post("/api/v1/privacy/erase", headers=s.headers,
                            json={"email": EMAIL, "request": "R-3", "dry_run": True})
    assert dry.status_code == 200
    assert dry.json()["counts"]["leads"] == 1 and dry.json()["counts"]["outbox_files"] == 1
    missing = await client.post("/api/v1/privacy/erase", headers=s.headers, json={"email": EMAIL})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "request"
    assert await row_counts(db) == before
    assert outbox_mentions(outbox(s.tenant), [EMAIL])


async def test_cli_erase_dry_run_then_erase(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    dry = await asyncio.to_thread(CliRunner().invoke, cli, [
        "privacy", "erase", "--tenant", "mrdj", "--contact-id", str(s.contact_id), "--request", "R-4", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would erase" in dry.output
    done = await asyncio.to_thread(CliRunner().invoke, cli, [
        "privacy", "erase", "--tenant", "mrdj", "--email", EMAIL, "--request", "R-4", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["counts"]["contacts"] == 1
    async with db.session() as session:
        assert await session.get(Contact, s.contact_id) is None
    bad = await asyncio.to_thread(CliRunner().invoke, cli, [
        "privacy", "erase", "--tenant", "mrdj", "--email", "not-an-address", "--request", "R-5"])
    assert bad.exit_code == 1 and "email" in bad.output and "Traceback" not in bad.output
