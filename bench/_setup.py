"""Shared set-up of the automation benchmarks: a dedicated database, a tenant and one-step workflows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any

import psycopg
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

DEFAULT_URL = os.environ.get("CRM_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench")
# The throughput and latency benchmarks reset their tenant's runs, so they use a database of their own and
# never touch the history claim_speed.py builds.
QUEUE_BENCH_URL = os.environ.get("CRM_BENCH_QUEUE_DATABASE_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_queue")


def prepare_database(url: str) -> None:
    """Create the bench database if needed and migrate it (the run table is the real one)."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    os.environ["CRM_DATABASE_URL"] = url
    from rentguy_crm import migrate
    from rentguy_crm.config import reset_settings_cache

    reset_settings_cache()
    migrate.upgrade("head", url=url)


def plain_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_tenant_and_workflow(db: Any, steps: list[dict[str, Any]], key: str = "bench_noop",
                                     keep_history: bool = False) -> tuple[int, int]:
    from rentguy_crm.automation.workflows.models import Workflow
    from rentguy_crm.tenants.models import Tenant

    async with db.session() as session:
        tenant_id = await session.scalar(text("SELECT id FROM tenants WHERE slug = 'bench'"))
        if tenant_id is None:
            tenant = Tenant(slug="bench", name="Bench", aliases=[], config={}, config_checksum="")
            session.add(tenant)
            await session.flush()
            tenant_id = tenant.id
        doc = {"key": key, "name": key, "triggers": [{"event": "lead.created"}], "steps": steps,
               "retry": {"max_attempts": 3}}
        checksum = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        if keep_history:
            existing = await session.scalar(text("SELECT id FROM workflows WHERE tenant_id = :t AND key = :k"),
                                            {"t": tenant_id, "k": key})
            if existing is not None:
                return int(tenant_id), int(existing)
        workflow = Workflow(tenant_id=tenant_id, key=key, version=1, name=key, triggers=["lead.created"],
                            definition=doc, checksum=checksum, is_current=True, enabled=True)
        await session.execute(text("DELETE FROM crm_automation_runs WHERE tenant_id = :t"), {"t": tenant_id})
        await session.execute(text("DELETE FROM workflows WHERE tenant_id = :t"), {"t": tenant_id})
        session.add(workflow)
        await session.flush()
        return int(tenant_id), workflow.id


async def insert_runs(db: Any, tenant_id: int, workflow_id: int, count: int, key: str = "bench_noop",
                      status: str = "queued") -> None:
    from rentguy_crm.automation.runs.models import AutomationRun

    now = dt.datetime.now(dt.UTC)
    row = {"tenant_id": tenant_id, "workflow_id": workflow_id, "workflow_key": key, "workflow_version": 1,
           "trigger_type": "bench", "subject_type": "none", "status": status, "attempt": 0, "max_attempts": 3,
           "run_after": now, "current_step": 0, "step_log": [], "context": {}, "sla_breached": False,
           "created_at": now, "updated_at": now}
    async with db.session() as session:
        for start in range(0, count, 2000):
            await session.execute(insert(AutomationRun), [row] * min(2000, count - start))
