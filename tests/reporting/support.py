"""Seeded runs for the report tests: two ISO weeks of lead_intake (2025-W10 and 2025-W11) with every outcome,
another tenant's run, and a CLI runner with a clock file."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from tests.obs_support import add_runs

UTC = dt.UTC
MONDAY_W10 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
SUNDAY_W10 = dt.datetime(2025, 3, 9, 23, 30, tzinfo=UTC)
MONDAY_W11 = dt.datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


async def seed_weeks(db: Database, mrdj: Tenant, other: Tenant) -> None:
    for seconds in range(1, 21):
        await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W10,
                       duration=dt.timedelta(seconds=seconds))
    await add_runs(db, mrdj, "lead_intake", "failed", 2, created_at=MONDAY_W10, duration=dt.timedelta(seconds=25),
                   error="SMTP 550 mailbox unavailable")
    await add_runs(db, mrdj, "lead_intake", "dead", 1, created_at=MONDAY_W10, duration=dt.timedelta(seconds=25))
    await add_runs(db, mrdj, "lead_intake", "cancelled", 1, created_at=MONDAY_W10)
    await add_runs(db, mrdj, "lead_intake", "queued", 2, created_at=MONDAY_W10)
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=SUNDAY_W10, duration=dt.timedelta(seconds=10))
    await add_runs(db, other, "lead_intake", "failed", 5, created_at=MONDAY_W10, duration=dt.timedelta(seconds=7),
                   error="other tenant's error")
    # Week 11: 95% within 2 minutes and 95% within their SLA, each missed by a different run.
    await add_runs(db, mrdj, "lead_intake", "succeeded", 18, created_at=MONDAY_W11, duration=dt.timedelta(seconds=60))
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W11, duration=dt.timedelta(minutes=5))
    await add_runs(db, mrdj, "lead_intake", "succeeded", 1, created_at=MONDAY_W11, duration=dt.timedelta(seconds=90),
                   sla=dt.timedelta(minutes=1))
    await add_runs(db, mrdj, "proposal_followup", "dead", 1, created_at=MONDAY_W11,
                   duration=dt.timedelta(minutes=3), error="WhatsApp 131026 message undeliverable")
    await add_runs(db, mrdj, "proposal_followup", "succeeded", 3, created_at=MONDAY_W11,
                   duration=dt.timedelta(seconds=30))


async def add_step_log(db: Database, run: AutomationRun, entries: list[dict[str, Any]]) -> None:
    async with db.session() as session:
        stored = await session.get(AutomationRun, run.id)
        assert stored is not None
        stored.step_log = entries


def crm(*args: str, clock_file: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    extra = {"CRM_CLOCK_FILE": str(clock_file)} if clock_file else {}
    return subprocess.run([str(Path(sys.executable).parent / "crm"), *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **extra, **env}, cwd=ROOT, timeout=120)
