"""The run queue on `crm_automation_runs`: claim due runs under a lease, renew, fence, release.

A running run's `run_after` is its lease expiry, so one range scan of the partial index on active statuses
finds both due runs and runs whose worker died: an expired lease is simply due again.
Postgres claims with `FOR UPDATE SKIP LOCKED`; SQLite serialises writers with `BEGIN IMMEDIATE`.
This module is the queue's repository: it holds every statement of the claim path (claim, renew, release,
NOTIFY), kept as hand-written SQL so the claim uses the partial index on active statuses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Integer, String, bindparam, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session as SyncSession

from rentguy_crm import db as dbmod
from rentguy_crm.db import IdType

NOTIFY_CHANNEL = "crm_runs"


@dataclass
class ClaimedRun:
    id: int
    tenant_id: int
    workflow_id: int | None
    workflow_key: str
    attempt: int
    max_attempts: int
    lead_id: int | None
    deal_id: int | None
    created_at: dt.datetime
    # The run's state as claimed; only the lease holder changes it, and every write is fenced on the lease.
    current_step: int = 0
    step_log: list[Any] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    # For the SLA check at completion: a run that finishes after its due time counts as a breach.
    sla_due_at: dt.datetime | None = None
    sla_breached: bool = False


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes can fail with
    # SQLITE_BUSY instead of waiting when another process wrote in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def queue_engine(url: str | None = None) -> AsyncEngine:
    """The engine workers use. On SQLite every transaction is BEGIN IMMEDIATE (the dedicated claim path)."""
    url = dbmod.resolve_database_url(url or dbmod.get_settings().database_url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", dbmod._sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return dbmod.create_engine(url, pool_size=20, max_overflow=10, pool_recycle=300)


class QueueDatabase(dbmod.Database):
    """A `Database` whose sessions take SQLite's write lock at BEGIN."""

    def __init__(self, url: str | None = None) -> None:
        self.settings = dbmod.get_settings()
        self.url = dbmod.resolve_database_url(url or self.settings.database_url)
        self.engine = queue_engine(self.url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)


_NOT_PAUSED = ("NOT EXISTS (SELECT 1 FROM crm_workflow_pauses p "
               "WHERE p.tenant_id = r.tenant_id AND p.workflow_key = r.workflow_key)")
_RETURNING = ("id, tenant_id, workflow_id, workflow_key, attempt, max_attempts, lead_id, deal_id, created_at, "
              "current_step, step_log, context, started_at, sla_due_at, sla_breached")


def _filters(tenant_ids: Sequence[int] | None, workflow_keys: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if tenant_ids:
        clauses.append("r.tenant_id IN :tenant_ids")
        params["tenant_ids"] = list(tenant_ids)
    if workflow_keys:
        clauses.append("r.workflow_key IN :workflow_keys")
        params["workflow_keys"] = list(workflow_keys)
    return "".join(f" AND {c}" for c in clauses), params


async def claim_due_runs(session: AsyncSession, *, owner: str, now: dt.datetime, lease: dt.timedelta, limit: int,
                         tenant_ids: Sequence[int] | None = None,
                         workflow_keys: Sequence[str] | None = None) -> list[ClaimedRun]:
    """Claim up to `limit` due runs of unpaused workflows in one statement; each gets `owner`'s lease.

    A run resumed from `waiting` does not spend an attempt; a rescued one (expired lease) does.
    """
    where, params = _filters(tenant_ids, workflow_keys)
    lock = " FOR UPDATE SKIP LOCKED" if dialect_of(session) == "postgresql" else ""
    stmt = text(
        "UPDATE crm_automation_runs SET status = 'running', lease_owner = :owner, lease_expires_at = :expires, "
        "run_after = :expires, started_at = COALESCE(started_at, :now), updated_at = :now, "
        "attempt = CASE WHEN status = 'waiting' THEN attempt ELSE attempt + 1 END "
        "WHERE id IN (SELECT r.id FROM crm_automation_runs r "
        f"WHERE r.status IN ('queued', 'waiting', 'running') AND r.run_after <= :now AND {_NOT_PAUSED}{where} "
        f"ORDER BY r.run_after, r.id LIMIT :limit{lock}) "
        f"RETURNING {_RETURNING}"
    ).columns(id=IdType, tenant_id=IdType, workflow_id=IdType, workflow_key=String(), attempt=Integer(),
              max_attempts=Integer(), lead_id=IdType, deal_id=IdType, created_at=dbmod.UTCDateTime(),
              current_step=Integer(), step_log=dbmod.JSONType, context=dbmod.JSONType,
              started_at=dbmod.UTCDateTime(), sla_due_at=dbmod.UTCDateTime(), sla_breached=Boolean())
    if "tenant_ids" in params:
        stmt = stmt.bindparams(bindparam("tenant_ids", expanding=True))
    if "workflow_keys" in params:
        stmt = stmt.bindparams(bindparam("workflow_keys", expanding=True))
    rows = (await session.execute(stmt, {"owner": owner, "now": _bind_time(session, now),
                                         "expires": _bind_time(session, now + lease), "limit": limit,
                                         **params})).all()
    return sorted((ClaimedRun(id=r.id, tenant_id=r.tenant_id, workflow_id=r.workflow_id,
                              workflow_key=r.workflow_key, attempt=r.attempt, max_attempts=r.max_attempts,
                              lead_id=r.lead_id, deal_id=r.deal_id, created_at=r.created_at,
                              current_step=r.current_step, step_log=list(r.step_log or []),
                              context=dict(r.context or {}), started_at=r.started_at,
                              sla_due_at=r.sla_due_at, sla_breached=bool(r.sla_breached)) for r in rows),
                  key=lambda c: c.id)


async def renew_leases(session: AsyncSession, *, owner: str, run_ids: Sequence[int], now: dt.datetime,
                       lease: dt.timedelta) -> int:
    """Heartbeat: push the lease of this worker's in-flight runs. Rows a step holds locked renew at its commit."""
    if not run_ids:
        return 0
    expires = _bind_time(session, now + lease)
    postgres = dialect_of(session) == "postgresql"
    inner = ("SELECT id FROM crm_automation_runs WHERE id IN :ids AND lease_owner = :owner AND status = 'running'"
             + (" FOR UPDATE SKIP LOCKED" if postgres else ""))
    stmt = text(f"UPDATE crm_automation_runs SET lease_expires_at = :expires, run_after = :expires "
                f"WHERE id IN ({inner})").bindparams(bindparam("ids", expanding=True))
    result = await session.execute(stmt, {"expires": expires, "owner": owner, "ids": list(run_ids)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def release_runs(session: AsyncSession, *, owner: str, run_ids: Sequence[int], now: dt.datetime) -> int:
    """Give unfinished runs back to the queue (worker stopping): due now, the attempt not spent."""
    if not run_ids:
        return 0
    stmt = text("UPDATE crm_automation_runs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
                "run_after = :now, attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, updated_at = :now "
                "WHERE id IN :ids AND lease_owner = :owner AND status = 'running'"
                ).bindparams(bindparam("ids", expanding=True))
    result = await session.execute(stmt, {"now": _bind_time(session, now), "owner": owner, "ids": list(run_ids)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _bind_time(session: AsyncSession, value: dt.datetime) -> Any:
    # Raw SQL skips the UTCDateTime type: SQLite stores naive UTC text, Postgres takes aware values.
    value = value.astimezone(dt.UTC)
    if dialect_of(session) == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # the text form SQLAlchemy stores, so comparisons hold
    return value


def _read_time(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


bind_time = _bind_time
read_time = _read_time


# Workers in this process (embedded mode) wait on these; the commit that creates runs wakes them.
_LOCAL_WAKERS: list[Any] = []


def add_local_waker(callback: Any) -> None:
    _LOCAL_WAKERS.append(callback)


def remove_local_waker(callback: Any) -> None:
    if callback in _LOCAL_WAKERS:
        _LOCAL_WAKERS.remove(callback)


async def wake_workers(session: AsyncSession) -> None:
    """NOTIFY on Postgres is delivered at commit (and dropped on rollback), like the runs themselves."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    runs_written(session)


def runs_written(session: AsyncSession) -> None:
    """Wake this process's embedded workers at commit. A caller that wrote runs in its own statement calls
    this, and sends `pg_notify(NOTIFY_CHANNEL, '')` in that statement for the other processes."""
    session.sync_session.info["crm_runs_created"] = True


@event.listens_for(SyncSession, "after_commit")
def _wake_local_workers(session: SyncSession) -> None:
    if session.info.pop("crm_runs_created", False):
        for callback in list(_LOCAL_WAKERS):
            callback()


@event.listens_for(SyncSession, "after_rollback")
def _forget_on_rollback(session: SyncSession) -> None:
    session.info.pop("crm_runs_created", None)
