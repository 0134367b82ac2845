"""The Slack incident bridge (slack_sdk's AsyncWebClient) against a fake of the Slack Web API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.slack.bridge import SlackIncidentBridge, channel_name
from rentguy_crm.tenants.sections.channels import SlackBridgeChannel
from tests.integrations.fakes import as_json
from tests.integrations.fakes.slack import SlackApiFake, rate_limited
from tests.vendor_fakes import SilentServer

TOKEN = "xoxb-test-bridge"


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackApiFake]:
    monkeypatch.setenv("TEST_SLACK_BOT_TOKEN", TOKEN)
    async with SlackApiFake(TOKEN) as fake:
        fake.users = {"bart@mr-dj.nl": "U0OPS", "crm-lead@rentguy.nl": "U0ENG"}
        yield fake


def bridge(fake: SlackApiFake, retries: int = 2) -> SlackIncidentBridge:
    return SlackIncidentBridge(SlackBridgeChannel(base_url=fake.base_url(), bot_token="env:TEST_SLACK_BOT_TOKEN",
                                                  rate_limit_retries=retries))


async def open_incident(fake: SlackApiFake, name: str = "inc-mrdj-42", **kwargs: object) -> str:
    args: dict[str, object] = {"name": name, "member_emails": ["bart@mr-dj.nl", "crm-lead@rentguy.nl"],
                               "summary": "P2: automation failure rate 4%", "runbook_url": "https://x/runbook/2.2",
                               **kwargs}
    return await bridge(fake).open_channel(**args)  # type: ignore[arg-type]


async def test_a_p2_bridge_creates_the_channel_invites_the_people_and_posts_the_summary(slack: SlackApiFake) -> None:
    channel_id = await open_incident(slack)
    channel = slack.channels[channel_id]
    assert channel.name == "inc-mrdj-42"
    assert channel.members == ["U0OPS", "U0ENG"]
    assert channel.messages == ["P2: automation failure rate 4%\nRunbook: https://x/runbook/2.2"]


async def test_a_taken_name_gets_a_suffix(slack: SlackApiFake) -> None:
    first = await open_incident(slack)
    second = await open_incident(slack)
    assert first != second
    assert slack.channels[second].name == "inc-mrdj-42-2"


async def test_people_slack_does_not_know_are_skipped_and_counted(slack: SlackApiFake) -> None:
    channel_id = await open_incident(slack, member_emails=["bart@mr-dj.nl", "nobody@example.org"])
    assert slack.channels[channel_id].members == ["U0OPS"]
    assert "1 people could not be found" in slack.channels[channel_id].messages[0]


async def test_a_rate_limit_is_waited_out_with_retry_after(slack: SlackApiFake) -> None:
    slack.script.append(rate_limited(0))
    channel_id = await open_incident(slack)
    assert slack.calls("conversations.create") == 2
    assert slack.channels[channel_id].name == "inc-mrdj-42"


async def test_a_rate_limit_beyond_the_retries_is_retryable_with_slacks_wait(slack: SlackApiFake) -> None:
    slack.script.append(rate_limited(30))
    with pytest.raises(RetryableDeliveryError) as caught:
        await bridge(slack, retries=0).archive_channel(channel_id="C1")
    assert caught.value.retry_after == dt.timedelta(seconds=30)


async def test_a_bad_token_is_a_permanent_error_naming_slacks_code(slack: SlackApiFake,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLACK_BOT_TOKEN", "xoxb-wrong")
    with pytest.raises(PermanentDeliveryError, match=r"slack: conversations\.create: invalid_auth"):
        await open_incident(slack)
    assert slack.channels == {}


async def test_a_server_error_is_retryable(slack: SlackApiFake) -> None:
    slack.script.append(as_json(503, {"ok": False, "error": "service_unavailable"}))
    with pytest.raises(RetryableDeliveryError, match=r"service_unavailable|503"):
        await open_incident(slack)


async def test_archiving_twice_is_fine_and_an_unknown_channel_is_permanent(slack: SlackApiFake) -> None:
    channel_id = await open_incident(slack)
    await bridge(slack).archive_channel(channel_id=channel_id)
    await bridge(slack).archive_channel(channel_id=channel_id)
    assert slack.channels[channel_id].archived
    with pytest.raises(PermanentDeliveryError, match="channel_not_found"):
        await bridge(slack).archive_channel(channel_id="C404")


def test_channel_names_follow_slacks_rule() -> None:
    assert channel_name("INC Mr.DJ #42") == "inc-mr-dj-42"
    assert len(channel_name("x" * 100)) == 80
    with pytest.raises(PermanentDeliveryError):
        channel_name("###")


async def test_a_slack_that_does_not_answer_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLACK_BOT_TOKEN", TOKEN)
    async with SilentServer() as silent:
        quiet = SlackIncidentBridge(SlackBridgeChannel(base_url=f"http://127.0.0.1:{silent.port}/api/",
                                                       bot_token="env:TEST_SLACK_BOT_TOKEN", timeout_seconds=1))
        with pytest.raises(RetryableDeliveryError, match=r"slack: conversations\.archive: no answer"):
            await quiet.archive_channel(channel_id="C1")
