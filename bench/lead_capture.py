"""Lead capture against two one-INSERT endpoints on Postgres, driven by `wrk`, three servers in one run.

Servers (one uvicorn worker each, same database): the naive reference (`bench/naive_insert_app.py`: FastAPI,
Pydantic, sync psycopg pool), the bare async endpoint (`bench/bare_insert_app.py`) and the suite's full
pipeline (`POST /api/v1/leads`, workflow library loaded). Every request is a new person (bench/new_person.lua).
Measurements are interleaved server by server, each at least twice. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so the baseline apps resolve as bench.<name>
SCRIPT = ROOT / "bench" / "new_person.lua"

UNLIMITED = {"default_profile": "standard",
             "profiles": {"standard": {"per_ip": "10000000/minute", "per_tenant": "10000000/minute"}}}
SERVERS = {"naive": ("bench.naive_insert_app:create_app", "/leads"),
           "bare": ("bench.bare_insert_app:create_app", "/leads"),
           "suite": ("rentguy_crm.app:create_app", "/api/v1/leads")}
SWEEP = (4, 16, 32, 64)


@dataclass
class Measure:
    server: str
    connections: int
    pause_ms: float
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    cpu_seconds: float = 0.0  # the server process's CPU time (user + system) during the run

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests if self.requests else float("nan")


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
        conn.execute("CREATE TABLE bench_naive_leads (id BIGSERIAL PRIMARY KEY, email VARCHAR(320), "
                     "first_name VARCHAR(200), last_name VARCHAR(200), event_type VARCHAR(32), guests INTEGER, "
                     "message TEXT, created_at TIMESTAMPTZ NOT NULL)")
    return key


async def _provision() -> str:
    from rentguy_crm.auth import service as keys
    from rentguy_crm.db import one_off_session
    from rentguy_crm.provisioning import provision_tenant
    from rentguy_crm.tenants import repository
    from rentguy_crm.tenants.config import RateLimitSettings, load_config

    config = load_config(ROOT / "configs" / "tenants" / "mrdj.json")
    config = config.model_copy(update={"rate_limit": RateLimitSettings.model_validate(UNLIMITED)})
    async with one_off_session() as session:
        await provision_tenant(session, config, actor="bench")
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


def start_server(target: str, port: int, url: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"CRM_DATABASE_URL": url, "CRM_LOG_LEVEL": "WARNING", "CRM_ENV": "dev",
                        "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--log-level", "warning",
                             "--no-access-log"], env=env, cwd=ROOT)


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/docs", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # any answer means the server is up
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): the server's cost per request, whatever else the
    machine runs, because time the process waits for a core is not counted."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(server: str, url: str, key: str, connections: int, seconds: float, tag: str,
        pause_ms: float = 0.0, pid: int | None = None) -> Measure:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(SCRIPT)]
    if server == "suite":
        command += ["-H", f"Authorization: Bearer {key}"]
    command += [url, "--", tag, f"{pause_ms:.1f}"]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    line = next(text for text in output.splitlines() if text.startswith("WRK "))
    figures = json.loads(line[4:])
    return Measure(server, connections, pause_ms, figures["requests"], figures["duration_us"] / 1e6,
                   figures["non2xx"], figures["socket_errors"], figures["p50_us"] / 1000, figures["p99_us"] / 1000,
                   cpu)


def row(m: Measure, label: str = "") -> str:
    errors = f"  non-2xx {m.non2xx} socket errors {m.socket_errors}" if m.non2xx or m.socket_errors else ""
    return (f"  {m.server:<6} c={m.connections:<3}{label:<22} {m.rate:>8.1f} req/s  p50 {m.p50_ms:>7.1f} ms  "
            f"p99 {m.p99_ms:>7.1f} ms  server CPU {m.cpu_ms_per_request:>5.2f} ms/req{errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_intake")
    parser.add_argument("--seconds", type=float, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="times each server is measured at each point")
    parser.add_argument("--peak-connections", type=int, default=32)
    parser.add_argument("--servers", default="naive,bare,suite", help="comma-separated subset of the three")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench` installs it (ops/install-bench-tools.sh)")
    names = [name for name in args.servers.split(",") if name in SERVERS]

    key = prepare_database(args.database_url)
    asyncio.run(_sync_with_own_database(args.database_url))
    ports = {name: free_port() for name in names}
    processes = [start_server(SERVERS[name][0], ports[name], args.database_url) for name in names]
    pids = {name: process.pid for name, process in zip(names, processes, strict=True)}
    urls = {name: f"http://127.0.0.1:{ports[name]}{SERVERS[name][1]}" for name in names}
    stamp = int(time.time())
    results: list[Measure] = []
    sessions_before = postgres_sessions(args.database_url)
    try:
        for name in names:
            wait_ready(f"http://127.0.0.1:{ports[name]}")
            wrk(name, urls[name], key, 8, 3, f"w{stamp}{name}")  # warm-up: pools, caches, first touches
        points = sorted({*SWEEP, args.peak_connections})
        for round_no in range(args.rounds):
            for connections in points:
                order = names[round_no % len(names):] + names[:round_no % len(names)]
                for name in order:
                    m = wrk(name, urls[name], key, connections, args.seconds, f"r{stamp}{round_no}{connections}{name}",
                            pid=pids[name])
                    results.append(m)
                    print(row(m), flush=True)
        peak = {name: statistics.mean(m.rate for m in results
                                      if m.server == name and m.connections == args.peak_connections)
                for name in names}
        calm = {name: min(m.p50_ms for m in results if m.server == name) for name in names}
        for round_no in range(args.rounds):
            for name in names:
                # wrk has no fixed-rate mode: each connection waits `pause` after an answer, so the rate is
                # connections / (pause + latency); the pause is set from the calmest p50 seen for that server.
                target = peak[name] / 2
                pause = max(0.0, 1000 * args.peak_connections / target - calm[name])
                m = wrk(name, urls[name], key, args.peak_connections, args.seconds * 2,
                        f"h{stamp}{round_no}{name}", pause, pid=pids[name])
                results.append(m)
                print(row(m, f" half ({target:.0f}/s)"), flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"Postgres sessions started during the run (all servers; connections opened and closed): "
          f"{postgres_sessions(args.database_url) - sessions_before}")
    report(results, names, args)


def postgres_sessions(url: str) -> int:
    parsed = make_url(url)
    with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        row = conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (parsed.database,)).fetchone()
    return int(row[0]) if row else 0


def report(results: list[Measure], names: list[str], args: argparse.Namespace) -> None:
    def of(name: str, connections: int, half: bool = False) -> list[Measure]:
        return [m for m in results if m.server == name and m.connections == connections
                and (m.pause_ms > 0) == half]

    c = args.peak_connections
    print(f"\nlead capture benchmark: Postgres {make_url(args.database_url).render_as_string(hide_password=True)}, "
          f"one uvicorn worker each, wrk -t1, {args.seconds:g} s per run, {args.rounds} rounds, "
          f"cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    summary: dict[str, dict[str, object]] = {}
    for name in names:
        peaks, halves = of(name, c), of(name, c, half=True)
        sweep = {n: round(statistics.mean(m.rate for m in of(name, n)), 1) for n in sorted({*SWEEP, c})}
        cpu = {n: round(statistics.mean(m.cpu_ms_per_request for m in of(name, n)), 2) for n in sorted({*SWEEP, c})}
        summary[name] = {"peak_rps": [round(m.rate, 1) for m in peaks], "cpu_ms_per_request_by_connections": cpu,
                         "peak_p50_ms": [round(m.p50_ms, 1) for m in peaks],
                         "peak_p99_ms": [round(m.p99_ms, 1) for m in peaks],
                         "half_rps": [round(m.rate, 1) for m in halves],
                         "half_p99_ms": [round(m.p99_ms, 1) for m in halves],
                         "rps_by_connections": sweep}
        print(f"{name:<6} peak (c={c}) {' / '.join(f'{m.rate:.0f}' for m in peaks)} req/s, "
              f"p50 {' / '.join(f'{m.p50_ms:.1f}' for m in peaks)} ms, "
              f"p99 {' / '.join(f'{m.p99_ms:.1f}' for m in peaks)} ms; at half of peak "
              f"{' / '.join(f'{m.rate:.0f}' for m in halves)} req/s "
              f"p99 {' / '.join(f'{m.p99_ms:.1f}' for m in halves)} ms;"
              f" by connections {sweep}; server CPU ms/request by connections {cpu}")
    if "suite" in summary:
        mean_peak = {name: statistics.mean(m.rate for m in of(name, c)) for name in names}
        for base in ("naive", "bare"):
            if base in mean_peak:
                print(f"ratio suite/{base} at c={c}: {mean_peak['suite'] / mean_peak[base]:.2f}"
                      + (" (budget >= 1.0)" if base == "naive" else ""))
        half_p99 = max(m.p99_ms for m in of("suite", c, half=True))
        print(f"suite p99 at half of peak (worst run): {half_p99:.1f} ms (budget < 25 ms)")
        sweep = summary["suite"]["rps_by_connections"]
        assert isinstance(sweep, dict)
        print(f"suite req/s at 16 and 64 vs 4 connections: {sweep[16]:.0f}, {sweep[64]:.0f} vs {sweep[4]:.0f} "
              "(budget: not below)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
