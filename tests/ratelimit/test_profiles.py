"""Rate-limit profiles: headers, profile sizes, per-tenant overrides, temporary switches and their revert."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.cli import app as cli
from rentguy_crm.db import Database
from rentguy_crm.kit import clock
from rentguy_crm.kit.clock import ManualClock
from rentguy_crm.ratelimit import service
from rentguy_crm.tenants.models import Tenant
from tests.intake.test_pipeline import PUBLIC, form


async def post_many(client: httpx.AsyncClient, n: int) -> list[httpx.Response]:
    return [await client.post(PUBLIC, json=form(email=f"p{i}@example.nl")) for i in range(n)]


async def switch(db: Database, tenant: Tenant, profile: str, duration: dt.timedelta | None = None,
                 actor: str = "bart") -> service.EffectiveProfile:
    async with db.session() as session:
        return await service.set_profile(session, tenant, profile, actor=actor, duration=duration)


async def test_success_carries_ratelimit_headers(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post(PUBLIC, json=form())
    assert response.headers["RateLimit-Limit"] == "10"
    assert response.headers["RateLimit-Remaining"] == "9"
    assert 0 < int(response.headers["RateLimit-Reset"]) <= 300


async def test_standard_allows_ten_per_ip_then_429_with_retry_after(client: httpx.AsyncClient, mrdj) -> None:
    responses = await post_many(client, 11)
    assert [r.status_code for r in responses[:10]] == [201] * 10
    refused = responses[10]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Remaining"] == "0" and refused.headers["RateLimit-Limit"] == "10"


async def test_strict_is_a_third_of_standard(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    await switch(db, mrdj, "strict")
    codes = [r.status_code for r in await post_many(client, 4)]
    assert codes == [201, 201, 201, 429]


async def test_relaxed_is_six_times_standard(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    await switch(db, mrdj, "relaxed")
    response = await client.post(PUBLIC, json=form())
    assert response.headers["RateLimit-Limit"] == "60"


async def test_tenant_config_overrides_a_profile(client: httpx.AsyncClient, factory) -> None:
    await factory.tenant("mrdj", rate_limit={"default_profile": "standard", "profiles": {
        "standard": {"per_ip": "2/minute", "per_tenant": "100/minute"}}})
    codes = [r.status_code for r in await post_many(client, 3)]
    assert codes == [201, 201, 429]


async def test_per_tenant_limit_applies_to_the_server_route(client: httpx.AsyncClient, factory) -> None:
    tenant = await factory.tenant("mrdj", rate_limit={"default_profile": "standard", "profiles": {
        "standard": {"per_ip": "1/minute", "per_tenant": "2/minute"}}})
    headers = await factory.headers(tenant, "sales")
    codes = [(await client.post("/api/v1/leads", json=form(tenant=None, email=f"s{i}@example.nl"),
                                headers=headers)).status_code for i in range(3)]
    assert codes == [201, 201, 429]


async def test_temporary_switch_reverts_when_time_is_up(db: Database, mrdj) -> None:
    manual = ManualClock(dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC))
    clock.set_clock(manual)
    await switch(db, mrdj, "relaxed", dt.timedelta(hours=2))
    async with db.session() as session:
        assert (await service.current(session, mrdj)).profile == "relaxed"
    manual.advance(dt.timedelta(hours=1, minutes=59))
    async with db.session() as session:
        assert (await service.current(session, mrdj)).profile == "relaxed"
    manual.advance(dt.timedelta(minutes=1))
    async with db.session() as session:
        assert (await service.current(session, mrdj)).profile == "standard"


async def test_revert_returns_to_the_profile_before_the_switch(db: Database, mrdj) -> None:
    manual = ManualClock(dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC))
    clock.set_clock(manual)
    await switch(db, mrdj, "strict")
    await switch(db, mrdj, "relaxed", dt.timedelta(minutes=30))
    manual.advance(dt.timedelta(minutes=31))
    async with db.session() as session:
        assert (await service.current(session, mrdj)).profile == "strict"


async def test_revert_expired_records_an_audited_revert(db: Database, mrdj) -> None:
    manual = ManualClock(dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC))
    clock.set_clock(manual)
    await switch(db, mrdj, "relaxed", dt.timedelta(hours=2))
    async with db.session() as session:
        assert await service.revert_expired(session) == []
    manual.advance(dt.timedelta(hours=3))
    async with db.session() as session:
        reverted = await service.revert_expired(session)
        assert [r.profile for r in reverted] == ["standard"]
        assert await service.revert_expired(session) == []
    async with db.session() as session:
        entries = (await session.scalars(select(AuditEntry).where(
            AuditEntry.entity_type == "rate_limit_profile").order_by(AuditEntry.id))).all()
    assert [e.action for e in entries] == ["ratelimit.profile_switched", "ratelimit.profile_reverted"]
    assert entries[0].actor == "bart"
    assert entries[0].before["profile"] == "standard" and entries[0].after["profile"] == "relaxed"
    assert entries[0].after["until"] == "2025-03-02T11:00:00+00:00"
    assert entries[1].after["profile"] == "standard"


async def test_switch_reaches_the_request_path(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    assert (await client.post(PUBLIC, json=form())).headers["RateLimit-Limit"] == "10"
    await switch(db, mrdj, "relaxed")  # in-process: the cache is dropped; other processes within CACHE_SECONDS
    assert (await client.post(PUBLIC, json=form(email="b@example.nl"))).headers["RateLimit-Limit"] == "60"


def test_cli_set_for_and_show(mrdj) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["ratelimit", "set", "--tenant", "mr-dj", "relaxed", "--for", "2h",
                                 "--by", "bart", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["profile"] == "relaxed"
    shown = json.loads(runner.invoke(cli, ["ratelimit", "show", "--tenant", "mrdj", "--json"]).output)
    assert shown[0]["profile"] == "relaxed" and shown[0]["set_by"] == "bart" and shown[0]["until"]
    assert shown[0]["per_ip"] == "60 per 5 minute"


def test_cli_refuses_unknown_profile(mrdj) -> None:
    result = CliRunner().invoke(cli, ["ratelimit", "set", "--tenant", "mrdj", "turbo"])
    assert result.exit_code == 1 and "turbo" in result.output


def test_m365_sync_says_not_configured_and_exits_0(mrdj) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["integrations", "m365", "sync", "--tenant", "mrdj", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["status"] == "not_configured"


async def test_unreachable_counter_store_lets_leads_through(db: Database, mrdj) -> None:
    import socket

    from rentguy_crm.app import create_app
    from rentguy_crm.config import get_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    settings = get_settings().model_copy(update={"ratelimit_storage_url": f"redis://127.0.0.1:{port}/3"})
    transport = httpx.ASGITransport(app=create_app(settings, db=db), client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.post(PUBLIC, json=form())
    assert response.status_code == 201
    assert "RateLimit-Limit" not in response.headers
