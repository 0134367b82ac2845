"""Server-side sessions: idle and absolute lifetimes on a controllable clock, revocation from the CLI, one-time
sign-in links (break-glass), the users CLI and the admin list of users."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlparse

import httpx
from typer.testing import CliRunner

from rentguy_crm.auth import sessions
from rentguy_crm.auth.sessions import SESSION_COOKIE
from rentguy_crm.cli import app as cli
from rentguy_crm.config import get_settings
from rentguy_crm.kit import clock
from tests.table_counts import audit_entries


def crm(*args: str) -> dict | list:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def link_for(*args: str) -> str:
    data = await asyncio.to_thread(crm, "users", "login-link", *args)
    assert isinstance(data, dict)
    return urlparse(data["url"]).path


async def use_link(browser: httpx.AsyncClient, path: str) -> httpx.Response:
    return await browser.get(path, headers={"Accept": "application/json"})


async def test_login_link_signs_in_once(browser, mrdj, db) -> None:
    path = await link_for("--tenant", "mrdj", "--email", "sofie@rentguy.example", "--role", "admin")
    first = await use_link(browser, path)
    assert first.status_code == 303
    me = (await browser.get("/api/v1/auth/me")).json()
    assert (me["tenant"], me["roles"], me["email"]) == ("mrdj", ["admin"], "sofie@rentguy.example")
    browser.cookies.clear()
    second = await use_link(browser, path)
    assert second.status_code == 403 and second.json()["reason"] == "link_used"
    actions = [e.action for e in await audit_entries(db)]
    assert {"login_link.created", "login_link.used", "session.started"} <= set(actions)


async def test_login_link_expires_after_15_minutes(browser, mrdj, db) -> None:
    moving = clock.ManualClock(dt.datetime.now(dt.UTC))
    clock.set_clock(moving)
    async with db.session() as session:
        _link, raw = await sessions.create_link(session, mrdj, email="x@rentguy.example", roles=["support"],
                                                actor="test")
    moving.advance(dt.timedelta(minutes=15, seconds=1))
    answer = await use_link(browser, f"/api/v1/auth/link/{raw}")
    assert answer.status_code == 403 and answer.json()["reason"] == "link_expired"


async def test_login_link_is_announced_to_the_security_channel(browser, mrdj, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "env", "dev")  # the outbox stands in for Slack
    data = await asyncio.to_thread(crm, "users", "login-link", "--tenant", "mrdj", "--email", "s@rentguy.example",
                                   "--role", "admin")
    assert isinstance(data, dict) and data["announcement"] == "Announced to #mrdj-security."
    outbox = Path(get_settings().var_dir) / "outbox" / "mrdj"
    posted = "".join(p.read_text() for p in outbox.rglob("*") if p.is_file())
    assert "Break-glass sign-in link issued" in posted and data["url"].rsplit("/", 1)[1] not in posted


async def test_login_link_without_chat_channel_says_so(browser, mrdj) -> None:
    data = await asyncio.to_thread(crm, "users", "login-link", "--tenant", "mrdj", "--email", "s@rentguy.example",
                                   "--role", "admin")
    assert isinstance(data, dict) and data["announcement"].startswith("Not announced")
    assert "security officer" in data["announcement"]


async def test_unknown_role_for_a_link_is_refused(mrdj) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["users", "login-link", "--tenant", "mrdj",
                                                               "--email", "a@b.example", "--role", "boss"])
    assert result.exit_code != 0 and "Unknown role" in result.output


async def test_idle_session_ends_after_ten_minutes_without_requests(client, factory, mrdj) -> None:
    moving = clock.ManualClock(dt.datetime.now(dt.UTC))
    clock.set_clock(moving)
    headers = await factory.session_headers(mrdj, "sales")
    moving.advance(dt.timedelta(minutes=9))
    assert (await client.get("/api/v1/crm/pipelines", headers=headers)).status_code == 200  # activity
    moving.advance(dt.timedelta(minutes=9))
    assert (await client.get("/api/v1/crm/pipelines", headers=headers)).status_code == 200
    moving.advance(dt.timedelta(minutes=10, seconds=1))
    idle = await client.get("/api/v1/crm/pipelines", headers=headers)
    assert idle.status_code == 401 and idle.json()["reason"] == "idle"


async def test_session_ends_after_twelve_hours_whatever_the_activity(client, factory, mrdj) -> None:
    start = dt.datetime.now(dt.UTC)
    moving = clock.ManualClock(start)
    clock.set_clock(moving)
    headers = await factory.session_headers(mrdj, "sales")
    statuses = []
    while moving.current < start + dt.timedelta(hours=12):
        statuses.append((await client.get("/api/v1/crm/pipelines", headers=headers)).status_code)
        moving.advance(dt.timedelta(minutes=9, seconds=59))
    assert set(statuses) == {200} and len(statuses) == 73
    answer = await client.get("/api/v1/crm/pipelines", headers=headers)
    assert answer.status_code == 401 and answer.json()["reason"] == "expired"


async def test_cli_revokes_a_users_sessions_at_once(client, factory, mrdj) -> None:
    headers = await factory.session_headers(mrdj, "support")
    me = (await client.get("/api/v1/auth/me", headers=headers)).json()
    listed = await asyncio.to_thread(crm, "users", "sessions", "list", "--tenant", "mrdj")
    assert [s["id"] for s in listed] == [me["session_id"]]  # type: ignore[index]
    revoked = await asyncio.to_thread(crm, "users", "sessions", "revoke", "--tenant", "mrdj", "--user",
                                      str(me["user_id"]))
    assert revoked == {"revoked": 1}
    answer = await client.get("/api/v1/auth/me", headers=headers)
    assert answer.status_code == 401 and answer.json()["reason"] == "revoked"


async def test_cli_disable_ends_sessions_and_enable_allows_sign_in_again(client, factory, mrdj) -> None:
    headers = await factory.session_headers(mrdj, "support")
    user_id = (await client.get("/api/v1/auth/me", headers=headers)).json()["user_id"]
    disabled = await asyncio.to_thread(crm, "users", "disable", str(user_id), "--tenant", "mrdj")
    assert disabled == {"id": user_id, "status": "disabled", "sessions_revoked": 1}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    shown = await asyncio.to_thread(crm, "users", "show", str(user_id), "--tenant", "mrdj")
    assert shown["status"] == "disabled" and shown["live_sessions"] == []  # type: ignore[call-overload]
    enabled = await asyncio.to_thread(crm, "users", "enable", str(user_id), "--tenant", "mrdj")
    assert enabled["status"] == "active"  # type: ignore[call-overload]


async def test_users_of_another_tenant_are_not_found_from_the_cli(factory, mrdj) -> None:
    other = await factory.tenant("other")
    headers = await factory.session_headers(other, "support")
    assert headers
    listed = await asyncio.to_thread(crm, "users", "list", "--tenant", "mrdj")
    assert listed == []
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["users", "disable", "1", "--tenant", "mrdj"])
    assert result.exit_code != 0 and "No user 1 in tenant mrdj" in result.output


async def test_admin_lists_the_tenants_users_only(client, factory, mrdj) -> None:
    other = await factory.tenant("other")
    await factory.session_headers(other, "sales")
    admin = await factory.session_headers(mrdj, "admin")
    users = (await client.get("/api/v1/admin/users", headers=admin)).json()
    assert [u["roles"] for u in users] == [["admin"]]
    sales = await factory.headers(mrdj, "sales")
    assert (await client.get("/api/v1/admin/users", headers=sales)).status_code == 403


async def test_unknown_session_cookie_is_401(client, mrdj) -> None:
    answer = await client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}=made-up"})
    assert answer.status_code == 401 and answer.json()["reason"] == "unknown"
