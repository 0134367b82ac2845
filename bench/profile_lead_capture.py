"""Where a lead-capture request spends its time: database round trips per request (counted per statement kind)
and, with --profile, a pyinstrument profile of the whole request in process (no network, no uvicorn).

Runs the real app in this process on the benchmark database (dropped and recreated like bench/lead_capture.py)
and drives `POST /api/v1/leads` through an ASGI transport, one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lead_capture import prepare_database  # noqa: E402


def _kind(statement: str) -> str:
    words = statement.strip().split()
    head = " ".join(words[:3]).upper()
    for table in ("contacts", "leads", "events", "crm_automation_runs", "api_keys", "workflows", "tenants",
                  "rate_limit_switches", "lead_capture_tallies", "idempotency_records"):
        if table in statement[:400]:
            return f"{words[0].upper()} {table}" if words else head
    return head


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_perf2")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile (bench extra)")
    parser.add_argument("--workflows", action="store_true", help="load the workflow library for the tenant")
    parser.add_argument("--bare", action="store_true", help="profile the bare one-INSERT baseline instead")
    args = parser.parse_args()

    key = await asyncio.to_thread(prepare_database, args.database_url)
    from rentguy_crm.app import create_app

    if args.bare:
        from bench.bare_insert_app import create_app as create_bare_app

        app = create_bare_app()
    else:
        app = create_app()
    counts: Counter[str] = Counter()
    counting = False

    async with app.router.lifespan_context(app):
        db = app.state.db if not args.bare else None
        if args.workflows and db is not None:
            from bench.lead_capture import sync_workflows

            await sync_workflows(db)

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            if counting:
                counts[_kind(statement)] += 1

        def on_begin(_conn: Any) -> None:
            if counting:
                counts["BEGIN"] += 1

        def on_commit(_conn: Any) -> None:
            if counting:
                counts["COMMIT"] += 1

        def on_checkout(*_a: Any) -> None:
            if counting:
                counts["pool checkout (pre-ping SELECT 1)"] += 1

        sync_engine = (db.engine if db is not None else app.state.engine).sync_engine
        event.listen(sync_engine, "before_cursor_execute", on_execute)
        event.listen(sync_engine, "begin", on_begin)
        event.listen(sync_engine, "commit", on_commit)
        event.listen(sync_engine.pool, "checkout", on_checkout)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            headers = {"Authorization": f"Bearer {key}"}

            async def post(n: int) -> None:
                body = {"first_name": "Bench", "last_name": f"Lead {n}", "email": f"p{n}@bench.example",
                        "event_type": "bruiloft", "guests": 100, "message": "benchmark"}
                response = await client.post("/leads" if args.bare else "/api/v1/leads", json=body, headers=headers)
                assert response.status_code in (200, 201), response.text

            for n in range(50):  # warm-up: caches, pool
                await post(n)
            profiler: Any = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled", interval=0.0005)
                profiler.start()
            counting = True
            started, cpu_started = time.perf_counter(), time.process_time()
            for n in range(50, 50 + args.requests):
                await post(n)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            counting = False
            if profiler is not None:
                profiler.stop()

    print(f"{'bare endpoint' if args.bare else 'lead capture'}: {args.requests} sequential requests in process: "
          f"{elapsed / args.requests * 1000:.2f} ms each, {cpu / args.requests * 1000:.2f} ms CPU each "
          "(this process: app and client)")
    print("database work per request (BEGIN/COMMIT are round trips too; the pre-ping is a SELECT 1):")
    for kind, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {count / args.requests:5.2f}  {kind}")
    round_trips = sum(counts.values()) / args.requests
    print(f"  {round_trips:5.2f}  total")
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    asyncio.run(main())
