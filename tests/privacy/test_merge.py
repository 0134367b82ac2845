"""Merging two contacts: every kind of linked row moves, fields are chosen side by side, the merged-away id
answers 404 and resolves to the kept one, waiting runs continue for the kept contact, and it is audited."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.cli import app as cli
from rentguy_crm.crm.models import Activity, Contact, Deal, Lead, MarketingOptOut
from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.privacy.merge import resolve_contact_id
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.tenants.scope import TenantScope
from rentguy_crm.webhooks.mollie.models import Payment
from tests.privacy.support import person_with_everything
from tests.table_counts import row_counts

CRM = "/api/v1/crm"


async def _pair(db, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    keep = await factory.contact(tenant, email="anna@example.nl", first_name="Anna", last_name="de Vries",
                                 phone=None, company="Oud BV")
    other = await person_with_everything(db, factory, tenant, email="anna.werk@example.nl", first_name="Anna",
                                         last_name="Jansen", phone="+31612345678")
    return tenant, keep, other


async def test_merge_moves_every_kind_of_linked_row(client, db, factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    response = await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                                 json={"other_id": other.contact, "reason": "same person, work address"})
    assert response.status_code == 200, response.text
    assert response.json()["moves"] == {"activities.contact_id": 1, "contact_redirects.kept_id": 1,
                                        "deals.contact_id": 1, "leads.contact_id": 1,
                                        "marketing_optouts.contact_id": 1,
                                        "support_tickets.requester_contact_id": 1}
    async with db.session() as session:
        for model, ids in ((Lead, other.leads), (Deal, other.deals)):
            rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()
            assert {r.contact_id for r in rows} == {keep.id}
        activities = (await session.scalars(select(Activity).where(Activity.id.in_(other.activities)))).all()
        assert len(activities) == 3  # notes on the lead and deal follow them; the contact's note moved
        assert [a.contact_id for a in activities if a.contact_id is not None] == [keep.id]
        payments = (await session.scalars(select(Payment).where(Payment.id.in_(other.payments)))).all()
        assert [p.deal_id for p in payments] == other.deals  # follows the deal, which moved
        optout = await session.scalar(select(MarketingOptOut.contact_id).where(MarketingOptOut.id == other.optouts[0]))
        assert optout == keep.id
        redirects = dict((await session.execute(select(ContactRedirect.merged_id, ContactRedirect.kept_id))).all())
        assert redirects == {10_000 + other.contact: keep.id, other.contact: keep.id}
        assert await session.scalar(select(func.count()).select_from(Contact)
                                    .where(Contact.id == other.contact)) == 0


async def test_conflicting_fields_are_chosen_and_missing_ones_filled(client, db, factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    preview = (await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers, json={
        "other_id": other.contact, "reason": "dup", "dry_run": True, "prefer": {"last_name": "other"}})).json()
    fields = {f["field"]: f for f in preview["fields"]}
    assert fields["email"] == {"field": "email", "keep": "anna@example.nl", "other": "anna.werk@example.nl",
                               "chosen": "keep", "conflict": True}
    assert fields["last_name"]["chosen"] == "other" and fields["last_name"]["conflict"]
    assert fields["phone"] == {"field": "phone", "keep": None, "other": "+31612345678", "chosen": "other",
                               "conflict": False}
    response = await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers, json={
        "other_id": other.contact, "reason": "dup", "prefer": {"last_name": "other", "email": "other"}})
    kept = (await client.get(f"{CRM}/contacts/{keep.id}", headers=headers)).json()
    assert response.status_code == 200
    assert (kept["email"], kept["last_name"], kept["phone"], kept["company"]) == (
        "anna.werk@example.nl", "Jansen", "+31612345678", "Oud BV")


async def test_dry_run_says_exactly_what_would_move_and_changes_nothing(client, db, factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    before = await row_counts(db)
    dry = (await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                             json={"other_id": other.contact, "reason": "dup", "dry_run": True})).json()
    assert await row_counts(db) == before
    assert dry["follows"] == {"crm_automation_runs": 1, "payments": 1}
    real = (await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                              json={"other_id": other.contact, "reason": "dup"})).json()
    assert real["moves"] == dry["moves"] and real["fields"] == dry["fields"]


async def test_the_merged_away_contact_is_404_and_resolves_to_the_kept_one_in_the_audit_log(client, db,
                                                                                            factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                      json={"other_id": other.contact, "reason": "same person"})
    assert (await client.get(f"{CRM}/contacts/{other.contact}", headers=headers)).status_code == 404
    page = (await client.get("/api/v1/audit", headers=headers,
                             params={"entity_type": "contact", "entity_id": str(other.contact)})).json()
    merged_away = next(e for e in page["items"] if e["action"] == "contact.merged_away")
    assert merged_away["after"] == {"merged_into": keep.id} and merged_away["reason"] == "same person"
    assert merged_away["actor"].startswith("apikey:")
    async with db.session() as session:
        assert await resolve_contact_id(session, TenantScope(tenant.id), other.contact) == keep.id
        assert await resolve_contact_id(session, TenantScope(tenant.id), 10_000 + other.contact) == keep.id
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.merged"))
    assert entry.before["merged"]["email"] == "anna.werk@example.nl"
    assert entry.after["kept"]["email"] == "anna@example.nl" and entry.reason == "same person"


async def test_a_waiting_run_of_the_merged_away_contact_continues_for_the_kept_one(client, db, factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                      json={"other_id": other.contact, "reason": "dup"})
    async with db.session() as session:
        run = await session.get(AutomationRun, other.runs[0])
        assert run.status == "waiting"
        assert run.context == {"contact": {"id": keep.id, "email": "anna.werk@example.nl"}, "contact_id": keep.id}
        variables = await subject_variables(session, tenant, lead_id=run.lead_id, deal_id=run.deal_id)
    assert variables["contact"]["id"] == keep.id


async def test_a_merge_needs_a_reason_and_two_different_contacts(client, db, factory) -> None:
    tenant, keep, other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    before = await row_counts(db)
    for body, field in (({"other_id": other.contact}, "reason"), ({"other_id": keep.id, "reason": "dup"}, "other"),
                        ({"other_id": other.contact, "reason": "dup", "prefer": {"shoe_size": "keep"}}, "prefer")):
        response = await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text
    assert (await client.post(f"{CRM}/contacts/{keep.id}/merge", headers=headers,
                              json={"other_id": 999999, "reason": "dup"})).status_code == 404
    assert await row_counts(db) == before


async def test_operations_must_give_a_reason_when_correcting_a_contact(client, db, factory) -> None:
    tenant, keep, _other = await _pair(db, factory)
    headers = await factory.headers(tenant, "operations")
    refused = await client.patch(f"{CRM}/contacts/{keep.id}", headers=headers, json={"last_name": "Visser"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "reason"
    done = await client.patch(f"{CRM}/contacts/{keep.id}", headers=headers,
                              json={"last_name": "Visser", "reason": "getrouwd, naam gewijzigd"})
    assert done.status_code == 200
    entry = (await client.get("/api/v1/audit", headers=headers, params={"action": "contact.updated"})).json()
    [item] = entry["items"]
    assert item["reason"] == "getrouwd, naam gewijzigd"
    assert (item["before"]["last_name"], item["after"]["last_name"]) == ("de Vries", "Visser")


async def test_cli_merge_dry_run_prints_the_moves_and_the_fields(db, factory) -> None:
    _tenant, keep, other = await _pair(db, factory)
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "contacts", "merge", "--tenant", "mrdj", str(keep.id), str(other.contact), "--dry-run", "--reason", "dup",
        "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["dry_run"] and plan["moves"]["leads.contact_id"] == 1
    done = await asyncio.to_thread(CliRunner().invoke, cli, [
        "contacts", "merge", "--tenant", "mrdj", str(keep.id), str(other.contact), "--reason", "dup",
        "--prefer", "email=other"])
    assert done.exit_code == 0, done.output
    assert f"merged {other.contact} into {keep.id}" in done.output
    async with db.session() as session:
        assert (await session.get(Contact, keep.id)).email == "anna.werk@example.nl"


async def test_cli_merge_without_reason_or_with_a_bad_prefer_is_a_clear_error(db, factory) -> None:
    _tenant, keep, other = await _pair(db, factory)
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "contacts", "merge", "--tenant", "mrdj", str(keep.id), str(other.contact), "--reason", "dup",
        "--prefer", "email"])
    assert result.exit_code == 1 and "field=keep" in result.output and "Traceback" not in result.output
