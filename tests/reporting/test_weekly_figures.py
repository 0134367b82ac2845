"""The weekly Automation SLA's figures: the same numbers as the reporting view, counted per outcome, p95 by
nearest rank, failure causes, the change against the week before, one tenant only."""

from __future__ import annotations

import pytest

from rentguy_crm.reporting import figures, periods, repository
from tests.reporting.support import seed_weeks


@pytest.fixture
async def seeded(db, factory):  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    await seed_weeks(db, mrdj, other)
    return mrdj, other


async def weekly(db, tenant, label: str) -> dict:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await figures.automation_sla(session, tenant.id, tenant.slug, periods.week(label))


@pytest.mark.parametrize("label", ["2025-W10", "2025-W11"])
async def test_the_report_gives_the_numbers_of_the_reporting_view(db, seeded, label: str) -> None:
    mrdj, _other = seeded
    data = await weekly(db, mrdj, label)
    async with db.session() as session:
        view = await repository.view_rows(session, mrdj.id, label)
    assert view, "the view has rows for the seeded week"
    ours = [{"workflow": w["workflow"], "runs": w["runs"], "within_sla": w["within_sla"],
             "within_2_minutes": w["within_2_minutes"], "pct_within_sla": w["pct_within_sla"],
             "pct_within_2_minutes": w["pct_within_2_minutes"], "meets_target": w["meets_target"]}
            for w in data["workflows"] if w["runs"]]
    theirs = [{**row, "runs": int(row["runs"]), "within_sla": int(row["within_sla"]),
               "within_2_minutes": int(row["within_2_minutes"]), "pct_within_sla": float(row["pct_within_sla"]),
               "pct_within_2_minutes": float(row["pct_within_2_minutes"]), "meets_target": bool(row["meets_target"])}
              for row in view]
    assert ours == theirs


async def test_runs_are_counted_by_outcome_leaving_out_cancelled_and_active_ones(db, seeded) -> None:
    mrdj, _other = seeded
    [lead_intake] = (await weekly(db, mrdj, "2025-W10"))["workflows"]
    assert (lead_intake["runs"], lead_intake["succeeded"], lead_intake["failed"], lead_intake["dead"]) == (24, 21, 2, 1)
    assert lead_intake["failure_rate_pct"] == 12.5


async def test_p95_is_the_nearest_rank_of_the_finished_runs_durations(db, seeded) -> None:
    mrdj, _other = seeded
    w10 = (await weekly(db, mrdj, "2025-W10"))["workflows"][0]
    # 24 runs: 1..20 s, 10 s, 3 x 25 s; rank ceil(0.95 * 24) = 23 is 25 s.
    assert w10["p95_duration_seconds"] == 25.0
    w11 = {w["workflow"]: w for w in (await weekly(db, mrdj, "2025-W11"))["workflows"]}
    # 20 runs: 18 x 60 s, 90 s, 300 s; rank 19 is 90 s.
    assert w11["lead_intake"]["p95_duration_seconds"] == 90.0


async def test_top_failure_causes_are_counted_per_error(db, seeded) -> None:
    mrdj, _other = seeded
    [lead_intake] = (await weekly(db, mrdj, "2025-W10"))["workflows"]
    assert lead_intake["top_failures"] == [
        {"error_type": "PermanentDeliveryError", "message": "SMTP 550 mailbox unavailable", "runs": 2},
        {"error_type": "(none recorded)", "message": "", "runs": 1},
    ]


async def test_the_change_against_the_week_before(db, seeded) -> None:
    mrdj, _other = seeded
    w11 = {w["workflow"]: w for w in (await weekly(db, mrdj, "2025-W11"))["workflows"]}
    assert w11["lead_intake"]["previous"]["runs"] == 24
    assert w11["lead_intake"]["change"] == {"runs": -4, "pct_within_sla": 7.5, "pct_within_2_minutes": 7.5,
                                            "failure_rate_pct": -12.5}
    # A workflow without runs the week before has no earlier figures to compare with.
    assert w11["proposal_followup"]["previous"] is None
    assert w11["proposal_followup"]["change"]["runs"] == 4
    assert w11["proposal_followup"]["change"]["pct_within_2_minutes"] is None


async def test_another_tenants_runs_are_not_counted(db, seeded) -> None:
    mrdj, other = seeded
    [mine] = (await weekly(db, mrdj, "2025-W10"))["workflows"]
    assert all("other tenant" not in c["message"] for c in mine["top_failures"])
    [theirs] = (await weekly(db, other, "2025-W10"))["workflows"]
    assert (theirs["runs"], theirs["failed"]) == (5, 5)


async def test_support_desk_figures_are_absent_until_a_source_is_registered(db, seeded) -> None:
    mrdj, _other = seeded
    from rentguy_crm.reporting import incidents

    assert (await weekly(db, mrdj, "2025-W10"))["incidents"]["available"] is False

    async def source(session, tenant_id, start, end):  # type: ignore[no-untyped-def]
        return {"by_priority": [{"priority": "P1", "opened": 1, "resolved": 1, "sla_breaches": 0,
                                 "median_minutes_to_resolve": 42.0}], "tenant_id": tenant_id}

    incidents.register_incident_source(source)
    try:
        data = (await weekly(db, mrdj, "2025-W10"))["incidents"]
    finally:
        incidents.register_incident_source(None)
    assert data["available"] is True and data["tenant_id"] == mrdj.id
