"""The suite's own failure-rate watchdog posts once when the rule starts firing and once when it resolves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.slack.client import SlackWebhookNotifier
from rentguy_crm.observability import watchdog
from rentguy_crm.observability.models import WatchdogAlert
from rentguy_crm.observability.slack_notify import ops_notifier_for
from tests.obs_support import add_runs
from tests.slack_fake import SlackFake, slack_webhook_fake

NOW = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
ENV = "CRM_MRDJ_OPS_SLACK_WEBHOOK_URL"


@pytest.fixture
def slack(monkeypatch) -> Iterator[SlackFake]:
    with slack_webhook_fake() as fake:
        monkeypatch.setenv(ENV, fake.url)
        yield fake


async def finish(db, tenant, workflow: str, status: str, count: int, *, at: dt.datetime) -> None:
    # Runs that completed at `at` (created a few seconds before).
    await add_runs(db, tenant, workflow, status, count, created_at=at - dt.timedelta(seconds=5),
                   duration=dt.timedelta(seconds=5))


async def check(db, now: dt.datetime = NOW) -> list[watchdog.Transition]:
    async with db.session() as session:
        return await watchdog.check_failure_rates(session, now, ops_notifier_for)


async def test_rule_firing_posts_once_to_the_ops_channel(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "succeeded", 45, at=NOW - dt.timedelta(minutes=3))
    await finish(db, tenant, "lead_intake", "failed", 4, at=NOW - dt.timedelta(minutes=2))
    await finish(db, tenant, "lead_intake", "dead", 1, at=NOW - dt.timedelta(minutes=2))
    [transition] = await check(db)
    assert (transition.workflow, transition.state, transition.notified) == ("lead_intake", "firing", True)
    assert transition.failed_runs == 5 and transition.finished_runs == 50
    assert await check(db, NOW + dt.timedelta(minutes=1)) == []
    assert len(slack.posts) == 1
    post = slack.posts[0]
    assert post["channel"] == "#mrdj-ops"
    assert "FIRING" in post["text"] and "lead_intake" in post["text"] and "10.0%" in post["text"]
    assert "#22-automation-failure-rate--2" in post["text"]


async def test_rule_resolving_posts_once_more(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "succeeded", 30, at=NOW - dt.timedelta(minutes=3))
    await finish(db, tenant, "lead_intake", "failed", 3, at=NOW - dt.timedelta(minutes=3))
    await check(db)
    later = NOW + dt.timedelta(minutes=9)  # the failures have left the 10-minute window
    await finish(db, tenant, "lead_intake", "succeeded", 25, at=later - dt.timedelta(minutes=1))
    [resolved] = await check(db, later)
    assert resolved.state == "resolved" and resolved.notified
    assert await check(db, later + dt.timedelta(minutes=1)) == []
    assert [t.split(" ")[1] for t in slack.texts()] == ["FIRING", "RESOLVED"]


async def test_volume_guard_one_failure_out_of_three_does_not_post(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "succeeded", 2, at=NOW - dt.timedelta(minutes=1))
    await finish(db, tenant, "lead_intake", "failed", 1, at=NOW - dt.timedelta(minutes=1))
    assert await check(db) == []
    assert slack.posts == []


async def test_two_percent_exactly_does_not_fire_and_just_above_does(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "succeeded", 49, at=NOW - dt.timedelta(minutes=1))
    await finish(db, tenant, "lead_intake", "failed", 1, at=NOW - dt.timedelta(minutes=1))
    await finish(db, tenant, "proposal_followup", "succeeded", 48, at=NOW - dt.timedelta(minutes=1))
    await finish(db, tenant, "proposal_followup", "failed", 1, at=NOW - dt.timedelta(minutes=1))
    assert [(t.workflow, t.state) for t in await check(db)] == [("proposal_followup", "firing")]


async def test_runs_outside_the_ten_minute_window_do_not_count(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "failed", 30, at=NOW - dt.timedelta(minutes=11))
    await finish(db, tenant, "lead_intake", "succeeded", 30, at=NOW - dt.timedelta(minutes=1))
    assert await check(db) == []


async def test_a_failed_post_is_retried_at_the_next_check_and_then_sent_once(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
    slack.answers.append((500, "internal_error", {}))
    [first] = await check(db)
    assert first.state == "firing" and not first.notified and slack.posts == []
    [second] = await check(db, NOW + dt.timedelta(minutes=1))
    assert second.state == "firing" and second.notified
    assert await check(db, NOW + dt.timedelta(minutes=2)) == []
    assert len(slack.posts) == 1


async def test_firing_state_is_kept_in_the_table(db, factory, slack) -> None:
    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
    await check(db)
    async with db.session() as session:
        [row] = (await session.scalars(select(WatchdogAlert))).all()
    assert row.firing and row.started_at == NOW and row.pending_notification is None
    assert (row.finished_runs, row.failed_runs, row.failure_rate) == (25, 25, 1.0)


async def test_tenants_keep_their_own_state(db, factory, slack) -> None:
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other", monitoring={"watchdog": False})
    await finish(db, mrdj, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
    await finish(db, other, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
    assert [(t.tenant, t.state) for t in await check(db)] == [("mrdj", "firing")]


async def test_slack_client_treats_rate_limits_as_retryable_and_bad_channels_as_permanent(slack) -> None:
    notifier = SlackWebhookNotifier(SecretStr(slack.url))
    slack.answers.append((429, "rate_limited", {"Retry-After": "7"}))
    with pytest.raises(RetryableDeliveryError) as retry:
        await notifier.post("hi", target="#mrdj-ops", idempotency_key="k1")
    assert retry.value.retry_after == dt.timedelta(seconds=7)
    slack.answers.append((404, "channel_not_found", {}))
    with pytest.raises(PermanentDeliveryError, match="channel_not_found"):
        await notifier.post("hi", target="#gone", idempotency_key="k2")
    receipt = await notifier.post("hi", target="#mrdj-ops", idempotency_key="k3")
    assert receipt.channel == "slack" and slack.texts() == ["hi"]


async def test_watchdog_command_reports_and_posts_a_firing_workflow(db, factory, slack) -> None:
    import asyncio
    import json

    from typer.testing import CliRunner

    from rentguy_crm.cli import app
    from rentguy_crm.db import utcnow

    tenant = await factory.tenant("mrdj")
    await finish(db, tenant, "lead_intake", "failed", 25, at=utcnow() - dt.timedelta(minutes=1))
    result = await asyncio.to_thread(CliRunner().invoke, app, ["observability", "watchdog", "--json"])
    assert result.exit_code == 0, result.output
    [change] = json.loads(result.stdout)
    assert (change["workflow"], change["state"], change["notified"]) == ("lead_intake", "firing", True)
    assert len(slack.posts) == 1


async def test_a_tenant_with_a_slack_channel_config_gets_the_post_on_its_ops_target(db, factory, monkeypatch) -> None:
    with slack_webhook_fake() as fake:
        monkeypatch.setenv("CRM_TEST_SALES_SLACK", fake.url + "/sales")
        monkeypatch.setenv("CRM_TEST_OPS_SLACK", fake.url + "/ops")
        monkeypatch.delenv(ENV, raising=False)
        tenant = await factory.tenant("mrdj", channels={"slack": {
            "webhook_url": "env:CRM_TEST_SALES_SLACK", "default_target": "#mrdj-sales",
            "targets": {"#mrdj-ops": "env:CRM_TEST_OPS_SLACK"}}})
        await finish(db, tenant, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
        [change] = await check(db)
    assert change.state == "firing" and change.notified
    [post] = fake.posts
    assert post["_path"].endswith("/ops") and "FIRING" in post["text"]


async def test_an_ops_channel_missing_from_the_slack_config_stays_owed_and_posts_nothing(db, factory,
                                                                                        monkeypatch) -> None:
    with slack_webhook_fake() as fake:
        monkeypatch.setenv("CRM_TEST_SALES_SLACK", fake.url + "/sales")
        tenant = await factory.tenant("mrdj", channels={"slack": {
            "webhook_url": "env:CRM_TEST_SALES_SLACK", "default_target": "#mrdj-sales"}})
        await finish(db, tenant, "lead_intake", "failed", 25, at=NOW - dt.timedelta(minutes=1))
        [change] = await check(db)
    # Posting to the sales channel instead would hide the mistake: nothing is sent, the post stays owed.
    assert change.state == "firing" and not change.notified and fake.posts == []
    async with db.session() as session:
        [row] = (await session.scalars(select(WatchdogAlert))).all()
    assert row.pending_notification == "firing"


async def test_watchdog_is_a_scheduled_job_that_runs_once_per_minute_tick(db, factory, slack) -> None:
    from rentguy_crm.automation.engine import schedules
    from rentguy_crm.automation.runs.models import ScheduleRun
    from rentguy_crm.observability import jobs

    job = schedules.jobs()[jobs.WATCHDOG_JOB]
    assert job.cron == "* * * * *"
    tenant = await factory.tenant("mrdj")
    now = dt.datetime.now(dt.UTC)
    await finish(db, tenant, "lead_intake", "failed", 25, at=now - dt.timedelta(seconds=30))
    only_watchdog = {jobs.WATCHDOG_JOB: job}
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(schedules, "_JOBS", only_watchdog)
    try:
        runner = schedules.ScheduleRunner(db, owner="test-worker", clock=lambda: now)
        assert await runner.tick() == 1
        assert await runner.tick() == 0  # the same minute's tick does not run twice
    finally:
        monkeypatch.undo()
    async with db.session() as session:
        [tick] = (await session.scalars(select(ScheduleRun))).all()
    assert tick.status == "succeeded"
    assert tick.result == {"changes": [{"tenant": "mrdj", "workflow": "lead_intake", "state": "firing",
                                        "notified": True}]}
    assert len(slack.posts) == 1 and slack.posts[0]["channel"] == "#mrdj-ops"
