"""`crm reports …` and `crm feedback …` as a person at a terminal uses them, with time set by a clock file."""

from __future__ import annotations

import json

import pytest

from tests.reporting.support import crm, seed_weeks


@pytest.fixture
async def seeded(db, factory, tmp_path):  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant("mrdj")
    await seed_weeks(db, mrdj, await factory.tenant("other"))
    clock = tmp_path / "clock"
    clock.write_text("2025-03-12T10:00:00+00:00")  # Wednesday of 2025-W11
    return clock


@pytest.mark.parametrize(("week", "says"), [
    ("2025-48", "is not an ISO week; write it as YYYY-Www"),
    ("2025-W53", "2025 has no ISO week 53"),
    ("2025-W11", "week 2025-W11 is not over yet"),
    ("2025-W30", "week 2025-W30 is not over yet"),
])
async def test_a_malformed_current_or_future_week_is_refused_with_exit_2(seeded, week: str, says: str) -> None:
    result = crm("reports", "automation-sla", "--tenant", "mrdj", "--week", week, clock_file=seeded)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr


async def test_a_past_week_is_made_archived_and_written_as_pdf(seeded, tmp_path) -> None:
    pdf = tmp_path / "w10.pdf"
    made = crm("reports", "automation-sla", "--tenant", "mrdj", "--week", "2025-W10", "--pdf", str(pdf),
               clock_file=seeded)
    assert made.returncode == 0, made.stderr
    assert "lead_intake" in made.stdout and pdf.read_bytes().startswith(b"%PDF")
    listed = json.loads(crm("reports", "list", "--tenant", "mrdj", "--json").stdout)
    assert [(r["kind"], r["period"], r["has_pdf"]) for r in listed] == [("automation_sla", "2025-W10", True)]
    shown = json.loads(crm("reports", "show", str(listed[0]["id"]), "--tenant", "mrdj", "--json").stdout)
    [row] = shown["figures"]["workflows"]
    assert (row["workflow"], row["runs"], row["pct_within_2_minutes"]) == ("lead_intake", 24, 87.5)


async def test_feedback_recorded_and_listed_from_the_command_line(seeded) -> None:
    added = crm("feedback", "add", "--tenant", "mrdj", "--text", "Offertemail mist logo", "--tag", "uat",
                "--tag", "email", "--author", "operations", clock_file=seeded)
    assert added.returncode == 0, added.stderr
    refused = crm("feedback", "add", "--tenant", "mrdj", "--text", "x", "--workflow", "no_such_flow")
    assert refused.returncode == 1 and "no workflow 'no_such_flow'" in refused.stderr
    listed = json.loads(crm("feedback", "list", "--tenant", "mrdj", "--month", "2025-03", "--json").stdout)
    assert [(i["text"], i["tags"], i["author"]) for i in listed] == [("Offertemail mist logo", ["uat", "email"],
                                                                      "cli:operations")]
