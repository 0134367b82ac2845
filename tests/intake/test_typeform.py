"""The Typeform fallback webhook, replaying recorded payloads signed with a known test secret."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from tests.intake.test_pipeline import count, only

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "typeform"
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


async def test_unconfigured_secret_refuses_with_a_clear_message(client: httpx.AsyncClient,
                                                                 monkeypatch: pytest.MonkeyPatch, mrdj) -> None:
    monkeypatch.delenv("CRM_MRDJ_TYPEFORM_SECRET")
    body, headers = fixture("form_response.json")
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 404
    assert "CRM_MRDJ_TYPEFORM_SECRET" in response.json()["detail"]
