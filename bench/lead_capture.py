"""Lead capture throughput and latency on Postgres, against a bare one-INSERT FastAPI endpoint in the same run.

Starts both as uvicorn subprocesses with the same settings, drives each with the same async load generator
on this machine: a closed loop at fixed concurrency for peak throughput, then an open loop at half of that
peak for latency. Prints accepted leads/s, p50/p99 and the ratio to the bare endpoint. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so the bare app resolves as bench.bare_insert_app

UNLIMITED = {"default_profile": "standard",
             "profiles": {"standard": {"per_ip": "10000000/minute", "per_tenant": "10000000/minute"}}}


@dataclass
class Run:
    name: str
    sent: int
    accepted: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(url: str) -> str:
    """Fresh schema, migrated, tenant mrdj with limits out of the way, one API key. Returns the key."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    os.environ["CRM_DATABASE_URL"] = url
    from rentguy_crm.config import reset_settings_cache

    reset_settings_cache()
    from rentguy_crm import migrate

    migrate.upgrade("head", url=url)
    key = asyncio.run(_provision())
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_bare_leads (id BIGSERIAL PRIMARY KEY, email VARCHAR(320), "
                     "first_name VARCHAR(200), created_at TIMESTAMPTZ NOT NULL)")
    return key


async def _provision() -> str:
    from rentguy_crm.auth import service as keys
    from rentguy_crm.db import one_off_session
    from rentguy_crm.tenants import repository
    from rentguy_crm.tenants import service as tenants
    from rentguy_crm.tenants.config import RateLimitSettings, load_config

    config = load_config(ROOT / "configs" / "tenants" / "mrdj.json")
    config = config.model_copy(update={"rate_limit": RateLimitSettings.model_validate(UNLIMITED)})
    async with one_off_session() as session:
        await tenants.provision(session, config, actor="bench")
        tenant = await repository.get(session, "mrdj")
        _key, raw = await keys.create_key(session, tenant, name="bench", roles=["sales"], actor="bench")
    return raw


async def sync_workflows(db: object) -> None:
    """Load the workflow library for mrdj, so each lead also creates its `lead_intake` run (as in production)."""
    from rentguy_crm.automation.workflows import service as workflows_service

    async with db.session() as session:  # type: ignore[attr-defined]
        await workflows_service.sync(session, "mrdj", actor="bench")


async def _sync_with_own_database(url: str) -> None:
    from rentguy_crm.db import Database

    db = Database(url=url)
    try:
        await sync_workflows(db)
    finally:
        await db.dispose()


def start_server(target: str, port: int, url: str, workers: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"CRM_DATABASE_URL": url, "CRM_LOG_LEVEL": "WARNING", "CRM_ENV": "dev",
                        "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log"], env=env, cwd=ROOT)


async def wait_ready(base: str, path: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            try:
                await c.get(base + path)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


class Target:
    def __init__(self, name: str, base: str, path: str, headers: dict[str, str]) -> None:
        self.name, self.base, self.path, self.headers = name, base, path, headers
        self.n = 0

    def body(self) -> dict[str, object]:
        self.n += 1
        return {"first_name": "Bench", "last_name": f"Lead {self.n}", "email": f"{self.name}{self.n}@bench.example",
                "event_type": "bruiloft", "guests": 100, "message": "benchmark"}


async def one(client: httpx.AsyncClient, target: Target) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        response = await client.post(target.base + target.path, json=target.body(), headers=target.headers)
        ok = response.status_code in (200, 201)
    except httpx.HTTPError:
        ok = False
    return ok, (time.perf_counter() - started) * 1000


async def closed_loop(target: Target, total: int, concurrency: int, max_seconds: float) -> Run:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    accepted = sent = 0
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal accepted, sent
            while sent < total and time.perf_counter() < deadline:
                sent += 1
                ok, ms = await one(client, target)
                accepted += ok
                latencies.append(ms)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Run(target.name, sent, accepted, seconds, latencies)


async def open_loop(target: Target, rate: float, seconds: float) -> Run:
    """Requests at a fixed rate whatever the answers do; latency counts from the scheduled start."""
    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    accepted = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=256), timeout=30) as client:
        t0 = time.perf_counter()

        async def fire(at: float) -> None:
            nonlocal accepted
            ok, _ms = await one(client, target)
            accepted += ok
            latencies.append((time.perf_counter() - at) * 1000)

        tasks = []
        for i in range(count):
            at = t0 + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(at)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return Run(target.name, count, accepted, elapsed, latencies)


def line(label: str, run: Run) -> str:
    return (f"{label:<34} {run.rate:>9.1f}/s  accepted {run.accepted:>6}/{run.sent:<6} "
            f"p50 {run.pct(50):>7.1f} ms  p99 {run.pct(99):>7.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_intake")
    parser.add_argument("--requests", type=int, default=3000, help="requests per peak run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=30, help="cap per peak run")
    parser.add_argument("--half-seconds", type=float, default=10, help="length of the half-of-peak run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (same for both)")
    parser.add_argument("--workflows", action="store_true",
                        help="load the workflow library first, so each lead also queues its lead_intake run")
    args = parser.parse_args()

    key = await asyncio.to_thread(prepare_database, args.database_url)
    if args.workflows:
        await _sync_with_own_database(args.database_url)
    ports = {"lead": free_port(), "bare": free_port()}
    servers = [start_server("rentguy_crm.app:create_app", ports["lead"], args.database_url, args.workers),
               start_server("bench.bare_insert_app:create_app", ports["bare"], args.database_url, args.workers)]
    try:
        lead = Target("lead", f"http://127.0.0.1:{ports['lead']}", "/api/v1/leads", {"Authorization": f"Bearer {key}"})
        bare = Target("bare", f"http://127.0.0.1:{ports['bare']}", "/leads", {})
        await wait_ready(lead.base, "/healthz")
        await wait_ready(bare.base, "/docs")
        for target in (bare, lead):  # warm-up: pools, caches, JIT-free but still first-touch costs
            await closed_loop(target, 200, args.concurrency, 20)
        peak_bare = await closed_loop(bare, args.requests, args.concurrency, args.max_seconds)
        peak_lead = await closed_loop(lead, args.requests, args.concurrency, args.max_seconds)
        half_bare = await open_loop(bare, peak_bare.rate / 2, args.half_seconds)
        half_lead = await open_loop(lead, peak_lead.rate / 2, args.half_seconds)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()

    print(f"lead capture benchmark: Postgres {make_url(args.database_url).render_as_string(hide_password=True)}, "
          f"uvicorn workers={args.workers}, concurrency={args.concurrency}, cpus={os.cpu_count()}, "
          f"workflows={'library' if args.workflows else 'none'}")
    print(line("bare INSERT endpoint, peak", peak_bare))
    print(line("lead capture (full pipeline), peak", peak_lead))
    print(line(f"bare, open loop at {peak_bare.rate / 2:.0f}/s", half_bare))
    print(line(f"lead capture, open loop at {peak_lead.rate / 2:.0f}/s", half_lead))
    ratio = peak_lead.rate / peak_bare.rate if peak_bare.rate else float("nan")
    print(f"ratio lead/bare accepted per second: {ratio:.2f} (budget >= 1.0)")
    print(f"lead capture p99 at half of peak: {half_lead.pct(99):.1f} ms (budget < 25 ms)")
    print(json.dumps({"peak_bare_rps": round(peak_bare.rate, 1), "peak_lead_rps": round(peak_lead.rate, 1),
                      "ratio": round(ratio, 3), "lead_p50_ms_peak": round(peak_lead.pct(50), 1),
                      "lead_p99_ms_peak": round(peak_lead.pct(99), 1),
                      "lead_p50_ms_half": round(half_lead.pct(50), 1),
                      "lead_p99_ms_half": round(half_lead.pct(99), 1),
                      "bare_p99_ms_half": round(half_bare.pct(99), 1),
                      "median_ms_lead_peak": round(statistics.median(peak_lead.latencies_ms), 1)}))


if __name__ == "__main__":
    asyncio.run(main())
