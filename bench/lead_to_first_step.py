"""Lead stored → first step of its lead_intake run started, at a steady 50 leads/s. Budget: p95 < 100 ms.

Each lead is written like lead capture writes it: contact, lead and `lead.created` in one transaction, which
queues the run and NOTIFYs the workers. A separate `crm workers run` process executes the runs; the first
step's start time comes from its step log. (The HTTP layer of the public form is measured by the intake
benchmarks; this one measures the queue.)

    .venv/bin/python bench/lead_to_first_step.py --rate 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._setup import QUEUE_BENCH_URL, ensure_tenant_and_workflow, prepare_database  # noqa: E402


async def run(url: str, rate: float, seconds: float, concurrency: int) -> None:
    from sqlalchemy import text

    from rentguy_crm.automation.engine import hooks
    from rentguy_crm.automation.runs.queue import QueueDatabase
    from rentguy_crm.crm.models import Contact, Lead
    from rentguy_crm.db import Database
    from rentguy_crm.events.service import emit

    hooks.install()  # emitted events start their runs, as in every entry point
    qdb = QueueDatabase(url)
    tenant_id, _ = await ensure_tenant_and_workflow(qdb, [{"type": "notify", "template": "noop"}], key="lead_intake")
    await qdb.dispose()
    env = {**os.environ, "CRM_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "CRM_AUTOMATION_PLUGINS": "bench.noop_steps",
           "CRM_LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "crm"), "workers", "run", "--concurrency",  # noqa: ASYNC220
                               str(concurrency), "--no-schedules", "--poll", "1"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = Database(url=url)
    committed: dict[int, dt.datetime] = {}
    try:
        await asyncio.sleep(3)  # worker up and listening
        interval = 1 / rate
        total = int(rate * seconds)
        start = time.perf_counter()

        async def one(i: int) -> None:
            async with db.session() as session:
                contact = Contact(tenant_id=tenant_id, first_name="Bench", last_name=str(i),
                                  email=f"bench{i}-{time.time_ns()}@example.nl")
                session.add(contact)
                await session.flush()
                lead = Lead(tenant_id=tenant_id, contact_id=contact.id, event_type="bruiloft")
                session.add(lead)
                await session.flush()
                await emit(session, tenant_id, "lead.created", subject_type="lead", subject_id=lead.id)
                lead_id = lead.id
            committed[lead_id] = dt.datetime.now(dt.UTC)

        tasks = []
        for i in range(total):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 30
        rows: list = []
        while time.monotonic() < deadline:
            async with db.session() as session:
                rows = (await session.execute(text(
                    "SELECT lead_id, step_log FROM crm_automation_runs WHERE tenant_id = :t AND "
                    "workflow_key = 'lead_intake' AND status = 'succeeded'"), {"t": tenant_id})).all()
            if len(rows) >= total:
                break
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        await db.dispose()
    latencies = []
    for row in rows:
        if row.lead_id in committed and row.step_log:
            first = dt.datetime.fromisoformat(row.step_log[0]["at"])
            latencies.append((first - committed[row.lead_id]).total_seconds() * 1000)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"{len(latencies)} of {total} leads at {rate:.0f}/s, worker concurrency {concurrency}")
    print(f"lead committed -> first step started: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"p95 vs budget 100 ms: {p(0.95) / 100:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=QUEUE_BENCH_URL)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    prepare_database(args.url)
    asyncio.run(run(args.url, args.rate, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
