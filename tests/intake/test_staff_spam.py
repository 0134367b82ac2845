"""Staff judging a lead through the API: spam takes it out of the open work, not spam starts its automation once."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import service as workflows
from rentguy_crm.db import Database
from tests.intake.test_pipeline import PUBLIC, form

CRM = "/api/v1/crm"


async def _runs_of(db: Database, lead_id: int) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(select(AutomationRun.workflow_key).where(AutomationRun.lead_id == lead_id))
        return sorted(rows)


async def test_not_spam_starts_the_leads_automation_and_a_second_call_is_409(client: httpx.AsyncClient,
                                                                            db: Database, factory, mrdj) -> None:
    async with db.session() as session:
        await workflows.sync(session, "mrdj", actor="test")
    lead_id = (await client.post(PUBLIC, json=form(website="http://spam.example"))).json()["lead_id"]
    assert await _runs_of(db, lead_id) == []
    headers = await factory.headers(mrdj, "sales")
    answer = await client.post(f"{CRM}/leads/{lead_id}/not-spam", headers=headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["flags"]) == ("new", [])
    assert "lead_intake" in await _runs_of(db, lead_id)
    again = await client.post(f"{CRM}/leads/{lead_id}/not-spam", headers=headers)
    assert again.status_code == 409 and "not marked as spam" in again.json()["detail"]


async def test_a_real_lead_marked_spam_and_back_does_not_start_its_automation_again(
        client: httpx.AsyncClient, db: Database, factory, mrdj) -> None:
    """Its customer already had the welcome mail when the lead came in: "not spam" must not send it twice."""
    async with db.session() as session:
        await workflows.sync(session, "mrdj", actor="test")
    lead_id = (await client.post(PUBLIC, json=form())).json()["lead_id"]
    started = await _runs_of(db, lead_id)
    assert "lead_intake" in started
    headers = await factory.headers(mrdj, "sales")
    for _ in range(2):  # spam, not spam, and once more
        assert (await client.post(f"{CRM}/leads/{lead_id}/spam", headers=headers)).status_code == 200
        back = await client.post(f"{CRM}/leads/{lead_id}/not-spam", headers=headers)
        assert back.status_code == 200 and back.json()["status"] == "new"
    assert await _runs_of(db, lead_id) == started


async def test_spam_is_audited_and_a_second_call_changes_nothing(client: httpx.AsyncClient, db: Database, factory,
                                                                 mrdj) -> None:
    lead = await factory.lead(mrdj)
    headers = await factory.headers(mrdj, "sales")
    first = await client.post(f"{CRM}/leads/{lead.id}/spam", headers=headers)
    second = await client.post(f"{CRM}/leads/{lead.id}/spam", headers=headers)
    assert first.json()["status"] == second.json()["status"] == "spam"
    async with db.session() as session:
        audited = await session.scalar(select(func.count()).select_from(AuditEntry)
                                       .where(AuditEntry.action == "lead.marked_spam"))
    assert audited == 1


async def test_support_may_not_judge_leads(client: httpx.AsyncClient, factory, mrdj) -> None:
    lead = await factory.lead(mrdj)
    answer = await client.post(f"{CRM}/leads/{lead.id}/spam", headers=await factory.headers(mrdj, "support"))
    assert answer.status_code == 403 and "crm:write" in answer.json()["detail"]
