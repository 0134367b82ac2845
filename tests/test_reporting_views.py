"""The Metabase views give the same numbers on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text

from tests.obs_support import add_runs

UTC = dt.UTC
MONDAY_W10 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
SUNDAY_W10 = dt.datetime(2025, 3, 9, 23, 30, tzinfo=UTC)
MONDAY_W11 = dt.datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MONDAY_2025_W01 = dt.datetime(2024, 12, 30, 12, 0, tzinfo=UTC)


async def rows(db, view: str, **where: Any) -> list[dict[str, Any]]:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    async with db.session() as session:
        result = await session.execute(text(f"SELECT * FROM {view} WHERE {clause}"), where)
        return [dict(r._mapping) for r in result]


async def seed(db, factory) -> None:
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    for seconds in range(1, 21):
        await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W10,
                       duration=dt.timedelta(seconds=seconds))
    await add_runs(db, mrdj, "lead_intake", "failed", 2, created_at=MONDAY_W10, duration=dt.timedelta(seconds=25),
                   error="SMTP 550 mailbox unavailable")
    await add_runs(db, mrdj, "lead_intake", "dead", 1, created_at=MONDAY_W10, duration=dt.timedelta(seconds=25))
    await add_runs(db, mrdj, "lead_intake", "cancelled", 1, created_at=MONDAY_W10)
    await add_runs(db, mrdj, "lead_intake", "queued", 2, created_at=MONDAY_W10)
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=SUNDAY_W10, duration=dt.timedelta(seconds=10))
    await add_runs(db, other, "lead_intake", "succeeded", 1, created_at=MONDAY_W10, duration=dt.timedelta(seconds=7))
    # Week 11: 95% within 2 minutes and 95% within their SLA, each missed by a different run.
    await add_runs(db, mrdj, "lead_intake", "succeeded", 18, created_at=MONDAY_W11, duration=dt.timedelta(seconds=60))
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W11, duration=dt.timedelta(minutes=5))
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W11, duration=dt.timedelta(seconds=90),
                   sla=dt.timedelta(minutes=1))
    await add_runs(db, mrdj, "post_event_care", "succeeded", 1, created_at=MONDAY_2025_W01,
                   duration=dt.timedelta(seconds=3))


async def test_runs_daily_counts_outcomes_per_workflow_and_day(db, factory) -> None:
    await seed(db, factory)
    [day] = await rows(db, "crm_report_runs_daily", tenant="mrdj", workflow="lead_intake", day="2025-03-03")
    assert (day["runs"], day["succeeded"], day["failed"], day["cancelled"], day["active"]) == (26, 20, 3, 1, 2)


async def test_runs_daily_p95_is_the_nearest_rank_of_finished_run_durations(db, factory) -> None:
    await seed(db, factory)
    [day] = await rows(db, "crm_report_runs_daily", tenant="mrdj", workflow="lead_intake", day="2025-03-03")
    # 24 finished runs: 1 s (cancelled), 1..20 s, 3 x 25 s; rank ceil(0.95 * 24) = 23 is 25 s.
    assert float(day["p95_duration_seconds"]) == 25.0
    [week11] = await rows(db, "crm_report_runs_daily", tenant="mrdj", workflow="lead_intake", day="2025-03-10")
    # 20 runs: 18 x 60 s, 90 s, 300 s; rank 19 is 90 s.
    assert float(week11["p95_duration_seconds"]) == 90.0


async def test_runs_daily_keeps_tenants_apart(db, factory) -> None:
    await seed(db, factory)
    [other] = await rows(db, "crm_report_runs_daily", tenant="other", workflow="lead_intake")
    assert (other["runs"], other["succeeded"], float(other["p95_duration_seconds"])) == (1, 1, 7.0)


async def test_sla_weekly_counts_iso_weeks_with_sunday_in_the_week_before(db, factory) -> None:
    await seed(db, factory)
    [w10] = await rows(db, "crm_report_automation_sla_weekly", tenant="mrdj", workflow="lead_intake",
                       iso_week="2025-W10")
    # 24 runs that finished (cancelled and queued ones left out), 21 of them succeeded fast.
    assert str(w10["week_start"])[:10] == "2025-03-03"
    assert (w10["runs"], w10["within_sla"], w10["within_2_minutes"]) == (24, 21, 21)
    assert float(w10["pct_within_2_minutes"]) == 87.5
    assert not w10["meets_target"]


async def test_sla_weekly_separates_within_sla_from_within_two_minutes_and_meets_the_95_percent_target(
        db, factory) -> None:
    await seed(db, factory)
    [w11] = await rows(db, "crm_report_automation_sla_weekly", tenant="mrdj", workflow="lead_intake",
                       iso_week="2025-W11")
    assert (w11["runs"], w11["within_sla"], w11["within_2_minutes"]) == (20, 19, 19)
    assert float(w11["pct_within_sla"]) == 95.0 and float(w11["pct_within_2_minutes"]) == 95.0
    assert float(w11["target_pct"]) == 95.0
    assert w11["meets_target"]


async def test_sla_weekly_uses_the_iso_year_at_new_year(db, factory) -> None:
    await seed(db, factory)
    [week] = await rows(db, "crm_report_automation_sla_weekly", tenant="mrdj", workflow="post_event_care")
    assert week["iso_week"] == "2025-W01" and str(week["week_start"])[:10] == "2024-12-30"
