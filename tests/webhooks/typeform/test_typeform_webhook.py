"""The Typeform fallback webhook, replaying recorded payloads signed with a known test secret."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from tests.factories import tenant_document
from tests.intake.test_pipeline import count, only

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDED = json.loads((FIXTURES / "signatures.json").read_text())
URL = "/api/v1/webhooks/typeform/mrdj"


@pytest.fixture(autouse=True)
def typeform_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_MRDJ_TYPEFORM_SECRET", RECORDED["secret"])


def fixture(name: str) -> tuple[bytes, dict[str, str]]:
    return (FIXTURES / name).read_bytes(), {"Typeform-Signature": RECORDED["signatures"][name],
                                            "Content-Type": "application/json"}


async def test_form_response_creates_a_mapped_lead(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    body, headers = fixture("form_response.json")
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 201, response.text
    lead, contact = await only(db, Lead), await only(db, Contact)
    assert (contact.first_name, contact.email, contact.phone) == ("Sanne", "sanne.jansen@example.nl", "+31612345678")
    assert (lead.source, lead.event_type, lead.guests, str(lead.event_date)) == ("typeform", "bruiloft", 120,
                                                                                 "2025-08-16")
    assert lead.team == "wedding_specialists" and lead.utm == {"source": "status-banner", "campaign": "api-outage"}
    assert "how_found: Instagram" in (lead.message or "")
    assert contact.marketing_opt_in is True


async def test_form_response_with_phone_only_normalises_the_number(client: httpx.AsyncClient, db: Database,
                                                                   mrdj) -> None:
    body, headers = fixture("form_response_phone_only.json")
    assert (await client.post(URL, content=body, headers=headers)).status_code == 201
    assert (await only(db, Contact)).phone == "+31687654321"
    assert (await only(db, Lead)).team == "corporate"


async def test_partial_response_is_acknowledged_and_stores_nothing(client: httpx.AsyncClient, db: Database,
                                                                   mrdj) -> None:
    body, headers = fixture("form_response_partial.json")
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 200 and response.json()["ignored"] is True
    assert await count(db, Lead) == 0


async def test_redelivered_event_id_is_stored_once(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    body, headers = fixture("form_response.json")
    first = await client.post(URL, content=body, headers=headers)
    again = await client.post(URL, content=body, headers=headers)
    assert again.json() == first.json()
    assert await count(db, Lead) == 1


async def test_tenant_alias_in_path_works(client: httpx.AsyncClient, mrdj) -> None:
    body, headers = fixture("form_response.json")
    assert (await client.post("/api/v1/webhooks/typeform/mr-dj", content=body, headers=headers)).status_code == 201


async def test_bad_signature_is_401_and_stores_nothing(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    body, headers = fixture("form_response.json")
    tampered = body.replace(b"Sanne", b"Sanna")
    response = await client.post(URL, content=tampered, headers=headers)
    assert response.status_code == 401
    assert await count(db, Lead) == 0


async def test_missing_signature_is_401(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    body, _ = fixture("form_response.json")
    response = await client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert await count(db, Lead) == 0


async def test_unconfigured_secret_is_named_in_the_log_not_the_answer(client: httpx.AsyncClient,
                                                                       monkeypatch: pytest.MonkeyPatch, mrdj) -> None:
    monkeypatch.delenv("CRM_MRDJ_TYPEFORM_SECRET")
    body, headers = fixture("form_response.json")
    with capture_logs() as logs:
        response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 404
    assert "CRM_MRDJ_TYPEFORM_SECRET" not in response.text and "env:" not in response.text
    assert any("CRM_MRDJ_TYPEFORM_SECRET" in str(line.get("missing")) for line in logs
               if line["event"] == "typeform_webhook_not_configured")


async def answer(response: httpx.Response) -> tuple[int, dict[str, object]]:
    return response.status_code, {k: v for k, v in response.json().items() if k not in ("instance", "request_id")}


async def test_unknown_tenant_unconfigured_tenant_and_missing_secret_answer_alike(
        client: httpx.AsyncClient, factory, monkeypatch: pytest.MonkeyPatch, mrdj) -> None:
    intake = {k: v for k, v in tenant_document()["intake"].items() if k != "typeform"}
    await factory.tenant("acme", intake=intake)
    body, headers = fixture("form_response.json")
    configured = await answer(await client.post(URL, content=body, headers=headers))
    assert configured[0] == 201
    without = await answer(await client.post("/api/v1/webhooks/typeform/acme", content=body, headers=headers))
    unknown = await answer(await client.post("/api/v1/webhooks/typeform/nosuch", content=body, headers=headers))
    monkeypatch.delenv("CRM_MRDJ_TYPEFORM_SECRET")
    no_secret = await answer(await client.post(URL, content=body, headers=headers))
    assert without == unknown == no_secret
    assert without[0] == 404 and "acme" not in str(without[1]) and "nosuch" not in str(unknown[1])


async def _post(client: httpx.AsyncClient, name: str) -> httpx.Response:
    body, headers = fixture(name)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 201, response.text
    return response


async def test_other_choice_for_event_type_is_anders_with_the_text_in_the_message(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    await _post(client, "form_response_choice_other.json")
    lead = await only(db, Lead)
    assert lead.event_type == "anders"
    assert "event_type: Jubileumfeest van opa (50 jaar getrouwd)" in (lead.message or "")
    assert "how_found: Instagram" in (lead.message or "")
    assert lead.team == "general"  # the default rule, as for any `anders`


async def test_choice_label_without_event_type_is_anders_and_keeps_the_label(client: httpx.AsyncClient,
                                                                              db: Database, mrdj) -> None:
    await _post(client, "form_response_choice_unknown_label.json")
    lead = await only(db, Lead)
    assert lead.event_type == "anders" and "event_type: Schoolfeest" in (lead.message or "")


async def test_several_event_type_picks_take_the_first_known_and_keep_every_pick(client: httpx.AsyncClient,
                                                                                  db: Database, mrdj) -> None:
    await _post(client, "form_response_choices_event_type.json")
    lead = await only(db, Lead)
    assert lead.event_type == "verjaardag"
    assert "event_type: Verjaardag, Bruiloft" in (lead.message or "")


async def test_multiple_choice_answer_keeps_every_label_and_the_other_text(client: httpx.AsyncClient,
                                                                           db: Database, mrdj) -> None:
    await _post(client, "form_response_choices_other.json")
    lead = await only(db, Lead)
    assert "extras: Lichtshow, Rookmachine, Karaoke-set" in (lead.message or "")
    assert lead.event_type == "bruiloft"


async def test_single_known_choice_adds_nothing_to_the_message(client: httpx.AsyncClient, db: Database,
                                                               mrdj) -> None:
    await _post(client, "form_response.json")
    assert "event_type" not in ((await only(db, Lead)).message or "")


async def test_answers_naming_their_question_by_id_are_mapped_through_the_definition(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    await _post(client, "form_response_field_ids_only.json")
    lead, contact = await only(db, Lead), await only(db, Contact)
    assert (contact.first_name, contact.email) == ("Sanne", "sanne.jansen@example.nl")
    assert (lead.event_type, lead.guests) == ("bruiloft", 120)
    assert "how_found: Instagram" in (lead.message or "")


@pytest.mark.parametrize("odd", [
    {"type": ["choice"], "field": {"id": ["Fn5"], "ref": "event_type"}},
    {"type": "choices", "choices": {"labels": "Bruiloft", "other": 5}, "field": {"ref": "event_type"}},
    {"type": "choice", "choice": "Bruiloft", "field": {"id": {"x": 1}}},
    "not an answer",
])
async def test_oddly_shaped_answer_is_never_a_server_error(client: httpx.AsyncClient, db: Database, mrdj,
                                                           odd: object) -> None:
    from rentguy_crm.webhooks.typeform.service import signature

    payload = json.loads((FIXTURES / "form_response.json").read_text())
    payload["form_response"]["answers"].append(odd)
    body = json.dumps(payload).encode()
    response = await client.post(URL, content=body, headers={
        "Typeform-Signature": signature(RECORDED["secret"], body), "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert (await only(db, Lead)).guests == 120
