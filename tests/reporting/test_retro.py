"""The monthly retro: weekly trends per workflow, top errors, slowest steps from the step log, and the month's
UAT feedback items."""

from __future__ import annotations

import datetime as dt

import pytest

from rentguy_crm.reporting import figures, periods, service
from tests.obs_support import add_runs
from tests.reporting.support import add_step_log, seed_weeks

NOW = dt.datetime(2025, 4, 2, 8, 0, tzinfo=dt.UTC)


def step(pc: int, name: str, status: str, ms: float) -> dict:  # type: ignore[type-arg]
    return {"step": pc, "type": "send_email" if "mail" in name else "notify", "name": name, "status": status,
            "attempt": 1, "at": "2025-03-10T09:00:00+00:00", "worker": "w1", "duration_ms": ms}


@pytest.fixture
async def seeded(db, factory):  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    await seed_weeks(db, mrdj, other)
    [slow, fast] = await add_runs(db, mrdj, "lead_intake", "succeeded", 2,
                                  created_at=dt.datetime(2025, 3, 12, 9, 0, tzinfo=dt.UTC),
                                  duration=dt.timedelta(seconds=5))
    await add_step_log(db, slow, [step(0, "welcome mail", "started", 0) | {"duration_ms": None},
                                  step(0, "welcome mail", "done", 4000.0), step(1, "slack notice", "done", 20.0)])
    await add_step_log(db, fast, [step(0, "welcome mail", "done", 2000.0), step(1, "slack notice", "done", 40.0)])
    [foreign] = await add_runs(db, other, "lead_intake", "succeeded", 1,
                               created_at=dt.datetime(2025, 3, 12, 9, 0, tzinfo=dt.UTC))
    await add_step_log(db, foreign, [step(0, "welcome mail", "done", 99999.0)])
    async with db.session() as session:
        for text, tags, created in (("Welkomstmail komt pas na 5 minuten", ["uat", "email"], dt.datetime(2025, 3, 5)),
                                    ("Te vroeg", ["uat"], dt.datetime(2025, 2, 27)),
                                    ("Herinnering mist de datum", ["uat"], dt.datetime(2025, 3, 28))):
            await service.add_feedback(session, mrdj.id, author="apikey:1:ops", text=text, tags=tags,
                                       workflow_key=None, template_key=None, screen="/leads",
                                       now=created.replace(tzinfo=dt.UTC))
        await service.add_feedback(session, other.id, author="x", text="andere tenant", tags=[],
                                   workflow_key=None, template_key=None, screen=None,
                                   now=dt.datetime(2025, 3, 6, tzinfo=dt.UTC))
    return mrdj


async def retro(db, tenant) -> dict:  # type: ignore[no-untyped-def,type-arg]
    async with db.session() as session:
        return await figures.retro(session, tenant.id, tenant.slug, periods.month("2025-03"))


async def test_trends_per_workflow_and_week(db, seeded) -> None:
    data = await retro(db, seeded)
    assert data["weeks"] == ["2025-W09", "2025-W10", "2025-W11", "2025-W12", "2025-W13", "2025-W14"]
    lead = next(t for t in data["trends"] if t["workflow"] == "lead_intake")
    by_week = {w["week"]: w for w in lead["weeks"]}
    assert (by_week["2025-W10"]["runs"], by_week["2025-W10"]["failure_rate_pct"]) == (24, 12.5)
    assert (by_week["2025-W11"]["runs"], by_week["2025-W11"]["pct_within_2_minutes"]) == (22, 95.45)


async def test_top_errors_of_the_month(db, seeded) -> None:
    data = await retro(db, seeded)
    assert [(e["workflow"], e["message"], e["runs"]) for e in data["top_errors"]] == [
        ("lead_intake", "SMTP 550 mailbox unavailable", 2), ("lead_intake", "", 1),
        ("proposal_followup", "WhatsApp 131026 message undeliverable", 1)]


async def test_slowest_steps_from_the_step_log_of_this_tenant(db, seeded) -> None:
    data = await retro(db, seeded)
    assert data["slowest_steps"] == [
        {"workflow": "lead_intake", "step": "welcome mail", "type": "send_email", "executions": 2,
         "avg_ms": 3000.0, "p95_ms": 4000.0, "max_ms": 4000.0},
        {"workflow": "lead_intake", "step": "slack notice", "type": "notify", "executions": 2,
         "avg_ms": 30.0, "p95_ms": 40.0, "max_ms": 40.0},
    ]


async def test_the_months_feedback_is_listed_oldest_first(db, seeded) -> None:
    data = await retro(db, seeded)
    assert [f["text"] for f in data["feedback"]] == ["Welkomstmail komt pas na 5 minuten",
                                                     "Herinnering mist de datum"]
    assert data["feedback"][0]["tags"] == ["uat", "email"]


async def test_the_retro_renders_with_its_charts_and_feedback(db, seeded) -> None:
    async with db.session() as session:
        report = await service.generate(session, seeded, "retro", periods.month("2025-03"), actor="t", now=NOW)
    assert set(report.charts) == {"volume", "failure_rate", "sla"}
    assert "Welkomstmail komt pas na 5 minuten" in report.html and "welcome mail" in report.html
    assert "supportdesk is nog niet gekoppeld" in report.html
