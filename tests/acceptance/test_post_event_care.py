"""Scenario 4: a wedding on 2027-03-27 (the day before the spring DST switch) is moved to `completed`; the
survey goes out on 2027-03-28 at 10:00 Europe/Amsterdam (08:00 UTC) with the invoice reminder, finance is told,
and one `post_event_care` run does it whatever else fires for the deal (the daily `event.completed` job
included). Editing the event date while the run waits moves the wait."""

from __future__ import annotations

import datetime as dt

from tests.acceptance.product import Product, eventually, mail_text

ANNA = {"first_name": "Anna", "last_name": "de Vries", "email": "anna.feest@example.nl", "phone": "06 12345678",
        "event_type": "bruiloft", "event_date": "2027-03-27", "city": "Utrecht"}
BRAM = {"first_name": "Bram", "last_name": "Smit", "email": "bram.smit@example.nl", "phone": "06 87654321",
        "event_type": "bruiloft", "event_date": "2027-03-20", "city": "Zwolle"}
TITLE = "Bruiloft Anna & Tom"
UTC = dt.UTC


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def booked_deal(product: Product, person: dict, title: str) -> dict:
    lead = await product.public_lead(**person)
    return await product.send("POST", "/api/v1/crm/deals", {
        "lead_id": lead["lead_id"], "pipeline": "wedding", "stage": "booked", "title": title,
        "owner": "lisa@mr-dj.nl", "value": "2450.00", "event_date": person["event_date"]})


async def care_runs(product: Product, deal_id: int) -> list[dict]:
    return await product.runs("post_event_care", deal_id=deal_id)


async def settled(product: Product, deal_id: int) -> list[dict] | None:
    """The deal's runs once each has parked, finished or failed an attempt (a failing run is retried for long)."""
    runs = await care_runs(product, deal_id)
    moving = [r for r in runs if r["status"] in ("queued", "running") and not r["last_error_message"]]
    return runs if runs and not moving else None


async def test_survey_the_morning_after_in_amsterdam_time_by_one_run(product: Product) -> None:
    deal = await booked_deal(product, ANNA, TITLE)
    # Another wedding a week earlier, booked but never moved on: only the daily job completes it.
    other = await booked_deal(product, BRAM, "Bruiloft Bram & Eva")
    await product.move(deal, "completed")

    runs = await eventually(lambda: settled(product, deal["id"]), "the post_event_care run parking")
    assert len(runs) == 1, f"one post_event_care run, got {len(runs)}: {[r['trigger'] for r in runs]}"
    [run] = runs
    assert run["status"] == "waiting", run["last_error_message"]
    assert at(run["run_after"]) == dt.datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # 10:00 CEST, the day after

    # The event moves a week: so does the wait (10:00 CEST on 2027-04-04 is 08:00 UTC), and back again.
    await product.send("PATCH", f"/api/v1/crm/deals/{deal['id']}", {"event_date": "2027-04-03"})

    async def wait_moved(expected: dt.datetime) -> bool:
        [again] = await care_runs(product, deal["id"])
        return again["status"] == "waiting" and at(again["run_after"]) == expected

    await eventually(lambda: wait_moved(dt.datetime(2027, 4, 4, 8, 0, tzinfo=UTC)), "the wait moving to 2027-04-04")
    await product.send("PATCH", f"/api/v1/crm/deals/{deal['id']}", {"event_date": "2027-03-27"})
    await eventually(lambda: wait_moved(dt.datetime(2027, 3, 28, 8, 0, tzinfo=UTC)), "the wait moving back")

    # A minute before: the daily job has completed the other wedding, Anna's run still waits, no survey.
    await product.settle()
    product.set_clock("2027-03-28T07:59:00+00:00")

    async def other_completed() -> list[dict] | None:
        started = [r for r in await care_runs(product, other["id"]) if r["status"] != "queued"]
        return started or None

    [other_run] = await eventually(other_completed, "the daily event.completed job starting care for Bram")
    assert other_run["trigger"] == "event.completed"
    still = await care_runs(product, deal["id"])
    assert len(still) == 1, f"one post_event_care run for Anna, got {[r['trigger'] for r in still]}"
    assert still[0]["status"] == "waiting"
    assert product.mails_to(ANNA["email"], "Hoe was") == []

    # 10:00 in Amsterdam: survey, invoice reminder and finance notice, once.
    await product.settle()
    product.set_clock("2027-03-28T08:00:00+00:00")

    async def finished() -> list[dict] | None:
        runs = await care_runs(product, deal["id"])
        return runs if all(r["status"] in ("succeeded", "failed", "dead") for r in runs) else None

    runs = await eventually(finished, "Anna's post_event_care run finishing")
    assert len(runs) == 1, f"one post_event_care run whatever else fired, got {[r['trigger'] for r in runs]}"
    detail = await product.run_detail(runs[0]["id"])
    assert detail["status"] == "succeeded", detail["last_error_message"]

    [survey] = product.mails_to(ANNA["email"], f"Hoe was {TITLE}?")
    assert mail_text(survey).startswith("Hoi Anna,")
    [reminder] = product.mails_to(ANNA["email"], f"Herinnering: factuur voor {TITLE}")
    assert "EUR 2450" in mail_text(reminder)
    finance = [t for t in product.slack_texts("finance") if f"Deal #{deal['id']} " in t]
    assert len(finance) == 1 and "is afgerond" in finance[0]
