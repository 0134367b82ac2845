"""The scheduled delivery inside the workers: the weekly report on Monday 08:00 in the tenant's zone, the retro on
the first working day of the month, each period sent once, moved by a controllable clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from rentguy_crm.automation.engine import builtin, schedules
from rentguy_crm.reporting import jobs
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.sections.reports import ReportsSettings
from tests.reporting.support import seed_weeks
from tests.vendor_fakes import SmtpFake

UTC = dt.UTC


@pytest.fixture
def smtp() -> Any:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


@pytest.fixture
async def mrdj(db, factory, smtp: SmtpFake):  # type: ignore[no-untyped-def]
    email = {"provider": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
             "from_address": "Mr. DJ <info@mr-dj.nl>"}
    tenant = await factory.tenant("mrdj", channels={"email": email})
    await seed_weeks(db, tenant, await factory.tenant("other", reports={"recipients": []}))
    await provisioned_at(db, PROVISIONED)  # the ticks below are in 2025: the tenants existed by then
    return tenant


PROVISIONED = dt.datetime(2025, 1, 6, tzinfo=UTC)


async def provisioned_at(db, moment: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        await session.execute(update(Tenant).values(created_at=moment))


async def tick(db, now: dt.datetime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await jobs.deliver_due_reports(session, now)


def test_the_workers_run_the_delivery_every_five_minutes() -> None:
    builtin.install()
    job = schedules.jobs()[jobs.DELIVER_JOB]
    assert job.cron == "*/5 * * * *"


async def test_the_weekly_report_goes_out_on_monday_at_eight_in_the_tenants_zone_once(db, mrdj, smtp) -> None:
    # Monday 2025-03-17; Amsterdam is UTC+1 in March, so 08:00 there is 07:00 UTC. February's retro is still
    # owed (the latest month is caught up): it goes at the first tick, the week not before 08:00.
    assert await tick(db, dt.datetime(2025, 3, 17, 6, 55, tzinfo=UTC)) == {"sent": ["mrdj:retro:2025-02"]}
    weekly = [m for m in smtp.messages if m["Subject"] == "Automation SLA mrdj 2025-W11"]
    assert weekly == []
    assert await tick(db, dt.datetime(2025, 3, 17, 7, 0, tzinfo=UTC)) == {"sent": ["mrdj:automation_sla:2025-W11"]}
    weekly = [m for m in smtp.messages if m["Subject"] == "Automation SLA mrdj 2025-W11"]
    assert sorted(m["To"] for m in weekly) == ["Bart <bart@mr-dj.nl>", "Operations Mr. DJ <operations@mr-dj.nl>"]
    assert await tick(db, dt.datetime(2025, 3, 17, 7, 5, tzinfo=UTC)) == {}
    assert await tick(db, dt.datetime(2025, 3, 20, 12, 0, tzinfo=UTC)) == {}
    assert len(smtp.messages) == 4  # two reports, two recipients each


async def test_a_tenant_with_reports_disabled_gets_nothing(db, factory, smtp) -> None:
    email = {"provider": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
             "from_address": "x <info@mr-dj.nl>"}
    await factory.tenant("mrdj", channels={"email": email},
                         reports={"enabled": False, "recipients": [{"name": "Bart", "email": "bart@mr-dj.nl"}]})
    assert await tick(db, dt.datetime(2025, 3, 17, 9, 0, tzinfo=UTC)) == {}
    assert smtp.messages == []


async def test_the_retro_goes_out_on_the_first_working_day_of_the_month(db, mrdj, smtp) -> None:
    # 1 April 2025 is a Tuesday; 08:00 CEST is 06:00 UTC. The weekly report of W13 went out the day before.
    sent = await tick(db, dt.datetime(2025, 4, 1, 6, 0, tzinfo=UTC))
    assert sent == {"sent": ["mrdj:automation_sla:2025-W13", "mrdj:retro:2025-03"]}
    assert "Maandretro automatisering mrdj 2025-03" in {m["Subject"] for m in smtp.messages}


def test_the_first_working_day_skips_weekends_and_public_holidays() -> None:
    assert jobs.first_working_day(2027, 1, "NL") == dt.date(2027, 1, 4)  # Fri 1 Jan is New Year's Day
    assert jobs.first_working_day(2026, 11, "NL") == dt.date(2026, 11, 2)  # 1 Nov is a Sunday
    assert jobs.first_working_day(2027, 1, None) == dt.date(2027, 1, 1)


def test_no_retro_on_a_public_holiday_and_the_next_working_day_it_is_due() -> None:
    settings = ReportsSettings(recipients=[{"name": "Bart", "email": "bart@mr-dj.nl"}])  # type: ignore[list-item]
    new_year = dt.datetime(2027, 1, 1, 9, 0, tzinfo=UTC)
    assert {k: p.label for k, p in jobs.due_periods(settings, "Europe/Amsterdam", new_year)} == {
        "automation_sla": "2026-W52"}
    monday = dt.datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
    due = {k: p.label for k, p in jobs.due_periods(settings, "Europe/Amsterdam", monday)}
    assert due == {"automation_sla": "2026-W53", "retro": "2026-12"}


async def test_one_tenants_refusing_mail_server_does_not_hold_back_another_tenants_report(db, mrdj, factory,
                                                                                           smtp) -> None:
    from tests.vendor_fakes import free_port

    broken = {"provider": "smtp", "host": "127.0.0.1", "port": free_port(), "security": "none",
              "from_address": "x <info@example.nl>", "timeout_seconds": 5}
    await factory.tenant("aaa", channels={"email": broken})
    await provisioned_at(db, PROVISIONED)
    now = dt.datetime(2025, 3, 17, 7, 0, tzinfo=UTC)
    outcome = await tick(db, now)
    assert outcome["failed"] == ["aaa:automation_sla:2025-W11", "aaa:retro:2025-02"]
    assert outcome["sent"] == ["mrdj:automation_sla:2025-W11", "mrdj:retro:2025-02"]
    # The failed one is still owed: the next tick tries it again, the sent ones are not repeated.
    again = await tick(db, now + dt.timedelta(minutes=5))
    assert again == {"failed": ["aaa:automation_sla:2025-W11", "aaa:retro:2025-02"]}


async def test_a_period_over_before_the_tenant_was_provisioned_is_not_sent(db, mrdj, smtp) -> None:
    # Provisioned on Tuesday 18 March 2025: week 11 and February were over by then; week 12 is its first.
    await provisioned_at(db, dt.datetime(2025, 3, 18, 10, 0, tzinfo=UTC))
    assert await tick(db, dt.datetime(2025, 3, 18, 12, 0, tzinfo=UTC)) == {}
    assert await tick(db, dt.datetime(2025, 3, 24, 7, 0, tzinfo=UTC)) == {"sent": ["mrdj:automation_sla:2025-W12"]}
    assert {m["Subject"] for m in smtp.messages} == {"Automation SLA mrdj 2025-W12"}
