"""What the suite can do itself for a runbook step. Each action calls the service the playbook's command calls
and answers text for the incident's timeline: `run_action(session, scope, action_key, params)`.

Actions that change something (pause, resume, rate-limit switch) are audited by those services with the actor in
`params["actor"]`. Output holds no e-mail addresses or phone numbers (run errors are masked)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import rentguy_crm
from rentguy_crm.auth.service import job_scope
from rentguy_crm.automation.runs import service as automation
from rentguy_crm.db import Database
from rentguy_crm.errors import NotFound, ValidationFailed
from rentguy_crm.kit import clock
from rentguy_crm.kit.durations import format_duration, parse_duration
from rentguy_crm.ratelimit import service as ratelimit
from rentguy_crm.templates import cloning
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import TenantScope

Action = Callable[[AsyncSession, Tenant, dict[str, Any]], Awaitable[str]]
# The `/status` report lives in the web layer, above this one: the app and the CLI register it at start-up.
StatusReport = Callable[[Database], Awaitable[dict[str, Any]]]
_status_report: StatusReport | None = None


def register_status_report(report: StatusReport | None) -> None:
    """Set what `attach_status` reports (`web.status.collect`); None removes it."""
    global _status_report
    _status_report = report

SMOKE_TIMEOUT_SECONDS = 600
ERRORS_SHOWN = 20
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d \-]{7,}\d")


def _masked(text: str) -> str:
    return PHONE.sub("<telefoon>", EMAIL.sub("<e-mail>", text))


def _required(params: dict[str, Any], name: str, action: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{action}: the parameter '{name}' is required",
                               errors=[{"field": f"params.{name}", "message": "required"}])
    return value.strip()


def _duration(params: dict[str, Any], name: str, action: str, default: str | None = None) -> dt.timedelta:
    raw = params.get(name, default)
    try:
        return parse_duration(str(_required({name: raw}, name, action)), unit_required=True)
    except ValueError as exc:
        raise ValidationFailed(f"{action}: {name}: {exc}", errors=[{"field": f"params.{name}",
                                                                     "message": str(exc)}]) from None


def _actor(params: dict[str, Any]) -> str:
    return str(params.get("actor") or "runbook")[:200]


class _CallerDatabase:
    """The caller's session standing in for the `Database` the status checks take, one check at a time.

    The checks open sessions and connections of their own; on SQLite those wait for the write lock the caller's
    transaction holds, so they would all time out. Through the caller's session they read (and, for expired
    rate-limit switches, revert) within its transaction, as the status page would right after it."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._lock = asyncio.Lock()
        self.dialect = session.get_bind().dialect.name
        self.engine = self

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            yield self._session

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.session(read_only=True)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock:
            yield await self._session.connection()


async def attach_status(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """The `/status` report as text (runbook 2.1 step 1, 2.2 step 2): every component, as `GET /status` shows it."""
    if _status_report is None:
        return "/status: not available in this process (no status report registered); see GET /status"
    report = await _status_report(cast(Database, _CallerDatabase(session)))
    lines = [f"/status {report['checked_at_local']}: {report['status']}"]
    for name, component in report["components"].items():
        lines.append(f"- {name}: {component['status']} — {component['summary']}")
    return "\n".join(lines)


async def attach_flow_errors(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """The recent failed and dead runs of a workflow (or of all, without `workflow`) in the last `since`
    (default 1h), newest first, with their last error (runbook 2.2 step 3: `crm runs list --status failed`)."""
    workflow = params.get("workflow") or None
    since = _duration(params, "since", "attach_flow_errors", "1h")
    start = clock.now() - since
    runs, total = [], 0
    for wanted in ("failed", "dead"):
        rows, count = await automation.list_runs(session, job_scope(tenant.id), workflow=workflow, status=wanted,
                                                 since=start, limit=ERRORS_SHOWN)
        runs += rows
        total += count
    runs.sort(key=lambda run: run.id, reverse=True)
    scope = f"workflow {workflow}" if workflow else "all workflows"
    head = f"{total} failed or dead run(s) of {scope} in the last {format_duration(since)}"
    if not runs:
        return head + "."
    shown = runs[:ERRORS_SHOWN]
    lines = [head + (f" (newest {len(shown)} shown)" if total > len(shown) else "") + ":"]
    for run in shown:
        error = _masked(f"{run.last_error_type or 'error'}: {run.last_error_message or ''}".strip())[:300]
        lines.append(f"- run {run.id} {run.workflow_key} v{run.workflow_version} {run.status} "
                     f"(attempt {run.attempt}/{run.max_attempts}, {clock.local_text(run.created_at, tenant.timezone)})"
                     f": {error}")
    return "\n".join(lines)


async def pause_workflow(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """Pause a workflow (runbook 2.2 step 4: `automation/workers.py pause`): new runs queue, none is claimed."""
    key = _required(params, "workflow", "pause_workflow")
    now = clock.now()
    pause = await automation.pause_workflow(session, tenant, key, actor=_actor(params),
                                            reason=params.get("reason") or None, now=now)
    if pause.paused_at != now:
        return f"workflow {key} was already paused since {clock.local_text(pause.paused_at, tenant.timezone)}"
    return (f"workflow {key} paused at {clock.local_text(now, tenant.timezone)}; new runs wait in the queue "
            f"(resume: automation/workers.py resume --tenant {tenant.slug} --workflow {key})")


async def resume_workflow(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    key = _required(params, "workflow", "resume_workflow")
    if await automation.resume_workflow(session, tenant, key, actor=_actor(params)):
        return f"workflow {key} resumed; workers claim its queued runs again"
    return f"workflow {key} was not paused"


async def switch_rate_limit_profile(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """Switch the rate-limit profile for a while (runbook 2.1 step 2: `crm ratelimit set relaxed --for 2h`)."""
    profile = _required(params, "profile", "switch_rate_limit_profile")
    duration = _duration(params, "for", "switch_rate_limit_profile")
    try:
        current = await ratelimit.set_profile(session, tenant, profile, actor=_actor(params), duration=duration)
    except ValueError as exc:
        raise ValidationFailed(f"switch_rate_limit_profile: {exc}",
                               errors=[{"field": "params.profile", "message": str(exc)}]) from None
    until = clock.local_text(current.until, tenant.timezone) if current.until else "further notice"
    return f"rate-limit profile {current.profile} for {format_duration(duration)}, until {until}; then back by itself"


def _suite_checkout() -> Path | None:
    root = Path(rentguy_crm.__file__).resolve().parents[2]
    return root if (root / "tests" / "test_tenant_smoke.py").exists() else None


def _smoke_environment() -> dict[str, str]:
    # The smoke tests run on a scratch database of their own; a named test database in the environment would be
    # emptied by them, so it is never passed on.
    return {name: value for name, value in os.environ.items() if name != "CRM_TEST_DATABASE_URL"}


async def run_sso_smoke_test(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """`pytest -m tenant_smoke --tenant=T --case=sso` (runbook 2.3 step 2), its summary lines as output."""
    root = _suite_checkout()
    if root is None:
        return ("SSO smoke test not available here: the suite's tests are not installed next to the package; "
                f"run `pytest -m tenant_smoke --tenant={tenant.slug} --case=sso` on an ops host")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-m", "tenant_smoke", f"--tenant={tenant.slug}", "--case=sso", "-q",
        "-p", "no:cacheprovider", cwd=root, env=_smoke_environment(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SMOKE_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        return f"SSO smoke test stopped after {SMOKE_TIMEOUT_SECONDS}s without a result"
    tail = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()][-5:]
    verdict = "passed" if process.returncode == 0 else f"failed (exit {process.returncode})"
    return "\n".join([f"SSO smoke test for {tenant.slug}: {verdict}", *(_masked(line) for line in tail)])


async def template_clone_dry_run(session: AsyncSession, tenant: Tenant, params: dict[str, Any]) -> str:
    """Which templates are live and what a clone from the library would do (runbook 5:
    `automation/tools/clone_templates.py --dry-run`); writes nothing."""
    report = await cloning.clone(session, tenant.slug, dry_run=True, actor=_actor(params))
    lines = [report.summary]
    for row in report.rows:
        live = f"live v{row.live_version}" if row.live_version else "not live"
        lines.append(f"- {row.key} ({row.channel}, {row.language}): {live}, {row.action}")
    return "\n".join(lines)


ACTIONS: dict[str, Action] = {
    "attach_status": attach_status,
    "attach_flow_errors": attach_flow_errors,
    "pause_workflow": pause_workflow,
    "resume_workflow": resume_workflow,
    "switch_rate_limit_profile": switch_rate_limit_profile,
    "run_sso_smoke_test": run_sso_smoke_test,
    "template_clone_dry_run": template_clone_dry_run,
}


async def run_action(session: AsyncSession, scope: TenantScope, action_key: str, params: dict[str, Any]) -> str:
    """Run a runbook action for the scope's tenant and answer its text output. Unknown actions and missing or bad
    parameters are `ValidationFailed` (422) naming them; flushes, never commits."""
    action = ACTIONS.get(action_key)
    if action is None:
        raise ValidationFailed(f"unknown runbook action {action_key!r}; known: {', '.join(sorted(ACTIONS))}",
                               errors=[{"field": "action", "message": "unknown"}])
    tenant = await tenants.by_scope(session, scope)
    if tenant is None:
        raise NotFound("No such tenant.")
    return await action(session, tenant, dict(params))
