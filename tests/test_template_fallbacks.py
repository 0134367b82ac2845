"""Values a real record may leave empty: the base templates greet and name with a fallback in both languages,
and saving or publishing a template names every such value it prints without one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.templates import service
from rentguy_crm.templates.library import load_library
from rentguy_crm.templates.lint import lint
from rentguy_crm.templates.rendering import render
from rentguy_crm.templates.samples import may_be_empty, sample_records
from rentguy_crm.tenants.models import Tenant
from tests.templates_support import DeliveryFakes, run_worker, text_part, working_tenant

BASE = "/api/v1/templates"
# What an empty value leaves behind in a sentence: "aanvraag, !", "Hoi ,", "team )", "( )", "EUR ." ...
DANGLING = re.compile(r"(\w ,|, !|,\s*[!.)]|\(\s*\)|\s[,.!)](?!\w)|\b(None|Hoi|Hi)\s*,|EUR\s*[.(]|team\s*\))")


@pytest.fixture
async def fakes() -> Any:
    async with DeliveryFakes() as running:
        yield running


async def test_a_lead_with_only_a_last_name_is_greeted_without_a_gap(client, db, fakes, monkeypatch) -> None:
    await working_tenant(db, fakes.channels(monkeypatch.setenv))
    response = await client.post("/api/v1/public/leads", json={
        "tenant": "mrdj", "last_name": "Jansen", "email": "jansen@example.nl", "event_type": "verjaardag"})
    assert response.status_code == 201, response.text
    assert await run_worker(db) == ["succeeded"]
    [mail] = fakes.smtp.messages
    assert mail["Subject"] == "Bedankt voor je aanvraag!"
    assert text_part(mail).splitlines()[0] == "Hallo,"
    assert ">Bedankt voor je aanvraag!</h1>" in text_part(mail, "html")
    [notice] = [r.json()["text"] for r in fakes.slack.requests]
    assert f"#{response.json()['lead_id']}: Jansen, verjaardag" in notice


def _tenant(website: str | None = None) -> Tenant:
    branding = {"primary_color": "#1A1A2E", "logo_url": "https://mr-dj.nl/logo.svg"}
    if website:
        branding["website"] = website
    return Tenant(id=1, slug="mrdj", name="Mr. DJ", locale="nl", timezone="Europe/Amsterdam",
                  config={"branding": branding})


@pytest.mark.parametrize("entry", load_library(), ids=lambda e: f"{e.origin}-{e.language}")
def test_every_base_template_reads_well_with_every_optional_value_empty(entry: Any) -> None:
    variables = sample_records(empty=True)
    message = render(entry.content, service.build_context(_tenant(), variables),
                     chat=service.chat_markup(entry.channel))
    for text in (message.subject or "", message.text, *message.whatsapp_parameters):
        assert not DANGLING.search(text), text
    assert "style=\"color: \"" not in (message.html or "")
    assert all(p.strip() for p in message.whatsapp_parameters)


@pytest.mark.parametrize("entry", load_library(), ids=lambda e: f"{e.origin}-{e.language}")
def test_every_base_template_passes_the_empty_value_lint(entry: Any) -> None:
    assert lint(entry.content, may_be_empty()) == []


def test_both_languages_fall_back_in_their_own_words() -> None:
    welcome = {e.language: e for e in load_library() if e.key == "lead-welcome"}
    context = service.build_context(_tenant(), sample_records(empty=True))
    assert render(welcome["nl"].content, context).text.startswith("Hallo,\n")
    assert render(welcome["en"].content, context).text.startswith("Hello,\n")
    assert render(welcome["en"].content, context).subject == "Thank you for your enquiry!"


DRAFT = {"key": "lead-welcome", "channel": "email", "language": "nl", "subject": "Welkom",
         "variables": ["contact.first_name", "lead.city"]}


async def test_saving_and_publishing_name_the_values_that_may_be_empty(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    created = await client.post(BASE, json={**DRAFT, "text_body": "Hoi {{ contact.first_name }},\n"
                                                                   "tot in {{ lead.city }}!"}, headers=ops)
    assert created.status_code == 201, created.text
    warnings = created.json()["warnings"]
    assert [(w["name"], w["field"], w["line"]) for w in warnings] == [("contact.first_name", "text_body", 1),
                                                                      ("lead.city", "text_body", 2)]
    assert "default" in warnings[0]["message"]
    published = await client.post(f"{BASE}/versions/{created.json()['id']}/publish", headers=ops)
    assert published.status_code == 200 and [w["name"] for w in published.json()["warnings"]] == [
        "contact.first_name", "lead.city"]


@pytest.mark.parametrize("guarded", [
    "Hoi {{ contact.first_name | default('daar') }}",
    "{% if contact.first_name %}Hoi {{ contact.first_name }}{% else %}Hallo{% endif %}",
    "Hoi {{ contact.first_name or 'daar' }}",
    "Hoi {{ contact.first_name if contact.first_name else 'daar' }}",
])
async def test_a_value_with_a_fallback_is_not_warned_about(client, factory, guarded: str) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    created = await client.post(BASE, json={**DRAFT, "text_body": guarded}, headers=ops)
    assert created.status_code == 201 and created.json()["warnings"] == []


def test_default_treats_an_empty_field_as_missing() -> None:
    from rentguy_crm.templates.rendering import render_part

    source = "{{ contact.first_name | default('daar') }}/{{ lead.city | default('?') }}/{{ lead.guests | default(0) }}"
    assert render_part("text_body", source, {"contact": {"first_name": ""}, "lead": {"city": None, "guests": 0}}) \
        == "daar/?/0"


def test_cli_publish_prints_the_warning(db, tmp_path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["tenants", "provision", "configs/tenants/mrdj.json", "--no-templates",
                               "--no-workflows"]).exit_code == 0
    body = tmp_path / "welkom.txt"
    body.write_text("Hoi {{ contact.first_name }},\n")
    created = runner.invoke(cli, ["templates", "create", "lead-welcome", "--tenant", "mrdj", "--channel", "email",
                                  "--subject", "Welkom", "--text-file", str(body), "--variables",
                                  "contact.first_name"])
    assert created.exit_code == 0, created.output
    published = runner.invoke(cli, ["templates", "publish", "lead-welcome", "--tenant", "mrdj"])
    assert published.exit_code == 0, published.output
    assert "'contact.first_name' can be empty for real records" in " ".join(published.output.split())
