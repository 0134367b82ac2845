"""Retention: leads that never became a deal are anonymised after the tenant's period, by the daily scheduled
run and by `crm privacy retention`; the policy is printed by `crm privacy policy`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from typer.testing import CliRunner

from rentguy_crm.automation.engine import schedules
from rentguy_crm.automation.engine.worker import load_plugins
from rentguy_crm.cli import app as cli
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.kit import clock
from rentguy_crm.privacy.jobs import retention_job
from rentguy_crm.privacy.retention import months_before
from tests.table_counts import row_counts

NOW = dt.datetime(2027, 3, 31, 12, 0, tzinfo=dt.UTC)
OLD = dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.UTC)  # more than 24 months before NOW
RECENT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


async def _world(factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    gone = await factory.contact(tenant, email="oud@example.nl", first_name="Olga", last_name="Oud",
                                 phone="+31611111111")
    old_lead = await factory.lead(tenant, gone, created_at=OLD, message="Bel Olga", city="Ede", guests=80)
    customer = await factory.contact(tenant, email="klant@example.nl")
    sold = await factory.lead(tenant, customer, created_at=OLD, message="Werd een deal")
    await factory.deal(tenant, customer, lead_id=sold.id)
    returning = await factory.contact(tenant, email="terug@example.nl", first_name="Ria")
    old_of_returning = await factory.lead(tenant, returning, created_at=OLD, message="Eerste vraag")
    await factory.lead(tenant, returning, created_at=RECENT, message="Tweede vraag")
    return tenant, gone, old_lead, sold, returning, old_of_returning


async def test_a_person_with_only_old_leads_without_a_deal_is_anonymised(db, factory) -> None:
    _tenant, gone, old_lead, sold, returning, old_of_returning = await _world(factory)
    async with db.session() as session:
        result = await retention_job(session, NOW)
    assert result == {"mrdj": {"people": 1, "leads": 2}}
    async with db.session() as session:
        contact = await session.get(Contact, gone.id)
        lead = await session.get(Lead, old_lead.id)
        kept = await session.get(Lead, sold.id)
        other = await session.get(Contact, returning.id)
        older = await session.get(Lead, old_of_returning.id)
    assert (contact.email, contact.phone, contact.first_name, contact.last_name) == (None, None, "", "")
    assert (lead.message, "anonymised" in lead.flags) == (None, True)
    assert (lead.event_type, lead.city, lead.guests) == ("bruiloft", "Ede", 80)  # statistics stay
    assert kept.message == "Werd een deal"  # became a deal: kept
    assert other.email == "terug@example.nl" and older.message is None  # still in touch: only the old lead


async def test_dry_run_counts_and_a_second_run_finds_nothing_new(db, factory) -> None:
    await _world(factory)
    load_plugins()
    clock.set_clock(lambda: NOW)
    before = await row_counts(db)
    dry = await asyncio.to_thread(CliRunner().invoke, cli, ["privacy", "retention", "--tenant", "mrdj",
                                                            "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["leads_anonymised"] == 2
    assert await row_counts(db) == before
    done = await asyncio.to_thread(CliRunner().invoke, cli, ["privacy", "retention", "--tenant", "mrdj", "--json"])
    again = await asyncio.to_thread(CliRunner().invoke, cli, ["privacy", "retention", "--tenant", "mrdj", "--json"])
    assert json.loads(done.output)["people_anonymised"] == 1
    assert json.loads(again.output)["leads_anonymised"] == 0


def test_the_retention_run_is_a_scheduled_job() -> None:
    load_plugins()
    job = schedules.jobs()["privacy.retention"]
    assert job.fn is retention_job
    assert job.latest_tick(dt.datetime(2027, 3, 31, 3, 25, tzinfo=dt.UTC)) == dt.datetime(
        2027, 3, 31, 3, 20, tzinfo=dt.UTC)


def test_months_are_calendar_months() -> None:
    assert months_before(NOW, 24) == dt.datetime(2025, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert months_before(dt.datetime(2027, 3, 31, tzinfo=dt.UTC), 1) == dt.datetime(2027, 2, 28, tzinfo=dt.UTC)


async def test_the_policy_is_printed(db, factory) -> None:
    await factory.tenant("mrdj", privacy={"retention_months": 18})
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["privacy", "policy", "--tenant", "mrdj", "--json"])
    assert result.exit_code == 0, result.output
    policy = json.loads(result.output)
    assert (policy["leads_without_deal_retention_months"], policy["payments_kept_years"]) == (18, 7)
    table = await asyncio.to_thread(CliRunner().invoke, cli, ["privacy", "policy", "--tenant", "mrdj"])
    assert "privacy policy of mrdj" in table.output
