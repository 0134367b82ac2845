"""Worker throughput: no-op one-step runs completed per second, against procrastinate's no-op jobs on the
same Postgres in the same run. Budget: >= 3x procrastinate.

    .venv/bin/python bench/worker_throughput.py --runs 5000 --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._setup import QUEUE_BENCH_URL, ensure_tenant_and_workflow, insert_runs, plain_url, prepare_database


async def ours(url: str, runs: int, concurrency: int, processes: int) -> float:
    from sqlalchemy import text

    from rentguy_crm.automation.engine.executor import mark_database_only
    from rentguy_crm.automation.engine.step_registry import StepResult, register_step
    from rentguy_crm.automation.engine.worker import Worker
    from rentguy_crm.automation.runs.queue import QueueDatabase

    @register_step("notify")
    async def noop(ctx, step):  # type: ignore[no-untyped-def]
        return StepResult.done()

    # A no-op only touches the database (its step log): such steps of a claimed batch commit together.
    mark_database_only("notify")

    db = QueueDatabase(url)
    tenant_id, workflow_id = await ensure_tenant_and_workflow(db, [{"type": "notify", "template": "noop"}])
    async with db.session() as session:
        await session.execute(text("TRUNCATE crm_automation_runs, crm_workers RESTART IDENTITY"))
    await insert_runs(db, tenant_id, workflow_id, runs)
    workers = [Worker(url=url, concurrency=concurrency, batch_size=concurrency, poll_interval=0.05,
                      lease=dt.timedelta(seconds=60), schedules_enabled=False) for _ in range(processes)]
    started = time.perf_counter()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    while True:
        async with db.session() as session:
            left = await session.scalar(text("SELECT count(*) FROM crm_automation_runs "
                                             "WHERE status <> 'succeeded' AND tenant_id = :t"), {"t": tenant_id})
        if left == 0:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    for w in workers:
        w.request_stop()
    await asyncio.gather(*tasks)
    await db.dispose()
    return runs / elapsed


async def procrastinate_rate(url: str, jobs: int, concurrency: int) -> float:
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=plain_url(url)))

    @app.task(name="noop", queue="bench")
    async def noop() -> None:
        return None

    async with app.open_async():
        try:
            await app.schema_manager.apply_schema_async()
        except Exception:
            pass  # already applied
        # Start from empty tables (TRUNCATE, no dead rows), like our side does.
        await app.connector.execute_query_async("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")
        for start in range(0, jobs, 1000):
            await noop.batch_defer_async(*([{}] * min(1000, jobs - start)))
        started = time.perf_counter()
        await app.run_worker_async(concurrency=concurrency, wait=False, queues=["bench"],
                                   install_signal_handlers=False)
        elapsed = time.perf_counter() - started
        left = await app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status <> 'succeeded'")
        assert left["n"] == 0, left
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=QUEUE_BENCH_URL)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="worker loops of ours (procrastinate gets one)")
    args = parser.parse_args()
    prepare_database(args.url)
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    theirs = asyncio.run(procrastinate_rate(args.url, args.runs, args.concurrency))
    mine = asyncio.run(ours(args.url, args.runs, args.concurrency, args.workers))
    print(f"runs/jobs: {args.runs}, concurrency: {args.concurrency}, one process each")
    print(f"crm workers:   {mine:8.0f} no-op runs/s")
    print(f"procrastinate: {theirs:8.0f} no-op jobs/s")
    print(f"ratio: {mine / theirs:.2f}x (budget >= 3x)")


if __name__ == "__main__":
    main()
