"""Claim speed with N million finished runs in the table against an empty table. Budget: <= 1.5x.

The claim query reads the partial index on active statuses, so finished history should not slow it down.
Builds history with INSERT ... SELECT generate_series in a dedicated database (default crm_bench).

    .venv/bin/python bench/claim_speed.py --rows 10000000      # the budget's figure (takes minutes)
    .venv/bin/python bench/claim_speed.py --rows 1000000       # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._setup import DEFAULT_URL, ensure_tenant_and_workflow, insert_runs, prepare_database


async def measure(db, tenant_id: int, workflow_id: int, claims: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    """Median seconds per claim of `batch` due runs (the claimed runs are finished again between claims)."""
    from sqlalchemy import text

    from rentguy_crm.automation.runs import queue

    await insert_runs(db, tenant_id, workflow_id, batch)
    samples = []
    for _ in range(claims):
        started = time.perf_counter()
        async with db.session() as session:
            got = await queue.claim_due_runs(session, owner="bench", now=dt.datetime.now(dt.UTC),
                                             lease=dt.timedelta(seconds=30), limit=batch)
        samples.append(time.perf_counter() - started)
        assert len(got) == batch, len(got)
        async with db.session() as session:  # put them back to queued for the next sample
            await session.execute(text("UPDATE crm_automation_runs SET status = 'queued', run_after = now() - "
                                       "interval '1 second', lease_owner = NULL WHERE id = ANY(:ids)"),
                                  {"ids": [c.id for c in got]})
    async with db.session() as session:
        await session.execute(text("DELETE FROM crm_automation_runs WHERE status IN ('queued', 'running')"))
    return statistics.median(samples)


async def fill_history(db, tenant_id: int, workflow_id: int, rows: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    async with db.session() as session:
        have = await session.scalar(text("SELECT count(*) FROM crm_automation_runs WHERE status = 'succeeded'"))
    missing = rows - int(have or 0)
    chunk = 1_000_000
    while missing > 0:
        n = min(chunk, missing)
        async with db.session() as session:
            await session.execute(text(
                "INSERT INTO crm_automation_runs (tenant_id, workflow_id, workflow_key, workflow_version, "
                "trigger_type, subject_type, status, attempt, max_attempts, run_after, current_step, step_log, "
                "context, sla_breached, created_at, updated_at, started_at, completed_at, duration_ms) "
                "SELECT :t, :w, 'bench_noop', 1, 'bench', 'none', 'succeeded', 1, 3, "
                "now() - (g || ' seconds')::interval, 1, '[]'::jsonb, '{}'::jsonb, false, "
                "now() - (g || ' seconds')::interval, now(), now() - (g || ' seconds')::interval, now(), 5 "
                "FROM generate_series(1, :n) AS g"), {"t": tenant_id, "w": workflow_id, "n": n})
        missing -= n
        print(f"  history: {rows - missing:,} finished runs", flush=True)
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE crm_automation_runs"))


async def prepared(url: str, rows: int, claims: int, batch: int) -> tuple[float, int]:
    from sqlalchemy import text

    from rentguy_crm.automation.runs.queue import QueueDatabase

    db = QueueDatabase(url)
    tenant_id, workflow_id = await ensure_tenant_and_workflow(db, [{"type": "stop"}], keep_history=True)
    async with db.session() as session:
        await session.execute(text("DELETE FROM crm_automation_runs WHERE status <> 'succeeded'"))
    if rows:
        await fill_history(db, tenant_id, workflow_id, rows)
    else:
        async with db.session() as session:
            await session.execute(text("DELETE FROM crm_automation_runs"))
    figure = await measure(db, tenant_id, workflow_id, claims, batch)
    async with db.session() as session:
        total = int(await session.scalar(text("SELECT count(*) FROM crm_automation_runs")) or 0)
    await db.dispose()
    return figure, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL, help="database holding the history (kept between runs)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="finished runs in the table")
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    empty_url = args.url + "_empty"  # the empty-table figure comes from a sibling database on the same server
    prepare_database(empty_url)
    prepare_database(args.url)
    empty, _ = asyncio.run(prepared(empty_url, 0, args.claims, args.batch))
    full, total = asyncio.run(prepared(args.url, args.rows, args.claims, args.batch))
    print(f"claim of {args.batch} due runs, median of {args.claims}:")
    print(f"  empty table:                 {empty * 1000:7.2f} ms")
    print(f"  with {total:>12,} finished:  {full * 1000:7.2f} ms")
    print(f"ratio: {full / empty:.2f}x (budget <= 1.5x)")


if __name__ == "__main__":
    main()
