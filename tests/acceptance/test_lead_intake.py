"""Scenario 1: a lead from the website form is welcomed by name in Dutch, announced in Slack and given to the
right sales team as a task, within seconds, by one `lead_intake` run."""

from __future__ import annotations

import datetime as dt

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
