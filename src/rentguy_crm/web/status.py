"""`GET /status`: the page runbook 2.1 step 1 checks first. A small registry of component checks; JSON by
default, HTML (everything escaped) when the client asks for text/html."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from rentguy_crm import __version__
from rentguy_crm.automation.runs import repository as runs
from rentguy_crm.automation.runs import status as automation_status
from rentguy_crm.db import Database
from rentguy_crm.intake.tally import recent_outcomes, tally
from rentguy_crm.kit import clock
from rentguy_crm.observability import watchdog
from rentguy_crm.ratelimit import service as ratelimits
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.scope import AllTenants

router = APIRouter(tags=["status"])

ERROR_RATE_WINDOW_MINUTES = 15
DEFAULT_ZONE = "Europe/Amsterdam"
# A workflow failing this often (with the rule's minimum volume) is not degraded but down.
BROKEN_RATE = 0.5
CHECK_TIMEOUT_SECONDS = 3.0


@dataclass
class ComponentStatus:
    status: str  # ok, degraded, down, unknown
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


Check = Callable[[Database], Awaitable[ComponentStatus]]
_components: dict[str, Check] = {}


def register_component(name: str, check: Check) -> None:
    """Add (or replace) a component on the status page. Checks report; they should not raise."""
    _components[name] = check


async def _run(name: str, check: Check, db: Database) -> tuple[str, ComponentStatus]:
    try:
        return name, await asyncio.wait_for(check(db), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return name, ComponentStatus("down", f"no answer within {CHECK_TIMEOUT_SECONDS:g} s")
    except Exception as exc:  # the page must render whatever one component does
        return name, ComponentStatus("down", f"check failed: {type(exc).__name__}")


async def _display_zone(db: Database) -> str:
    """The zone people read the page in: the tenants' zone when they share one (the usual case), else UTC."""
    try:
        async with db.read_session() as session:
            zones = {t.timezone for t in await tenants.list_all(session, AllTenants())}
    except Exception:  # the page must render with the database down
        return DEFAULT_ZONE
    return zones.pop() if len(zones) == 1 else ("UTC" if zones else DEFAULT_ZONE)


async def collect(db: Database) -> dict[str, Any]:
    results = await asyncio.gather(*(_run(n, c, db) for n, c in _components.items()))
    zone = await _display_zone(db)
    components = {name: {"status": r.status, "summary": r.summary, **({"details": r.details} if r.details else {})}
                  for name, r in results}
    worst = "ok"
    for r in components.values():
        if r["status"] == "down":
            worst = "down"
        elif r["status"] == "degraded" and worst == "ok":
            worst = "degraded"
    now = clock.now()
    return {"status": worst, "version": __version__, "checked_at": now.isoformat(),
            "checked_at_local": clock.local_text(now, zone), "timezone": zone, "components": components}


# --- the built-in components -------------------------------------------------------------------------------------

async def api_check(_db: Database) -> ComponentStatus:
    return ComponentStatus("ok", "answering", {"version": __version__})


async def database_check(db: Database) -> ComponentStatus:
    started = time.perf_counter()
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    ms = round((time.perf_counter() - started) * 1000, 1)
    return ComponentStatus("ok", f"{db.dialect}, answered in {ms} ms", {"dialect": db.dialect, "latency_ms": ms})


async def workers_check(db: Database) -> ComponentStatus:
    async with db.read_session() as session:
        report = await automation_status.worker_status(session, clock.now())
    running = [w for w in report["workers"] if w["state"] != "stopped"]
    ages = {w["name"]: w["heartbeat_age_s"] for w in running}
    if not running:
        return ComponentStatus("down", "no workers are running", {"heartbeat_age_seconds": {}})
    alive = report["alive"]
    status = "ok" if alive == len(running) else ("degraded" if alive else "down")
    return ComponentStatus(status, f"{alive} of {len(running)} workers beat within "
                                   f"{int(automation_status.ALIVE_WITHIN.total_seconds())} s",
                           {"heartbeat_age_seconds": ages})


async def queue_check(db: Database) -> ComponentStatus:
    now = clock.now()
    async with db.read_session() as session:
        rows = await runs.due_queued_by_workflow(session, AllTenants(), now)
    per: dict[str, dict[str, Any]] = {}
    for workflow, depth, oldest in rows:
        oldest = oldest if not isinstance(oldest, str) else dt.datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        lag = round((now - oldest).total_seconds(), 1) if oldest else 0.0
        per[workflow] = {"depth": int(depth), "oldest_due_age_seconds": lag}
    worst = max((v["oldest_due_age_seconds"] for v in per.values()), default=0.0)
    status = "ok" if worst < 60 else ("degraded" if worst < 900 else "down")
    depth = sum(v["depth"] for v in per.values())
    return ComponentStatus(status, f"{depth} due runs waiting, oldest {worst:g} s", {"workflows": per})


async def lead_capture_check(db: Database) -> ComponentStatus:
    # Counts come from every API process via the per-minute tally table (see intake/tally.py).
    await tally.flush(db)
    async with db.read_session() as session:
        counts = await recent_outcomes(session, ERROR_RATE_WINDOW_MINUTES)
    per: dict[str, Any] = {}
    total = errors = 0
    for tenant, outcomes in counts.items():
        t_total = sum(outcomes.values())
        t_errors = outcomes.get("error", 0)
        total, errors = total + t_total, errors + t_errors
        per[tenant] = {"requests": t_total, "errors": t_errors,
                       "error_rate": round(t_errors / t_total, 4) if t_total else 0.0, "outcomes": outcomes}
    rate = errors / total if total else 0.0
    status = "ok" if rate <= 0.02 else ("degraded" if rate <= 0.2 else "down")
    return ComponentStatus(status, f"error rate {rate:.1%} over {total} requests in the last "
                                   f"{ERROR_RATE_WINDOW_MINUTES} minutes",
                           {"window_minutes": ERROR_RATE_WINDOW_MINUTES, "error_rate": round(rate, 4),
                            "tenants": per})


async def automation_check(db: Database) -> ComponentStatus:
    """Whether automations work: failure rate per workflow against the 2% line (last 10 minutes), dead runs of
    the last day, runs waiting for a retry, paused workflows, the watchdog's firing alerts, and who alerts."""
    now = clock.now()
    async with db.read_session() as session:
        health = await automation_status.automation_health(session, now, AllTenants())
        firing = await watchdog.firing(session)
        seen = await watchdog.alertmanager_seen(session)
        all_tenants = await tenants.list_all(session, AllTenants())
    slugs = {t.id: t.slug for t in all_tenants}
    flows = {f"{f['tenant']}/{f['workflow']}": f for f in health["workflows"]}
    over = [name for name, f in flows.items() if f["over_2_percent"]]
    broken = [name for name, f in flows.items()
              if f["finished"] >= automation_status.FAILURE_MIN_FINISHED and f["failure_rate"] >= BROKEN_RATE]
    dead = sum(f["dead_24h"] for f in flows.values())
    retrying = sum(f["retrying"] for f in flows.values())
    paused = [name for name, f in flows.items() if f["paused"]]
    alerts = [f"{slugs.get(t, t)}/{w}" for t, w, _rate in firing]
    problems = []
    if over or alerts:
        problems.append(f"failure rate above 2% in the last 10 minutes: {', '.join(sorted(set(over + alerts)))}")
    if dead:
        problems.append(f"{dead} dead run(s) in the last 24 h (crm runs list --status dead)")
    if retrying:
        problems.append(f"{retrying} run(s) waiting for a retry")
    if paused:
        problems.append(f"paused: {', '.join(paused)}")
    status = "down" if broken else ("degraded" if problems else "ok")
    summary = "; ".join(problems) if problems else f"{len(flows)} workflow(s) within the 2% failure line"
    alerting = {t.slug: watchdog.alerting_path(t, seen.get(t.id), now) for t in all_tenants}
    zones = {t.slug: t.timezone for t in all_tenants}
    for flow in flows.values():
        if flow.get("paused_at") is not None:
            at = flow["paused_at"]
            flow["paused_at"] = at.isoformat()
            flow["paused_at_local"] = clock.local_text(at, zones.get(flow["tenant"], DEFAULT_ZONE))
    return ComponentStatus(status, summary, {
        "failure_line": automation_status.FAILURE_THRESHOLD, "window_minutes": 10,
        "dead_runs_24h": dead, "retrying_runs": retrying, "paused_workflows": paused,
        "watchdog_firing": alerts, "alerting": alerting, "workflows": flows})


async def rate_limits_check(db: Database) -> ComponentStatus:
    async with db.session() as session:
        await ratelimits.revert_expired(session)
        profiles = {}
        for tenant in await tenants.list_all(session, AllTenants()):
            current = await ratelimits.current(session, tenant)
            profiles[tenant.slug] = {"profile": current.profile, "default": current.default_profile,
                                     "until": current.until.isoformat() if current.until else None,
                                     "until_local": clock.local_text(current.until, tenant.timezone)
                                     if current.until else None}
    switched = [s for s, p in profiles.items() if p["profile"] != p["default"]]
    summary = "all tenants on their default profile" if not switched else f"switched: {', '.join(switched)}"
    return ComponentStatus("ok", summary, {"tenants": profiles})


for _name, _check in (("api", api_check), ("database", database_check), ("workers", workers_check),
                      ("queue", queue_check), ("automation", automation_check), ("lead_capture", lead_capture_check),
                      ("rate_limits", rate_limits_check)):
    register_component(_name, _check)


# --- rendering ---------------------------------------------------------------------------------------------------

def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and "application/json" not in accept.split("text/html")[0]


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for name, comp in report["components"].items():
        details = e(str(comp.get("details", "")))
        rows.append(f"<tr class=\"{e(comp['status'])}\"><td>{e(name)}</td><td>{e(comp['status'])}</td>"
                    f"<td>{e(comp['summary'])}</td><td><code>{details}</code></td></tr>")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>RentGuy CRM status</title>"
        "<meta http-equiv=\"refresh\" content=\"30\"><style>body{font-family:sans-serif;margin:2em}"
        "td,th{padding:.3em .8em;text-align:left;vertical-align:top}.ok td:nth-child(2){color:#176f2c}"
        ".degraded td:nth-child(2){color:#a66b00}.down td:nth-child(2){color:#b00020}</style></head><body>"
        f"<h1>RentGuy CRM status: {e(report['status'])}</h1><p>checked {e(report['checked_at_local'])} "
        f"(times in {e(report['timezone'])}), "
        f"version {e(report['version'])}</p><table><tr><th>component</th><th>status</th><th>summary</th>"
        f"<th>details</th></tr>{''.join(rows)}</table></body></html>"
    )


@router.get("/status", summary="Health of each component the playbook checks first (JSON or HTML)")
async def status_page(request: Request) -> Response:
    report = await collect(request.app.state.db)
    code = 503 if report["status"] == "down" else 200
    if wants_html(request):
        return HTMLResponse(render_html(report), status_code=code)
    return JSONResponse(report, status_code=code)
