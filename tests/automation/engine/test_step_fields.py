"""Every text field of every step type is a template rendered for the run's subject: a deal made through the CRM
API gets a run of a workflow whose steps use `{{ … }}` in each such field, and a worker writes what they say."""

from __future__ import annotations

import datetime as dt
import json
import typing
from typing import Any, get_args

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.definitions import Step, WorkflowDefinition
from rentguy_crm.crm.models import Activity, Deal, Lead
from tests.automation_support import Clock, install_workflow, workflow_doc
from tests.templates_support import DeliveryFakes, run_worker, working_tenant

STEP_TYPES = get_args(get_args(Step)[0])
# Fields that name things rather than say things: keys, switches, references, expressions and labels.
NOT_TEXT = {"type", "name", "template", "version", "channel", "record", "field", "secret", "marketing",
            "due_in", "duration", "until", "condition", "then", "otherwise"}


@pytest.fixture
async def fakes() -> Any:
    async with DeliveryFakes() as running:
        yield running


def test_every_text_field_of_every_step_type_is_a_template_field() -> None:
    for model in STEP_TYPES:
        text_fields = {name for name, info in model.model_fields.items()
                       if name not in NOT_TEXT and str in _types(info.annotation)}
        assert text_fields <= set(model.template_fields), (model.__name__, text_fields)
        assert set(model.template_fields) <= set(model.model_fields), model.__name__


def _types(annotation: Any) -> set[Any]:
    found: set[Any] = set()
    for arg in get_args(annotation) or (annotation,):
        found |= _types(arg) if get_args(arg) else {arg}
    return found | ({str} if annotation is Any or annotation is typing.Any else set())


def test_a_step_field_that_does_not_parse_is_refused_when_the_workflow_is_read() -> None:
    with pytest.raises(ValidationError, match="'team' is a template that does not parse"):
        WorkflowDefinition.model_validate(workflow_doc(steps=[
            {"type": "create_task", "title": "Bel", "team": "{{ lead.team "}]))


async def deal_run(client: Any, factory: Any, tenant: Any, workflow: str, **deal: Any) -> int:
    """A deal created through the CRM API and a run of `workflow` for it started through the automation API."""
    contact = await factory.contact(tenant, first_name="Anna", phone="+31612345678", email="anna@example.nl")
    lead = await factory.lead(tenant, contact, team="wedding_specialists", event_date=dt.date(2027, 6, 12),
                              city="Utrecht")
    headers = await factory.headers(tenant, "sales")
    created = await client.post("/api/v1/crm/deals", headers=headers, json={
        "lead_id": lead.id, "pipeline": "wedding", "title": 'Bruiloft "Anna" & Tom', "value": "1450.00",
        "owner": "sanne@mr-dj.nl", **deal})
    assert created.status_code == 201, created.text
    started = await client.post("/api/v1/automation/runs", json={"workflow": workflow, "deal_id": created.json()["id"]},
                                headers=await factory.headers(tenant, "operations"))
    assert started.status_code == 201, started.text
    return int(created.json()["id"])


async def test_every_step_type_renders_its_text_fields_for_the_deal(client, db, factory, fakes,
                                                                    monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await install_workflow(db, tenant, workflow_doc("booked_care", triggers=[{"event": "manual"}], steps=[
        {"type": "create_task", "title": "Bel {{ contact.first_name }} over {{ deal.title }}",
         "team": "{{ lead.team }}", "owner": "{{ deal.owner }}",
         "description": "Feest in {{ lead.city }} op {{ deal.event_date or lead.event_date }}"},
        {"type": "notify", "channel": "slack", "target": "#{{ lead.team }}", "template": "finance-notify"},
        {"type": "send_email", "to": "{{ deal.owner }}", "template": "invoice-reminder"},
        {"type": "send_whatsapp", "template": "proposal-reminder-whatsapp"},
        {"type": "update_record", "record": "deal", "field": "event_date", "value": "{{ lead.event_date }}"},
        {"type": "update_record", "record": "lead", "field": "message", "value": "Geboekt: {{ deal.title }}"},
        {"type": "http_webhook", "url": fakes.teams.url("/deals/{{ deal.id }}"),
         "body_template": '{"deal": {{ deal.id }}, "title": "{{ deal.title }}", "owner": "{{ deal.owner }}"}'},
        {"type": "stop", "reason": "klaar voor {{ contact.first_name }}"},
    ]))
    deal_id = await deal_run(client, factory, tenant, "booked_care")
    assert await run_worker(db) == ["succeeded"]

    async with db.session() as session:
        task = (await session.scalars(select(Activity))).one()
        deal = await session.get(Deal, deal_id)
        lead = (await session.scalars(select(Lead))).one()
        run = (await session.scalars(select(AutomationRun))).one()
    assert (task.title, task.team, task.owner) == ('Bel Anna over Bruiloft "Anna" & Tom', "wedding_specialists",
                                                   "sanne@mr-dj.nl")
    assert task.body == "Feest in Utrecht op 2027-06-12"
    assert fakes.slack.requests[0].json()["channel"] == "#wedding_specialists"
    [mail] = fakes.smtp.messages
    assert mail["To"] == "sanne@mr-dj.nl"
    whatsapp = fakes.whatsapp.requests[0].json()["template"]["components"][0]["parameters"]
    assert [p["text"] for p in whatsapp] == ["Anna", 'Bruiloft "Anna" & Tom']
    assert deal is not None and deal.event_date == dt.date(2027, 6, 12)
    assert lead.message == 'Geboekt: Bruiloft "Anna" & Tom'
    [hook] = fakes.teams.requests
    assert hook.path == f"/deals/{deal_id}"
    assert hook.json() == {"deal": deal_id, "title": 'Bruiloft "Anna" & Tom', "owner": "sanne@mr-dj.nl"}
    assert run.step_log[-1]["output"] == {"reason": "klaar voor Anna"}


async def test_lead_intake_gives_the_sales_task_the_leads_team(client, db, fakes, monkeypatch) -> None:
    await working_tenant(db, fakes.channels(monkeypatch.setenv))
    response = await client.post("/api/v1/public/leads", json={
        "tenant": "mrdj", "first_name": "Anna", "email": "anna@example.nl", "event_type": "bedrijfsfeest"})
    assert response.status_code == 201
    assert await run_worker(db) == ["succeeded"]
    async with db.session() as session:
        [task] = (await session.scalars(select(Activity))).all()
    assert (task.team, task.owner) == ("corporate", None)


async def test_proposal_followup_gives_the_call_task_the_deals_owner(client, db, factory, fakes,
                                                                     monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv))
    await deal_run(client, factory, tenant, "proposal_followup")
    now = dt.datetime.now(dt.UTC)
    assert await run_worker(db, Clock(now + dt.timedelta(minutes=1))) == ["waiting"]
    assert await run_worker(db, Clock(now + dt.timedelta(days=2, hours=1))) == ["succeeded"]
    async with db.session() as session:
        [task] = (await session.scalars(select(Activity))).all()
    assert (task.title, task.owner, task.team) == ("Bel over de offerte", "sanne@mr-dj.nl", "wedding_specialists")


async def test_a_field_that_renders_empty_falls_back_like_an_absent_one(client, db, factory, fakes,
                                                                       monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await install_workflow(db, tenant, workflow_doc("booked_task", triggers=[{"event": "manual"}], steps=[
        {"type": "create_task", "title": "Bel over de offerte", "owner": "{{ deal.owner }}"}]))
    await deal_run(client, factory, tenant, "booked_task", owner=None)
    assert await run_worker(db) == ["succeeded"]
    async with db.session() as session:
        task = (await session.scalars(select(Activity))).one()
    assert (task.owner, task.team) == (None, "wedding_specialists")


async def test_a_field_naming_a_value_the_run_does_not_have_fails_the_run_at_once(client, db, factory, fakes,
                                                                                 monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await install_workflow(db, tenant, workflow_doc("lead_task", steps=[
        {"type": "create_task", "title": "Bel", "owner": "{{ deal.owner }}"}]))
    response = await client.post("/api/v1/public/leads", json={
        "tenant": "mrdj", "first_name": "Anna", "email": "anna@example.nl", "event_type": "feest"})
    assert response.status_code == 201
    assert await run_worker(db) == ["failed"]
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
    assert run.attempt == 1 and "create_task.owner" in (run.last_error_message or "")


def test_validate_refuses_a_step_field_that_fails_with_the_real_types(tmp_path) -> None:
    from typer.testing import CliRunner

    from rentguy_crm.cli import app as cli

    path = tmp_path / "call_back.yaml"
    path.write_text("key: call_back\nname: Call back\ntriggers:\n  - event: lead.created\nsteps:\n"
                    "  - type: create_task\n    title: \"Bel over {{ lead.event_date[:4] }}\"\n"
                    "  - type: create_task\n    title: \"Bel\"\n    owner: \"{{ steps.lookup.owner }}\"\n")
    result = CliRunner().invoke(cli, ["workflows", "validate", str(path), "--json"])
    assert result.exit_code == 1
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["line"] == 7 and problem["message"].startswith("steps[0].title: ")
    assert "datetime.date" in problem["message"] and problem["message"].endswith("with sample data")
