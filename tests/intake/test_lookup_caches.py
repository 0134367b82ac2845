"""The per-process caches on the lead-capture path: API-key principals and a tenant's current workflows.

Each is trusted for a few seconds; a change made elsewhere (another API process, a SQL console) is seen once
that time is up, and a change made through this process's own code is seen at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select, update

from rentguy_crm.auth import service as keys
from rentguy_crm.auth.models import ApiKey
from rentguy_crm.automation.engine import dispatch
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.db import Database, utcnow
from rentguy_crm.kit import ttl_cache
from tests.automation_support import install_workflow, workflow_doc

SERVER = "/api/v1/leads"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def body(n: int) -> dict[str, Any]:
    return {"first_name": "Anna", "email": f"anna{n}@example.nl", "event_type": "bruiloft"}


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    ttl_cache.set_clock(fake)
    # The workflow cache of `automation.dispatch` keeps its own clock until it moves onto `kit.ttl_cache`.
    monkeypatch.setattr(dispatch, "_monotonic", fake)
    return fake


async def _revoke_elsewhere(db: Database, key_id: int) -> None:
    """What another API process's revocation looks like from here: the row changes, this process is not told."""
    async with db.session() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))


async def _key_id(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.max(ApiKey.id))) or 0)


async def test_key_revoked_in_another_process_stops_working_within_the_cache_time(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    headers = await factory.headers(mrdj, "sales")
    assert (await client.post(SERVER, json=body(1), headers=headers)).status_code == 201
    await _revoke_elsewhere(db, await _key_id(db))
    monotonic.now += keys.PRINCIPAL_CACHE_SECONDS + 0.1
    response = await client.post(SERVER, json=body(2), headers=headers)
    assert response.status_code == 401


async def test_key_revoked_elsewhere_may_work_until_the_cache_time_is_up(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    headers = await factory.headers(mrdj, "sales")
    assert (await client.post(SERVER, json=body(1), headers=headers)).status_code == 201
    await _revoke_elsewhere(db, await _key_id(db))
    monotonic.now += keys.PRINCIPAL_CACHE_SECONDS - 1
    assert (await client.post(SERVER, json=body(2), headers=headers)).status_code == 201


async def test_key_revoked_through_this_process_stops_working_at_once(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    headers = await factory.headers(mrdj, "sales")
    assert (await client.post(SERVER, json=body(1), headers=headers)).status_code == 201
    async with db.session() as session:
        await keys.revoke_key(session, await _key_id(db), actor="test")
    assert (await client.post(SERVER, json=body(2), headers=headers)).status_code == 401


async def test_unknown_key_is_never_cached_as_valid(client: httpx.AsyncClient, mrdj,
                                                    monotonic: FakeMonotonic) -> None:
    headers = {"Authorization": "Bearer rg_not-a-key"}
    for n in range(2):
        assert (await client.post(SERVER, json=body(n), headers=headers)).status_code == 401


async def _runs(db: Database) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = await session.scalars(select(AutomationRun).order_by(AutomationRun.id))
        return [(r.workflow_key, r.workflow_version) for r in rows]


async def _disable_elsewhere(db: Database, key: str) -> None:
    """A change by another process: a plain SQL update this process's ORM listeners do not see."""
    async with db.session() as session:
        await session.connection()
        table: Table = Workflow.__table__  # type: ignore[assignment]
        await session.execute(table.update().where(table.c.key == key).values(enabled=False))


async def test_workflow_disabled_elsewhere_is_seen_by_dispatch_within_the_cache_time(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    headers = await factory.headers(mrdj, "sales")
    first = (await client.post(SERVER, json=body(1), headers=headers)).json()
    await _disable_elsewhere(db, "lead_intake")
    monotonic.now += dispatch.WORKFLOW_CACHE_SECONDS + 0.1
    second = (await client.post(SERVER, json=body(2), headers=headers)).json()
    assert (first["automation_triggered"], second["automation_triggered"]) == (True, False)
    assert await _runs(db) == [("lead_intake", 1)]


async def test_new_workflow_version_written_in_this_process_is_used_at_once(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    v1 = await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    headers = await factory.headers(mrdj, "sales")
    await client.post(SERVER, json=body(1), headers=headers)
    async with db.session() as session:  # what `crm workflows sync` does: retire v1, store v2 (ORM)
        old = await session.get(Workflow, v1.id)
        assert old is not None
        old.is_current = False
    await install_workflow(db, mrdj, workflow_doc("lead_intake", sla="30m"), version=2)
    await client.post(SERVER, json=body(2), headers=headers)
    assert await _runs(db) == [("lead_intake", 1), ("lead_intake", 2)]


async def test_first_workflow_installed_in_this_process_starts_runs_at_once(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monotonic: FakeMonotonic) -> None:
    headers = await factory.headers(mrdj, "sales")
    before = (await client.post(SERVER, json=body(1), headers=headers)).json()
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    after = (await client.post(SERVER, json=body(2), headers=headers)).json()
    assert (before["automation_triggered"], after["automation_triggered"]) == (False, True)


async def test_new_person_costs_one_statement_between_begin_and_commit_on_postgres(
        client: httpx.AsyncClient, db: Database, factory, mrdj, monkeypatch: pytest.MonkeyPatch) -> None:
    """The round-trip budget of a new lead: the key, tenant, profile and workflows come from the caches, and
    contact, lead, `lead.created` and its run are one statement."""
    if db.dialect != "postgresql":
        pytest.skip("the one-statement store is Postgres only; SQLite stores step by step")
    from sqlalchemy import event

    from rentguy_crm.intake.tally import tally

    monkeypatch.setattr(tally, "last_flush", float("inf"))  # the status tally's own flush is not the request's
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    headers = await factory.headers(mrdj, "sales")
    assert (await client.post(SERVER, json=body(1), headers=headers)).status_code == 201  # fills the caches
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        response = await client.post(SERVER, json=body(2), headers=headers)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert response.status_code == 201 and response.json()["automation_triggered"] is True
    assert statements == ["WITH"]
    assert await _runs(db) == [("lead_intake", 1), ("lead_intake", 1)]


async def test_a_new_lead_that_starts_two_workflows_stores_both_runs(
        client: httpx.AsyncClient, db: Database, factory, mrdj) -> None:
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    await install_workflow(db, mrdj, workflow_doc("lead_followup"))
    headers = await factory.headers(mrdj, "sales")
    for n in (1, 2):  # the second goes through the cached statement of the same shape
        response = await client.post(SERVER, json=body(n), headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["automation_triggered"] is True
    assert sorted(await _runs(db)) == [("lead_followup", 1), ("lead_followup", 1), ("lead_intake", 1),
                                       ("lead_intake", 1)]
