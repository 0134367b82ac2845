"""A tenant-edited template cannot exhaust the server: huge ranges, nested loops, repeated strings, wide formats
and output past the cap are refused with a 422 naming the part when a draft is saved, previewed or published,
and fail the step at once (no retry) when only a run's data sets them off. The server answers afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.definitions import SendEmail, WorkflowDefinition
from rentguy_crm.crm.models import Activity
from rentguy_crm.integrations.base import PermanentDeliveryError
from tests.automation.engine.test_channel_steps import channels_doc, run_step, smtp, subject
from tests.automation_support import install_workflow, workflow_doc
from tests.templates_support import DeliveryFakes, run_worker, working_tenant

__all__ = ["smtp"]  # the SMTP fake fixture, shared with the channel step tests

BASE = "/api/v1/templates"
NESTED = "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}"
# What only a render can tell: the sizes come from the data or from loops that are each within bounds.
RENDER_TIME = [
    NESTED,
    "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    "{% set s = 'x' * 1000 %}{% for i in range(1000) %}{{ s ~ s }}{% endfor %}",
    "{% macro twice(n) %}{% if n > 0 %}{{ twice(n - 1) }}{{ twice(n - 1) }}{% endif %}{% endmacro %}{{ twice(40) }}",
    "{% set items = [1] %}{% for i in range(64) %}{% set _ = items.extend(items) %}{% endfor %}",
    "{% set n = 1000 %}{{ 'x' * (n * n) }}",
    "{% set n = 1000 %}{{ 'x'.ljust(n * n * 1000) }}",
    "{% set n = 10 %}{{ n ** (n ** 7) }}",
    "{{ ('x' * 1000).replace('', 'x' * 1000) }}",
    "{{ ('x' * 1000)|replace('', 'x' * 1000) }}",
    "{{ ('a\\n' * 50000)|indent('x' * 1000) }}",
    "{{ range(10)|slice(999999999)|list }}",
    "{{ ('x' * 100000).join(['a'] * 1000) }}",
]
# What a draft shows whatever its data: refused when it is saved.
SAVE_TIME = [
    "{% for x in range(999999999) %}x{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ '%999999999d' % 1 }}",
]


async def draft(client: Any, headers: dict[str, str], part: str, source: str, key: str = "zz") -> Any:
    body = {"key": key, "channel": "email", "language": "nl", "subject": "Welkom", "text_body": "x"}
    return await client.post(BASE, headers=headers, json={**body, part: source})


async def still_answers(client: Any, headers: dict[str, str]) -> None:
    listing = await client.get(BASE, headers=headers)
    assert listing.status_code == 200, listing.text


def assert_refused(response: Any, part: str) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == part
    assert "too much work" in error["message"]


@pytest.mark.parametrize("part", ["subject", "text_body", "html_body"])
async def test_the_reported_huge_range_is_refused_when_the_draft_is_saved(client, factory, part: str) -> None:
    ops = await factory.headers(await factory.tenant(), "operations")
    response = await draft(client, ops, part, "{% for x in range(999999999) %}x{% endfor %}")
    assert_refused(response, part)
    assert "range() of 999,999,999 numbers" in response.json()["errors"][0]["message"]
    await still_answers(client, ops)
    assert (await client.get(BASE, headers=ops)).json() == []


@pytest.mark.parametrize("source", SAVE_TIME)
async def test_constant_blowups_are_refused_when_the_draft_is_saved(client, factory, source: str) -> None:
    ops = await factory.headers(await factory.tenant(), "operations")
    assert_refused(await draft(client, ops, "text_body", source), "text_body")
    await still_answers(client, ops)


@pytest.mark.parametrize("source", RENDER_TIME)
async def test_unbounded_work_is_refused_by_preview_and_publish(client, factory, source: str) -> None:
    ops = await factory.headers(await factory.tenant(), "operations")
    created = await draft(client, ops, "html_body", source)
    assert created.status_code == 201, created.text
    version = created.json()["id"]
    assert_refused(await client.post(f"{BASE}/versions/{version}/preview", headers=ops, json={}), "html_body")
    assert_refused(await client.post(f"{BASE}/versions/{version}/publish", headers=ops), "html_body")
    await still_answers(client, ops)
    assert [t["live_version"] for t in (await client.get(BASE, headers=ops)).json()] == [None]


async def test_output_past_the_cap_is_refused_naming_the_subject(client, factory) -> None:
    ops = await factory.headers(await factory.tenant(), "operations")
    created = await draft(client, ops, "subject", "{% for i in range(1000) %}{{ 'x' * 99999 }}{% endfor %}")
    version = created.json()["id"]
    response = await client.post(f"{BASE}/versions/{version}/preview", headers=ops, json={})
    assert_refused(response, "subject")
    assert "longer than 1,000,000 characters" in response.json()["errors"][0]["message"]


async def test_ordinary_loops_and_formats_still_render(client, factory) -> None:
    ops = await factory.headers(await factory.tenant(), "operations")
    created = await draft(client, ops, "text_body",
                          "{% for i in range(3) %}{{ i }}{% endfor %} {{ '%05d'|format(42) }} {{ '{:>4}'.format(7) }} "
                          "{{ 250000 * 3 }} {{ 'ab' * 3 }}")
    response = await client.post(f"{BASE}/versions/{created.json()['id']}/preview", headers=ops, json={})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "012 00042    7 750000 ababab"


async def test_a_send_whose_data_sets_off_a_blowup_fails_permanently_and_sends_nothing(client, db, factory,
                                                                                        smtp) -> None:
    tenant = await factory.tenant("mrdj", channels=channels_doc(smtp.port))
    ops = await factory.headers(tenant, "operations")
    # Samples and placeholders never have this last name, so the version publishes; a real contact does.
    created = await client.post(BASE, headers=ops, json={
        "key": "lead-welcome", "channel": "email", "language": "nl", "subject": "Welkom",
        "text_body": f"Hoi{{% if contact.last_name == 'Groot' %}}{NESTED}{{% endif %}}",
        "variables": ["contact.last_name"]})
    published = await client.post(f"{BASE}/versions/{created.json()['id']}/publish", headers=ops)
    assert published.status_code == 200, published.text
    with pytest.raises(PermanentDeliveryError, match="too much work"):
        await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), subject(last_name="Groot"))
    assert smtp.messages == []


async def test_a_step_field_that_blows_up_fails_the_run_at_once(client, db, monkeypatch) -> None:
    async with DeliveryFakes() as fakes:
        tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
        await install_workflow(db, tenant, workflow_doc("lead_task", steps=[
            {"type": "create_task", "title": "Bel", "team": f"{{% if lead.city %}}{NESTED}{{% endif %}}"}]))
        response = await client.post("/api/v1/public/leads", json={
            "tenant": "mrdj", "first_name": "Anna", "email": "anna@example.nl", "event_type": "feest",
            "city": "Utrecht"})
        assert response.status_code == 201, response.text
        assert await run_worker(db) == ["failed"]
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
        assert (await session.scalars(select(Activity))).all() == []
    assert run.attempt == 1
    assert "create_task.team" in (run.last_error_message or "")
    assert "too much work" in (run.last_error_message or "")


def test_a_step_field_with_a_huge_range_is_refused_when_the_workflow_is_read() -> None:
    with pytest.raises(ValidationError, match=r"'title' is a template that asks too much work: .*range"):
        WorkflowDefinition.model_validate(workflow_doc(steps=[
            {"type": "create_task", "title": "{% for x in range(999999999) %}x{% endfor %}"}]))

