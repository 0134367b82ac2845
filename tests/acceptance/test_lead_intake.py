"""Scenario 1: a lead from the website form is welcomed by name in Dutch, announced in Slack and given to the
right sales team as a task, within seconds, by one `lead_intake` run."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from tests.acceptance.product import Product, eventually, mail_text

ANNA = {"first_name": "Anna", "last_name": "de Vries", "email": "anna.devries@example.nl", "phone": "06 12345678",
        "event_type": "bruiloft", "event_date": "2027-06-12", "city": "Utrecht", "guests": 120,
        "message": "Wij zoeken een DJ voor onze bruiloft."}


async def test_form_post_welcomes_announces_and_assigns_the_lead(product: Product) -> None:
    lead = await product.public_lead(**ANNA)
    assert lead["automation_triggered"] is True

    async def finished() -> list[dict] | None:
        runs = await product.runs("lead_intake", lead_id=lead["lead_id"])
        return runs if runs and all(r["status"] in ("succeeded", "failed", "dead") for r in runs) else None

    [run] = await eventually(finished, "the lead_intake run of the lead finishing")
    detail = await product.run_detail(run["id"])
    assert detail["status"] == "succeeded", detail["last_error_message"]
    assert detail["trigger"] == "lead.created"
    started = dt.datetime.fromisoformat(detail["started_at"]) - dt.datetime.fromisoformat(detail["created_at"])
    assert started <= dt.timedelta(seconds=5), f"lead_intake started {started} after the form post"

    # The couple: one Dutch welcome mail, addressed by name.
    [welcome] = product.mails_to(ANNA["email"])
    assert welcome["Subject"] == "Bedankt voor je aanvraag voor jullie bruiloft, Anna!"
    assert welcome["From"] == "Mr. DJ <info@mr-dj.nl>"
    body = mail_text(welcome)
    assert body.startswith("Hoi Anna,")
    assert "Team Mr. DJ" in body
    assert "{{" not in body and "{{" not in str(welcome["Subject"])

    # Sales: one notice of the new lead in the ops channel, with its team and priority (and, as a wedding is
    # high priority, the one high-priority notice the workflow adds for it).
    ops = product.slack_texts("ops")
    [notice] = [t for t in ops if f"Nieuwe lead #{lead['lead_id']}:" in t]
    assert "Anna de Vries" in notice and "prioriteit high" in notice and "team wedding_specialists" in notice
    [urgent] = [t for t in ops if f"Lead #{lead['lead_id']} heeft prioriteit HOOG" in t]
    assert "team wedding_specialists" in urgent
    assert len(ops) == 2

    # One task for the wedding specialists, due within the hour.
    [task] = await product.tasks(lead_id=lead["lead_id"])
    assert task["title"] == "Bel nieuwe lead binnen het uur"
    assert task["team"] == "wedding_specialists"
    assert task["status"] == "open"
    due = dt.datetime.fromisoformat(task["due_at"])
    created = dt.datetime.fromisoformat(task["created_at"])
    assert dt.timedelta(minutes=59) <= due - created <= dt.timedelta(minutes=61)

    lead_row = await product.get(f"/api/v1/crm/leads/{lead['lead_id']}")
    assert (lead_row["priority"], lead_row["team"]) == ("high", "wedding_specialists")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile, as the tenant's weekly Automation SLA report computes it."""
    ordered = sorted(values)
    return ordered[max(int(-(-share * len(ordered) // 1)) - 1, 0)]


async def test_a_burst_of_200_leads_gets_one_run_and_one_welcome_mail_each(product: Product) -> None:
    """A burst of 200 leads: one lead_intake run each, all succeed, one welcome mail each; the run rows' own
    timestamps (queued → started / completed) are printed for the SLA figures."""
    semaphore = asyncio.Semaphore(8)

    async def submit(client: httpx.AsyncClient, index: int) -> int:
        async with semaphore:
            response = await client.post("/api/v1/leads", json={
                "first_name": f"Gast{index}", "last_name": "Jansen", "email": f"gast{index}@example.nl",
                "event_type": ("bruiloft", "bedrijfsfeest", "verjaardag", "feest")[index % 4],
                "event_date": "2027-09-18", "city": "Amersfoort", "external_id": f"burst-{index}"})
            assert response.status_code == 201, response.text
            return int(response.json()["lead_id"])

    async with product.api() as client:
        lead_ids = set(await asyncio.gather(*(submit(client, i) for i in range(200))))
    assert len(lead_ids) == 200

    async def all_finished() -> int:
        # Polled with a count only, so the watching does not slow the product down.
        return sum([await product.run_count("lead_intake", s) for s in ("succeeded", "failed", "dead")]) >= 200

    await eventually(all_finished, "the 200 lead_intake runs finishing", ceiling=600)
    runs = [r for r in await product.runs("lead_intake") if r["lead_id"] in lead_ids]
    assert len(runs) == 200, "one lead_intake run per lead"
    assert {r["status"] for r in runs} == {"succeeded"}

    def seconds(run: dict, field: str) -> float:
        return (dt.datetime.fromisoformat(run[field]) - dt.datetime.fromisoformat(run["created_at"])).total_seconds()

    completion = [seconds(r, "completed_at") for r in runs]
    start = [seconds(r, "started_at") for r in runs]
    busy = [c - s for c, s in zip(completion, start, strict=True)]
    measured = (f"start p50 {percentile(start, 0.5):.1f}s p95 {percentile(start, 0.95):.1f}s; completion p95 "
                f"{percentile(completion, 0.95):.1f}s; execution p50 {percentile(busy, 0.5):.2f}s "
                f"p95 {percentile(busy, 0.95):.2f}s; leads queued from {min(r['created_at'] for r in runs)} "
                f"to {max(r['created_at'] for r in runs)}, last completed {max(r['completed_at'] for r in runs)}")
    # The timing targets (95% complete within 2 minutes, lead_intake started within seconds) are budgets of
    # `bench/lead_to_first_step.py`, measured on an otherwise idle machine: a wall-clock bound here would decide
    # the test by how busy the machine is. What the burst must show whatever the load: every run waited for its
    # lead (queued → started → completed, in that order) and none was lost or run twice.
    print(measured)
    assert all(0 <= s <= c for s, c in zip(start, completion, strict=True)), measured
    # Every customer got exactly one welcome mail.
    assert len([m for m in product.smtp.messages if str(m["To"]).startswith("gast")]) == 200
