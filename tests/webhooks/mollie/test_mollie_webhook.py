"""POST /api/v1/webhooks/mollie/{tenant}: Mollie's payment webhook, replayed against a local fake of the Mollie API
that answers with recorded payments (fixtures/), one test per payment status and per way Mollie can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.crm.models import Deal
from rentguy_crm.events.models import Event
from rentguy_crm.tenants.config import TenantConfigError, parse_config
from rentguy_crm.webhooks.mollie.models import Payment
from tests.factories import tenant_document
from tests.vendor_fakes import MollieFake, mollie_rate_limited, mollie_server_error

API_KEY = "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"
KEY_VARIABLE = "CRM_TEST_MOLLIE_API_KEY"
URL = "/api/v1/webhooks/mollie/mrdj"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def mollie(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MollieFake]:
    monkeypatch.setenv(KEY_VARIABLE, API_KEY)
    async with MollieFake(API_KEY) as fake:
        yield fake


def mollie_settings(fake: MollieFake) -> dict[str, Any]:
    return {"mollie": {"api_key": f"env:{KEY_VARIABLE}", "api_endpoint": fake.url(""), "timeout_seconds": 5}}


@pytest.fixture
async def tenant(factory, mollie: MollieFake):  # type: ignore[no-untyped-def]
    return await factory.tenant("mrdj", payments=mollie_settings(mollie))


@pytest.fixture
async def deal(factory, tenant) -> Deal:  # type: ignore[no-untyped-def]
    return await factory.deal(tenant, stage_key="booked", title="Bruiloft Anna & Tom", value=Decimal("3000.00"))


async def notify(client, payment_id: str) -> Any:  # type: ignore[no-untyped-def]
    return await client.post(URL, content=f"id={payment_id}", headers=FORM)


async def received_events(db) -> list[Event]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.scalars(select(Event).where(Event.type == "payment.received")
                                           .order_by(Event.id))).all())


async def reload(db, model: Any, ident: int) -> Any:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await session.get(model, ident)


async def payments(db) -> list[Payment]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return list((await session.scalars(select(Payment).order_by(Payment.id))).all())


async def test_paid_payment_marks_the_deal_paid_and_emits_payment_received(client, db, mollie, deal) -> None:
    mollie.pay("tr_WDqYK6vllg", "paid", metadata={"deal_id": deal.id})
    response = await notify(client, "tr_WDqYK6vllg")
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "payment_status": "paid", "deal_id": deal.id,
                               "payment_received": True}
    [event] = await received_events(db)
    assert (event.subject_type, event.subject_id) == ("deal", deal.id)
    assert event.payload["payment_id"] == "tr_WDqYK6vllg"
    assert (event.payload["amount"], event.payload["currency"]) == ("1500.00", "EUR")
    assert event.payload["paid_at"] == "2027-02-10T09:14:03+00:00"
    paid = await reload(db, Deal, deal.id)
    assert paid.amount_paid == Decimal("1500.00")
    assert paid.paid_at.isoformat() == "2027-02-10T09:14:03+00:00"
    assert mollie.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_webhook_retry_of_a_paid_payment_emits_nothing_more(client, db, mollie, deal) -> None:
    mollie.pay("tr_retry00001", "paid", metadata={"deal_id": deal.id})
    answers = [await notify(client, "tr_retry00001") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["payment_received"] for a in answers] == [True, False, False]
    assert len(await received_events(db)) == 1
    assert (await reload(db, Deal, deal.id)).amount_paid == Decimal("1500.00")


async def test_concurrent_webhook_calls_for_one_payment_emit_once(client, db, mollie, deal) -> None:
    mollie.pay("tr_concurrent1", "paid", metadata={"deal_id": deal.id})
    answers = await asyncio.gather(*(notify(client, "tr_concurrent1") for _ in range(5)))
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["payment_received"] for a in answers) == 1
    assert len(await received_events(db)) == 1


async def test_open_then_paid_emits_once_when_it_is_paid(client, db, mollie, deal) -> None:
    mollie.pay("tr_openpaid01", "open", metadata={"deal_id": deal.id})
    first = await notify(client, "tr_openpaid01")
    assert first.json() == {"received": True, "payment_status": "open", "deal_id": deal.id,
                            "payment_received": False}
    assert await received_events(db) == []
    assert (await reload(db, Deal, deal.id)).paid_at is None
    mollie.pay("tr_openpaid01", "paid", metadata={"deal_id": deal.id})
    second = await notify(client, "tr_openpaid01")
    assert second.json()["payment_received"] is True
    assert len(await received_events(db)) == 1
    [row] = await payments(db)
    assert (row.status, row.deal_id) == ("paid", deal.id)


@pytest.mark.parametrize("status", ["open", "failed", "expired", "canceled"])
async def test_unpaid_statuses_are_recorded_without_payment_received(client, db, mollie, deal, status) -> None:
    mollie.pay("tr_unpaid0001", status, metadata={"deal_id": deal.id})
    response = await notify(client, "tr_unpaid0001")
    assert response.status_code == 200
    assert response.json()["payment_status"] == status
    assert await received_events(db) == []
    [row] = await payments(db)
    assert (row.status, row.provider_payment_id, row.amount) == (status, "tr_unpaid0001", Decimal("1500.00"))
    assert (await reload(db, Deal, deal.id)).paid_at is None


async def test_two_paid_payments_of_one_deal_add_up(client, db, mollie, deal) -> None:
    mollie.pay("tr_deposit001", "paid", metadata={"deal_id": deal.id}, value="500.00")
    mollie.pay("tr_balance001", "paid", metadata={"deal_id": str(deal.id)}, value="2500.00")
    await notify(client, "tr_deposit001")
    await notify(client, "tr_balance001")
    assert len(await received_events(db)) == 2
    assert (await reload(db, Deal, deal.id)).amount_paid == Decimal("3000.00")


async def test_unknown_payment_answers_200_changes_nothing_and_is_logged(client, db, mollie, deal) -> None:
    with capture_logs() as logs:
        response = await notify(client, "tr_unknown000")
    assert response.status_code == 200
    assert response.json() == {"received": False, "payment_status": None, "deal_id": None,
                               "payment_received": False}
    assert await payments(db) == [] and await received_events(db) == []
    [line] = [entry for entry in logs if entry["event"] == "mollie_payment_unknown"]
    assert (line["tenant"], line["payment_id"]) == ("mrdj", "tr_unknown000")


async def test_log_lines_carry_no_personal_data_of_the_payment(client, mollie, deal) -> None:
    # Without a deal to link it to, the payment is logged as a warning: the line that would leak, if any.
    mollie.pay("tr_privacy001", "paid", metadata={"customer": "anna@example.nl"})
    with capture_logs() as logs:
        assert (await notify(client, "tr_privacy001")).status_code == 200
    assert [entry["event"] for entry in logs] == ["mollie_payment_without_deal"]
    text = repr(logs)
    for personal in ("anna@example.nl", "T. TEST", "NL17RABO0213698412"):
        assert personal not in text


async def test_an_id_that_is_not_a_payment_is_acknowledged_and_not_fetched(client, db, mollie, deal) -> None:
    response = await notify(client, "ord_kEn1PlbGa")
    assert response.status_code == 200 and response.json()["received"] is False
    assert mollie.requests == []


async def test_payment_naming_another_tenants_deal_is_recorded_but_marks_nothing(client, db, factory, mollie,
                                                                                  tenant) -> None:
    other = await factory.tenant("feestbazen")
    foreign = await factory.deal(other, stage_key="booked", title="Feest")
    mollie.pay("tr_foreign001", "paid", metadata={"deal_id": foreign.id})
    response = await notify(client, "tr_foreign001")
    assert response.status_code == 200
    assert response.json()["deal_id"] is None and response.json()["payment_received"] is False
    assert await received_events(db) == []
    assert (await reload(db, Deal, foreign.id)).paid_at is None


async def test_short_rate_limit_is_waited_out_within_the_call(client, db, mollie, deal) -> None:
    mollie.pay("tr_ratelimit1", "paid", metadata={"deal_id": deal.id})
    mollie.script.append(mollie_rate_limited(retry_after=1))
    response = await notify(client, "tr_ratelimit1")
    assert response.status_code == 200 and response.json()["payment_received"] is True
    assert mollie.fetches("tr_ratelimit1") == 2


async def test_long_rate_limit_answers_503_so_mollie_calls_again(client, db, mollie, deal) -> None:
    mollie.pay("tr_ratelimit2", "paid", metadata={"deal_id": deal.id})
    mollie.script.append(mollie_rate_limited(retry_after=120))
    response = await notify(client, "tr_ratelimit2")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert response.headers["content-type"] == "application/problem+json"
    assert await payments(db) == [] and await received_events(db) == []
    # Mollie's own retry, once the API answers again, records the payment.
    again = await notify(client, "tr_ratelimit2")
    assert again.status_code == 200 and again.json()["payment_received"] is True
    assert len(await received_events(db)) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_mollie_outage_answers_503_and_changes_nothing(client, db, mollie, deal, status) -> None:
    mollie.pay("tr_outage0001", "paid", metadata={"deal_id": deal.id})
    mollie.script.extend([mollie_server_error(status)] * 3)
    response = await notify(client, "tr_outage0001")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 60
    assert "Mollie" in response.json()["detail"]
    assert mollie.fetches("tr_outage0001") == 3
    assert await payments(db) == []


async def test_one_server_error_is_retried_within_the_call(client, db, mollie, deal) -> None:
    mollie.pay("tr_blip000001", "paid", metadata={"deal_id": deal.id})
    mollie.script.append(mollie_server_error(502))
    response = await notify(client, "tr_blip000001")
    assert response.status_code == 200 and response.json()["payment_received"] is True


async def test_missing_api_key_answers_503_naming_the_reference_only_in_the_log(client, db, mollie, deal,
                                                                               monkeypatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE)
    mollie.pay("tr_nokey00001", "paid", metadata={"deal_id": deal.id})
    with capture_logs() as logs:
        response = await notify(client, "tr_nokey00001")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 60
    assert KEY_VARIABLE not in response.text and "env:" not in response.text
    assert any(KEY_VARIABLE in str(line.get("reason")) for line in logs if line["event"] == "mollie_not_configured")
    assert mollie.requests == [] and await payments(db) == []


@pytest.mark.parametrize("tenant_slug", ["mrdj", "nobody"])
async def test_an_order_id_is_acknowledged_before_the_tenant_or_its_key_is_looked_at(client, db, mollie, deal,
                                                                                    monkeypatch,
                                                                                    tenant_slug) -> None:
    monkeypatch.delenv(KEY_VARIABLE)
    response = await client.post(f"/api/v1/webhooks/mollie/{tenant_slug}", content="id=ord_123", headers=FORM)
    assert response.status_code == 200 and response.json()["received"] is False
    assert mollie.requests == [] and await payments(db) == []


async def test_wrong_api_key_answers_503_and_records_nothing(client, db, mollie, deal, monkeypatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "test_not_the_right_key_at_all00")
    mollie.pay("tr_wrongkey01", "paid", metadata={"deal_id": deal.id})
    response = await notify(client, "tr_wrongkey01")
    assert response.status_code == 503
    assert "key" not in response.json()["detail"].lower()
    assert await payments(db) == []


async def test_missing_id_is_a_422_naming_the_field(client, db, tenant) -> None:
    response = await client.post(URL, content="", headers=FORM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "id"


async def test_json_body_is_refused_with_415(client, db, tenant) -> None:
    response = await client.post(URL, json={"id": "tr_WDqYK6vllg"})
    assert response.status_code == 415


async def test_unknown_tenant_and_tenant_without_mollie_settings_answer_alike(client, db, factory) -> None:
    await factory.tenant("acme", payments={})
    without = await client.post("/api/v1/webhooks/mollie/acme", content="id=tr_WDqYK6vllg", headers=FORM)
    unknown = await client.post("/api/v1/webhooks/mollie/nosuch", content="id=tr_WDqYK6vllg", headers=FORM)
    assert without.status_code == unknown.status_code == 404
    body = {k: v for k, v in without.json().items() if k != "instance"}
    assert body == {k: v for k, v in unknown.json().items() if k != "instance"}
    assert "acme" not in without.json()["detail"] and "nosuch" not in unknown.json()["detail"]
    assert "payments.mollie" not in without.text


async def test_paid_payment_starts_the_payment_received_workflow_once(client, db, mollie, deal) -> None:
    async with db.session() as session:
        await workflows_service.sync(session, "mrdj", actor="test")
    mollie.pay("tr_workflow01", "open", metadata={"deal_id": deal.id})
    await notify(client, "tr_workflow01")
    mollie.pay("tr_workflow01", "paid", metadata={"deal_id": deal.id})
    await notify(client, "tr_workflow01")
    await notify(client, "tr_workflow01")
    async with db.session() as session:
        runs = (await session.execute(select(AutomationRun.workflow_key, func.count()).where(
            AutomationRun.deal_id == deal.id).group_by(AutomationRun.workflow_key))).all()
    assert dict(runs) == {"payment_received": 1}


def test_the_api_key_must_be_a_secret_reference_not_a_literal() -> None:
    with pytest.raises(TenantConfigError, match=r"payments\.mollie\.api_key"):
        parse_config(tenant_document("mrdj", payments={"mollie": {"api_key": API_KEY}}))
