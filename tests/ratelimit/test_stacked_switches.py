"""Temporary rate-limit switches stack: each expiry restores what was in force before it (runbook 2.1 step 2,
switched twice during one incident). Driven through `crm ratelimit` with a clock the test moves."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.cli import app as cli
from rentguy_crm.db import Database
from rentguy_crm.kit import clock
from rentguy_crm.kit.clock import ManualClock

START = dt.datetime(2025, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def manual() -> ManualClock:
    moving = ManualClock(START)
    clock.set_clock(moving)
    return moving


def crm(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def shown() -> tuple[str, str | None]:
    row = json.loads(crm("ratelimit", "show", "--tenant", "mrdj", "--json").output)[0]
    return row["profile"], row["until"]


def test_a_shorter_switch_on_top_of_a_longer_one_gives_the_longer_one_back(mrdj, manual) -> None:  # type: ignore[no-untyped-def]
    crm("ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", "2h", "--by", "bart")
    crm("ratelimit", "set", "strict", "--tenant", "mrdj", "--for", "1m", "--by", "bart")
    assert shown() == ("strict", "2025-03-02T09:01:00+00:00")
    manual.advance(dt.timedelta(minutes=1))
    assert shown() == ("relaxed", "2025-03-02T11:00:00+00:00")
    manual.advance(dt.timedelta(hours=1, minutes=59))
    assert shown() == ("standard", None)


def test_a_longer_switch_on_top_outlives_the_one_beneath_it(mrdj, manual) -> None:  # type: ignore[no-untyped-def]
    crm("ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", "1h")
    crm("ratelimit", "set", "strict", "--tenant", "mrdj", "--for", "3h")
    manual.advance(dt.timedelta(hours=2))
    assert shown() == ("strict", "2025-03-02T12:00:00+00:00")
    manual.advance(dt.timedelta(hours=1))
    assert shown() == ("standard", None)


def test_the_stack_returns_to_a_permanent_switch_beneath_it(mrdj, manual) -> None:  # type: ignore[no-untyped-def]
    crm("ratelimit", "set", "strict", "--tenant", "mrdj")
    crm("ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", "2h")
    crm("ratelimit", "set", "standard", "--tenant", "mrdj", "--for", "10m")
    manual.advance(dt.timedelta(minutes=10))
    assert shown() == ("relaxed", "2025-03-02T11:00:00+00:00")
    manual.advance(dt.timedelta(hours=2))
    assert shown() == ("strict", None)


def test_a_permanent_switch_clears_the_stack(mrdj, manual) -> None:  # type: ignore[no-untyped-def]
    crm("ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", "2h")
    crm("ratelimit", "set", "strict", "--tenant", "mrdj", "--for", "1m")
    crm("ratelimit", "set", "standard", "--tenant", "mrdj")
    manual.advance(dt.timedelta(minutes=5))
    assert shown() == ("standard", None)


async def test_each_expiry_is_audited_with_what_returned(db: Database, mrdj, manual) -> None:  # type: ignore[no-untyped-def]
    from rentguy_crm.ratelimit import service

    async with db.session() as session:
        await service.set_profile(session, mrdj, "relaxed", actor="bart", duration=dt.timedelta(hours=2))
        await service.set_profile(session, mrdj, "strict", actor="bart", duration=dt.timedelta(minutes=1))
    manual.advance(dt.timedelta(minutes=1))
    async with db.session() as session:
        assert [r.profile for r in await service.revert_expired(session)] == ["relaxed"]
    manual.advance(dt.timedelta(hours=2))
    async with db.session() as session:
        assert [r.profile for r in await service.revert_expired(session)] == ["standard"]
        entries = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "ratelimit.profile_reverted").order_by(AuditEntry.id))).all()
    assert [(e.before["profile"], e.after["profile"], e.after["until"]) for e in entries] == [
        ("strict", "relaxed", "2025-03-02T11:00:00+00:00"), ("relaxed", "standard", None)]


@pytest.mark.parametrize("given", ["2", "90", "1.5"])
def test_a_duration_without_a_unit_is_refused_naming_the_units(mrdj, given: str) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["ratelimit", "set", "relaxed", "--tenant", "mrdj", "--for", given])
    assert result.exit_code == 2
    assert "has no unit" in result.output and "m (minutes), h (hours)" in result.output
    assert json.loads(CliRunner().invoke(cli, ["ratelimit", "show", "--tenant", "mrdj", "--json"]).output)[0][
        "profile"] == "standard"
