"""Scenario 3: Mollie calls the payment webhook (`id=tr_…`), the suite fetches the payment from the Mollie API,
and a paid payment emits `payment.received` once however often Mollie calls: the deal is marked paid, the
customer gets a confirmation and finance is told. An unknown id is acknowledged and changes nothing."""

from __future__ import annotations

from tests.acceptance.product import Product, eventually, mail_text

ANNA = {"first_name": "Anna", "last_name": "de Vries", "email": "anna.betaling@example.nl", "phone": "06 12345678",
        "event_type": "bruiloft", "event_date": "2027-06-12", "city": "Utrecht"}
TITLE = "Bruiloft Anna & Tom"
CONFIRMATION = f"Betaling ontvangen voor {TITLE}"


async def test_paid_payment_confirms_marks_the_deal_paid_and_tells_finance_once(product: Product) -> None:
    lead = await product.public_lead(**ANNA)
    deal = await product.deal_for(lead, title=TITLE, owner="lisa@mr-dj.nl", value="2450.00")

    product.mollie.pay("tr_WDqYK6vllg", "open", metadata={"deal_id": deal["id"]})
    opened = await product.mollie_webhook("tr_WDqYK6vllg")
    assert opened.status_code == 200
    assert opened.json()["payment_received"] is False

    product.mollie.pay("tr_WDqYK6vllg", "paid", metadata={"deal_id": deal["id"]})
    paid = await product.mollie_webhook("tr_WDqYK6vllg")
    retried = await product.mollie_webhook("tr_WDqYK6vllg")  # Mollie calls again; nothing new may happen
    assert (paid.status_code, retried.status_code) == (200, 200)
    assert (paid.json()["payment_received"], retried.json()["payment_received"]) == (True, False)

    async def finished() -> list[dict] | None:
        runs = await product.runs("payment_received", deal_id=deal["id"])
        return runs if runs and all(r["status"] in ("succeeded", "failed", "dead") for r in runs) else None

    runs = await eventually(finished, "the payment_received run finishing")
    assert len(runs) == 1, f"payment.received once per paid payment, got {len(runs)} runs"
    detail = await product.run_detail(runs[0]["id"])
    assert detail["status"] == "succeeded", detail["last_error_message"]
    assert detail["trigger"] == "payment.received"

    [confirmation] = product.mails_to(ANNA["email"], CONFIRMATION)
    body = mail_text(confirmation)
    assert body.startswith("Hoi Anna,")
    assert "EUR 1500" in body

    [finance] = product.slack_texts("finance")
    assert f"deal #{deal['id']} \"{TITLE}\"" in finance and "Betaling ontvangen" in finance
    assert not [t for t in product.slack_texts("ops") if "Betaling" in t]

    marked = await product.get(f"/api/v1/crm/deals/{deal['id']}")
    assert marked["paid_at"].startswith("2027-02-10T09:14:03")
    assert marked["amount_paid"] == "1500.00"


async def test_unknown_payment_id_is_acknowledged_logged_and_changes_nothing(product: Product) -> None:
    lead = await product.public_lead(**ANNA)
    deal = await product.deal_for(lead, title=TITLE, owner="lisa@mr-dj.nl", value="2450.00")
    answer = await product.mollie_webhook("tr_onbekend01")
    assert answer.status_code == 200
    assert answer.json()["received"] is False
    assert product.mollie.fetches("tr_onbekend01") == 1

    async def logged() -> list[str]:
        return [line for line in product.log("api").splitlines() if "mollie_payment_unknown" in line]

    [line] = await eventually(logged, "the unknown payment id in the API log")
    assert "tr_onbekend01" in line and "mrdj" in line
    assert ANNA["email"] not in product.log("api") and "de Vries" not in product.log("api")
    assert await product.runs("payment_received") == []
    assert (await product.get(f"/api/v1/crm/deals/{deal['id']}"))["paid_at"] is None
    assert not product.mails_to(ANNA["email"], "Betaling")
