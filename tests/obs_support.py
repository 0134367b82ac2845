"""Builders and process helpers shared by the observability tests."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from tests.worker_support import HANG

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


async def add_workflow(db: Database, tenant: Tenant, key: str, *, sla: str = "15m", enabled: bool = True) -> Workflow:
    async with db.session() as session:
        wf = Workflow(tenant_id=tenant.id, key=key, version=1, name=key, triggers=["lead.created"],
                      definition={"key": key, "sla": sla}, checksum="x" * 64, is_current=True, enabled=enabled)
        session.add(wf)
        await session.flush()
        return wf


async def add_runs(db: Database, tenant: Tenant, key: str, status: str, count: int, *,
                   created_at: dt.datetime, duration: dt.timedelta | None = None,
                   sla: dt.timedelta = dt.timedelta(minutes=15), error: str | None = None,
                   run_after: dt.datetime | None = None) -> list[AutomationRun]:
    runs = []
    async with db.session() as session:
        for _ in range(count):
            finished = status in ("succeeded", "failed", "dead", "cancelled")
            completed = created_at + (duration or dt.timedelta(seconds=1)) if finished else None
            run = AutomationRun(
                tenant_id=tenant.id, workflow_key=key, workflow_version=1, trigger_type="lead.created",
                subject_type="lead", status=status, attempt=1, max_attempts=5,
                run_after=run_after or created_at, created_at=created_at, updated_at=completed or created_at,
                started_at=created_at if finished else None, completed_at=completed,
                duration_ms=int((completed - created_at).total_seconds() * 1000) if completed else None,
                current_step=0, step_log=[], context={}, sla_due_at=created_at + sla,
                sla_breached=bool(completed and completed - created_at > sla),
                last_error_type="PermanentDeliveryError" if error else None, last_error_message=error,
            )
            session.add(run)
            runs.append(run)
        await session.flush()
    return runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = HANG, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait for a started server to answer; the ceiling only catches a server that never comes up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None
