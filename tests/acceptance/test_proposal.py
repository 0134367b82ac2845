"""Scenario 2: a deal moved to `proposal_sent` gets one proposal e-mail, after its two-day wait one WhatsApp
reminder and one follow-up task for the deal's owner; moving on to `negotiation` starts what that stage names,
once. A deal moved on to `negotiation` before the reminder is due gets the reminder and the task once, from
the negotiation run: the proposal_sent run is cancelled, naming the run that replaced it."""

from __future__ import annotations

import datetime as dt

from tests.acceptance.product import Product, eventually, mail_text

ANNA = {"first_name": "Anna", "last_name": "de Vries", "email": "anna.offerte@example.nl", "phone": "06 12345678",
        "event_type": "bruiloft", "event_date": "2027-06-12", "city": "Utrecht"}
TITLE = "Bruiloft Anna & Tom"
OWNER = "lisa@mr-dj.nl"
PROPOSAL_SUBJECT = f"Herinnering: je offerte voor {TITLE}"


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def settled_runs(product: Product, deal_id: int, count: int) -> list[dict] | None:
    """The deal's proposal_followup runs once at least `count` exist and each has parked, finished or failed."""
    runs = await product.runs("proposal_followup", deal_id=deal_id)
    moving = [r for r in runs if r["status"] in ("queued", "running") and not r["last_error_message"]]
    return runs if len(runs) >= count and not moving else None


async def test_proposal_follow_up_mail_whatsapp_and_task_once(product: Product) -> None:
    lead = await product.public_lead(**ANNA)
    deal = await product.deal_for(lead, title=TITLE, owner=OWNER, value="2450.00", event_date="2027-06-12")
    await product.move(deal, "qualified", "proposal_sent")

    runs = await eventually(lambda: settled_runs(product, deal["id"], 1), "the proposal_followup run waiting")
    assert len(runs) == 1, f"one proposal_followup run per stage change, got {len(runs)}: {runs}"
    [run] = runs
    assert run["status"] == "waiting", run["last_error_message"]

    # One proposal e-mail, in Dutch, to the customer.
    [proposal] = product.mails_to(ANNA["email"], PROPOSAL_SUBJECT)
    assert mail_text(proposal).startswith("Hoi Anna,")
    assert "2027-06-12" in mail_text(proposal)

    # The WhatsApp reminder waits two days: nothing is sent before the clock gets there.
    detail = await product.run_detail(run["id"])
    waited = at(detail["run_after"]) - at(detail["step_log"][-1]["at"])
    assert dt.timedelta(days=2) - dt.timedelta(seconds=5) <= waited <= dt.timedelta(days=2, seconds=5)
    assert product.whatsapp_messages("+31612345678") == []

    await product.settle()
    product.set_clock("+2d1m")

    async def finished() -> dict | None:
        [again] = await product.runs("proposal_followup", deal_id=deal["id"])
        return again if again["status"] in ("succeeded", "failed", "dead") else None

    done = await eventually(finished, "the proposal_followup run finishing after its wait")
    assert done["status"] == "succeeded", done["last_error_message"]

    [whatsapp] = product.whatsapp_messages("+31612345678")
    template = whatsapp["template"]
    assert (template["name"], template["language"]["code"]) == ("proposal_reminder", "nl")
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Anna", TITLE]

    [task] = await product.tasks(deal_id=deal["id"])
    assert task["title"] == "Bel over de offerte"
    assert task["owner"] == OWNER
    assert dt.timedelta(hours=23) <= at(task["due_at"]) - at(done["completed_at"]) <= dt.timedelta(hours=25)

    # Moving on to negotiation starts the workflow that stage names, once: one more run, one more e-mail.
    await product.move(deal, "negotiation")
    runs = await eventually(lambda: settled_runs(product, deal["id"], 2), "the negotiation run waiting")
    assert len(runs) == 2, f"one more proposal_followup run for negotiation, got {len(runs) - 1}"
    newest = max(runs, key=lambda r: r["id"])
    assert newest["status"] == "waiting" and newest["trigger"].startswith("deal.stage.")
    assert len(product.mails_to(ANNA["email"], PROPOSAL_SUBJECT)) == 2


async def test_moving_on_to_negotiation_before_the_reminder_sends_one_whatsapp_and_one_task(
        product: Product) -> None:
    lead = await product.public_lead(**ANNA)
    deal = await product.deal_for(lead, title=TITLE, owner=OWNER, value="2450.00", event_date="2027-06-12")
    await product.move(deal, "qualified", "proposal_sent")
    [first] = await eventually(lambda: settled_runs(product, deal["id"], 1), "the proposal_sent run waiting")
    assert first["status"] == "waiting", first["last_error_message"]

    await product.move(deal, "negotiation")
    runs = await eventually(lambda: settled_runs(product, deal["id"], 2), "the negotiation run waiting")
    replaced, newest = sorted(runs, key=lambda r: r["id"])
    assert replaced["id"] == first["id"]
    assert replaced["status"] == "cancelled"
    assert f"superseded by run {newest['id']}" in replaced["last_error_message"]
    assert newest["status"] == "waiting", newest["last_error_message"]
    assert len(product.mails_to(ANNA["email"], PROPOSAL_SUBJECT)) == 2  # one e-mail per move

    await product.settle()
    product.set_clock("+2d1m")

    async def finished() -> dict | None:
        again = next(r for r in await product.runs("proposal_followup", deal_id=deal["id"]) if r["id"] == newest["id"])
        return again if again["status"] in ("succeeded", "failed", "dead") else None

    done = await eventually(finished, "the negotiation run finishing after its wait")
    assert done["status"] == "succeeded", done["last_error_message"]
    assert len(product.whatsapp_messages("+31612345678")) == 1
    [task] = await product.tasks(deal_id=deal["id"])
    assert (task["title"], task["owner"]) == ("Bel over de offerte", OWNER)
    statuses = sorted(r["status"] for r in await product.runs("proposal_followup", deal_id=deal["id"]))
    assert statuses == ["cancelled", "succeeded"]
