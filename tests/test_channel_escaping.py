"""A customer's name is text on every channel: escaped for Slack's mrkdwn and Teams' markdown, flattened for
WhatsApp parameters and mail headers, autoescaped in HTML mail, as typed in plain-text mail and JSON-safe in
webhook bodies. Driven from the public form (or the CRM API) through a worker into the vendor fakes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rentguy_crm.automation.engine.step_registry import StepContext, handler_for
from rentguy_crm.automation.workflows.definitions import SendEmail, SendWhatsapp
from rentguy_crm.integrations.base import PermanentDeliveryError
from rentguy_crm.integrations.registry import build_channels
from tests.automation_support import install_workflow, workflow_doc
from tests.templates_support import DeliveryFakes, run_worker, text_part, working_tenant

PUBLIC = "/api/v1/public/leads"
MENTION, FAKE_LINK = "<!channel>", "<https://evil.example|Offerte>"


@pytest.fixture
async def fakes() -> Any:
    async with DeliveryFakes() as running:
        yield running


async def post_lead(client: Any, **values: Any) -> int:
    body = {"tenant": "mrdj", "first_name": MENTION, "last_name": FAKE_LINK, "email": "eve@example.org",
            "event_type": "verjaardag", **values}
    response = await client.post(PUBLIC, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["lead_id"])


async def test_slack_gets_names_escaped_so_they_cannot_mention_or_link(client, db, fakes, monkeypatch) -> None:
    await working_tenant(db, fakes.channels(monkeypatch.setenv))
    await post_lead(client)
    assert await run_worker(db) == ["succeeded"]
    [notice] = [r.json()["text"] for r in fakes.slack.requests]
    assert "&lt;!channel&gt; &lt;https://evil.example|Offerte&gt;" in notice
    assert "<!channel>" not in notice and "<https://" not in notice
    assert notice.startswith(":tada: Nieuwe lead #")  # the template's own markup is left as written


async def test_teams_gets_names_escaped_for_its_markdown(client, db, fakes, monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await install_workflow(db, tenant, workflow_doc("teams_notice", steps=[
        {"type": "notify", "channel": "teams", "template": "lead-new-slack"}]))
    await post_lead(client, first_name="[Offerte](https://evil.example)", last_name="*Jansen*")
    assert await run_worker(db) == ["succeeded"]
    [card] = [r.json()["attachments"][0]["content"]["body"][0]["text"] for r in fakes.teams.requests]
    assert r"\[Offerte\]\(https://evil.example\) \*Jansen\*" in card
    assert "[Offerte](" not in card


async def test_html_mail_escapes_names_and_plain_text_keeps_them(client, db, fakes, monkeypatch) -> None:
    await working_tenant(db, fakes.channels(monkeypatch.setenv))
    await post_lead(client, first_name="<b>Eve</b>", last_name="Jansen")
    assert await run_worker(db) == ["succeeded"]
    [mail] = fakes.smtp.messages
    assert "&lt;b&gt;Eve&lt;/b&gt;" in text_part(mail, "html") and "<b>Eve</b>" not in text_part(mail, "html")
    assert text_part(mail).startswith("Hoi <b>Eve</b>,")
    assert mail["Subject"] == "Bedankt voor je aanvraag, <b>Eve</b>!"


async def run_step(db, tenant, step: Any, variables: dict[str, Any]) -> Any:  # type: ignore[no-untyped-def]
    handler = handler_for(step.type)
    assert handler is not None
    async with db.session() as session:
        ctx = StepContext(session=session, tenant=tenant, run_id=9, step_number=0, idempotency_key="run:9:step:0",
                          variables=variables, channels=await build_channels(tenant), now=dt.datetime.now(dt.UTC))
        return await handler(ctx, step)


def subject_of(first_name: str) -> dict[str, Any]:
    return {"contact": {"id": 5, "first_name": first_name, "last_name": "de Vries", "email": "eve@example.org",
                        "phone": "+31612345678", "marketing_opt_in": False},
            "lead": {"id": 12, "event_type": "verjaardag", "event_date": None},
            "deal": {"id": 3, "title": "Feest\nvan  Eve\t\t      en Tom"}}


# Records written before the doors refused control characters still hold them; no header may carry them.
async def test_mail_headers_never_carry_line_breaks_from_a_value(db, fakes, monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"),
                   subject_of("Eve\r\nBcc: x@example.org"))
    [mail] = fakes.smtp.messages
    assert mail["Subject"] == "Bedankt voor je aanvraag, Eve Bcc: x@example.org!"
    assert mail["Bcc"] is None and list(fakes.smtp.deliveries.values()) == [1]


async def test_a_recipient_address_with_a_line_break_fails_the_step_for_good(db, fakes, monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    variables = subject_of("Eve")
    variables["contact"]["email"] = "eve@example.org\r\nBcc: x@example.org"
    with pytest.raises(PermanentDeliveryError, match="control characters"):
        await run_step(db, tenant, SendEmail(type="send_email", template="lead-welcome"), variables)
    assert fakes.smtp.messages == []


async def test_whatsapp_parameters_have_no_line_breaks_tabs_or_long_runs_of_spaces(db, fakes, monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await run_step(db, tenant, SendWhatsapp(type="send_whatsapp", template="proposal-reminder-whatsapp"),
                   subject_of("<!channel>"))
    [request] = fakes.whatsapp.requests
    parameters = [p["text"] for p in request.json()["template"]["components"][0]["parameters"]]
    assert parameters == ["<!channel>", "Feest van  Eve    en Tom"]


async def test_webhook_body_values_stay_inside_their_json_strings(client, db, fakes, monkeypatch) -> None:
    tenant = await working_tenant(db, fakes.channels(monkeypatch.setenv), with_workflows=False)
    await install_workflow(db, tenant, workflow_doc("crm_export", steps=[
        {"type": "http_webhook", "url": fakes.slack.url("/export/{{ lead.id }}"),
         "body_template": '{"name": "{{ contact.first_name }} {{ contact.last_name }}", "lead": {{ lead.id }}}'}]))
    lead_id = await post_lead(client, first_name='Eve", "admin": true, "x": "', last_name="\\o/")
    assert await run_worker(db) == ["succeeded"]
    [request] = fakes.slack.requests
    assert request.json() == {"name": 'Eve", "admin": true, "x": " \\o/', "lead": lead_id}
    assert request.path == f"/export/{lead_id}"


def test_the_watchdogs_ops_message_writes_the_tenant_name_as_slack_text() -> None:
    from rentguy_crm.observability.models import WatchdogAlert
    from rentguy_crm.observability.watchdog import message
    from rentguy_crm.tenants.models import Tenant

    alert = WatchdogAlert(workflow_key="lead_intake", failure_rate=0.05, finished_runs=40, failed_runs=2)
    text = message(Tenant(slug="jansen", name="Jansen & Zn <!here>"), alert, "firing")
    assert "of Jansen &amp; Zn &lt;!here&gt;:" in text and "<!here>" not in text
