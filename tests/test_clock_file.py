"""The clock file (`CRM_CLOCK_FILE`): how tests move "now" for every process, and why production refuses it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rentguy_crm.automation.engine.schedules import ScheduleRunner
from rentguy_crm.automation.engine.worker import Worker
from rentguy_crm.cli import app as cli
from rentguy_crm.config import InsecureSettingsError, Settings, reset_settings_cache
from rentguy_crm.kit import clock
from rentguy_crm.kit.clock import ClockFileError, FileClock, ManualClock, parse_clock_text

SYSTEM = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.mark.parametrize(("text", "expected"), [
    ("2027-03-28T08:00:00+00:00", dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)),
    ("2027-03-28T10:00:00+02:00", dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)),
    ("2027-03-28T08:00:00Z", dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)),
    ("+2 days", SYSTEM + dt.timedelta(days=2)),
    ("+2d1m", SYSTEM + dt.timedelta(days=2, minutes=1)),
    ("-90s", SYSTEM - dt.timedelta(seconds=90)),
    ("+3600", SYSTEM + dt.timedelta(hours=1)),
    ("", SYSTEM),
    ("  \n", SYSTEM),
])
def test_clock_text_is_an_instant_or_a_shift_of_the_system_clock(text: str, expected: dt.datetime) -> None:
    assert parse_clock_text(text, SYSTEM) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("2027-03-28T08:00:00", "no UTC offset"),
    ("next tuesday", "ISO instant"),
    ("+2 fortnights", "unknown unit"),
])
def test_clock_text_that_is_neither_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ClockFileError, match=message):
        parse_clock_text(text, SYSTEM)


def test_file_clock_follows_the_file_as_it_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    file_clock = FileClock(path)
    before = dt.datetime.now(dt.UTC)
    assert before <= file_clock() <= dt.datetime.now(dt.UTC)  # no file: the system clock
    path.write_text("2027-03-28T07:59:00+00:00\n")
    assert file_clock() == dt.datetime(2027, 3, 28, 7, 59, tzinfo=dt.UTC)
    path.write_text("2027-03-28T08:00:00+00:00\n")  # same size, likely the same mtime tick: still seen
    assert file_clock() == dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)
    shifted = file_clock.__class__(path)
    path.write_text("+2 days")
    assert shifted() - dt.datetime.now(dt.UTC) > dt.timedelta(days=1, hours=23)


def test_file_clock_keeps_the_last_good_reading_when_the_file_is_garbled(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("2027-03-28T08:00:00+00:00")
    file_clock = FileClock(path)
    assert file_clock() == dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)
    path.write_text("garbled!")
    assert file_clock() == dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_clock_file_is_refused_outside_dev_and_test(env: str, tmp_path: Path) -> None:
    with pytest.raises(InsecureSettingsError, match=f"CRM_CLOCK_FILE .* refused when CRM_ENV={env}"):
        Settings(env=env, secret_key="x" * 48, clock_file=tmp_path / "clock")  # type: ignore[arg-type]


@pytest.mark.parametrize("env", ["dev", "test"])
def test_clock_file_is_accepted_in_dev_and_test(env: str, tmp_path: Path) -> None:
    settings = Settings(env=env, secret_key="x" * 48, clock_file=tmp_path / "clock")  # type: ignore[arg-type]
    assert settings.clock_file == tmp_path / "clock"


def test_cli_refuses_a_clock_file_in_production(fresh_settings: None, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.setenv("CRM_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("CRM_CLOCK_FILE", str(tmp_path / "clock"))
    result = CliRunner().invoke(cli, ["tenants", "list"])
    assert result.exit_code == 2
    assert "CRM_CLOCK_FILE" in result.output and "CRM_ENV=prod" in " ".join(result.output.split())


def test_a_production_process_never_installs_the_file_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "clock").write_text("2030-01-01T00:00:00+00:00")
    monkeypatch.setenv("CRM_CLOCK_FILE", str(tmp_path / "clock"))
    monkeypatch.setenv("CRM_ENV", "prod")
    assert clock._startup_clock() is clock.system_now
    monkeypatch.setenv("CRM_ENV", "test")
    assert clock._startup_clock()() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


async def test_workers_and_scheduled_jobs_take_their_time_from_the_suite_clock(database_url: str) -> None:
    manual = ManualClock(dt.datetime(2027, 3, 28, 8, 0, tzinfo=dt.UTC))
    clock.set_clock(manual)
    worker = Worker(url=database_url)
    try:
        assert worker.clock() == manual.current
        assert worker.executor.clock() == manual.current
        assert ScheduleRunner(worker.db, owner="test").clock() == manual.current
        manual.advance(dt.timedelta(days=2))
        assert worker.clock() == dt.datetime(2027, 3, 30, 8, 0, tzinfo=dt.UTC)
    finally:
        await worker.db.dispose()
