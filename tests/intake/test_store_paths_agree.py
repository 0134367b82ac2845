"""Storing a new lead exists twice: one statement on Postgres (contact, lead, `lead.created` and its runs in
one round trip) and step by step through the ORM (SQLite, a known contact, or trigger conditions that read the
stored lead). For the same submission both must write the same rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, inspect, select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event
from rentguy_crm.intake import run_plan
from rentguy_crm.kit import clock
from tests.automation_support import install_workflow, workflow_doc

SERVER = "/api/v1/leads"
SUBMISSION = {"first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl", "phone": "06 12345678",
              "event_type": "bruiloft", "event_date": "2027-06-12", "guests": 120, "city": "Utrecht",
              "budget": "2500.00", "message": "Graag een DJ.", "marketing_opt_in": True,
              "utm_source": "google"}
MODELS = (Contact, Lead, Event, AutomationRun)


def _comparable(row: Any, ids: dict[str, str]) -> dict[str, Any]:
    """Every column but ids and timestamps; ids inside text (a run's dedupe key) are named, not numbered, and
    ids inside JSON (an event's payload) are left out."""
    values: dict[str, Any] = {}
    for attr in inspect(row).mapper.column_attrs:
        value = getattr(row, attr.key)
        if attr.key == "id" or attr.key.endswith("_id") or isinstance(value, dt.datetime):
            continue
        if isinstance(value, str):
            for number, name in ids.items():
                value = value.replace(number, name)
        if isinstance(value, dict):  # an event's payload names the lead and contact by id
            value = {k: v for k, v in value.items() if not k.endswith("_id")}
        values[attr.key] = value
    return values


async def _stored(db: Database) -> dict[str, list[dict[str, Any]]]:
    async with db.session() as session:
        lead = (await session.scalars(select(Lead))).one()
        ids = {f":{lead.id}": ":<lead>", f"lead:{lead.id}": "lead:<lead>"}
        return {model.__name__: [_comparable(row, ids) for row in (await session.scalars(select(model))).all()]
                for model in MODELS}


async def _forget(db: Database) -> None:
    async with db.session() as session:
        for model in reversed(MODELS):
            await session.execute(delete(model))


async def test_one_statement_and_orm_paths_store_identical_rows(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monkeypatch: pytest.MonkeyPatch) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the one-statement store is Postgres only; SQLite has the ORM path alone")
    clock.set_clock(clock.ManualClock(dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC)))
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    headers = await factory.headers(mrdj, "sales")

    response = await client.post(SERVER, json=SUBMISSION, headers=headers)
    assert response.status_code == 201 and response.json()["automation_triggered"] is True
    one_statement = await _stored(db)
    await _forget(db)

    async def step_by_step(*_args: Any, **_kwargs: Any) -> None:
        return None  # what a trigger condition that reads the stored lead answers: store through the ORM

    monkeypatch.setattr(run_plan, "plan_for_new_lead", step_by_step)
    response = await client.post(SERVER, json=SUBMISSION, headers=headers)
    assert response.status_code == 201 and response.json()["automation_triggered"] is True
    orm = await _stored(db)

    assert [len(one_statement[m.__name__]) for m in MODELS] == [1, 1, 1, 1]
    assert orm == one_statement
