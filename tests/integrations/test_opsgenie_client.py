"""The Opsgenie pager against a fake of Opsgenie's Alert and Schedule API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from rentguy_crm.integrations.base import (
    ChannelNotConfigured,
    OnCallPerson,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from rentguy_crm.integrations.opsgenie.client import OpsgeniePager
from rentguy_crm.tenants.sections.channels import OpsgenieChannel
from tests.integrations.fakes import as_json
from tests.integrations.fakes.opsgenie import OpsgenieFake
from tests.vendor_fakes import Reply

KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


@pytest.fixture
async def opsgenie(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpsgenieFake]:
    monkeypatch.setenv("TEST_OPSGENIE_KEY", KEY)
    async with OpsgenieFake(KEY) as fake:
        yield fake


def pager(fake: OpsgenieFake, key: str = "env:TEST_OPSGENIE_KEY") -> OpsgeniePager:
    return OpsgeniePager(OpsgenieChannel(api_base=fake.url(""), api_key=key, schedule="engineering_schedule"))


async def test_a_p1_alert_pages_the_on_call_schedule_with_the_ticket_as_alias(opsgenie: OpsgenieFake) -> None:
    request_id = await pager(opsgenie).create_alert(alias="mrdj-T-42", message="Lead capture API down",
                                                    description="details", priority="P1", responders=[])
    assert request_id
    alert = opsgenie.alerts["mrdj-T-42"]
    assert (alert.priority, alert.responders) == ("P1", [{"name": "engineering_schedule", "type": "schedule"}])
    assert opsgenie.requests[0].headers["authorization"] == f"GenieKey {KEY}"


async def test_the_asynchronous_request_can_be_followed_to_the_alert_it_made(opsgenie: OpsgenieFake) -> None:
    request_id = await pager(opsgenie).create_alert(alias="mrdj-T-9", message="m", description="", priority="P1",
                                                    responders=[])
    processed = await pager(opsgenie).request_status(request_id)
    assert (processed["isSuccess"], processed["alias"], processed["action"]) == (True, "mrdj-T-9", "Create")
    with pytest.raises(PermanentDeliveryError, match=r"not found \(404\)"):
        await pager(opsgenie).request_status("unknown-request")


async def test_sending_the_same_alias_again_adds_to_the_open_alert(opsgenie: OpsgenieFake) -> None:
    for _ in range(2):
        await pager(opsgenie).create_alert(alias="mrdj-T-42", message="down", description="", priority="P1",
                                           responders=[{"name": "crm", "type": "team"}])
    assert len(opsgenie.alerts) == 1
    assert opsgenie.alerts["mrdj-T-42"].count == 2


async def test_a_long_message_is_cut_to_opsgenies_limit_instead_of_refused(opsgenie: OpsgenieFake) -> None:
    await pager(opsgenie).create_alert(alias="a", message="x" * 300, description="", priority="P2", responders=[])
    assert len(opsgenie.alerts["a"].message) == 130


async def test_closing_by_alias_closes_the_alert_with_the_note(opsgenie: OpsgenieFake) -> None:
    await pager(opsgenie).create_alert(alias="T-7", message="m", description="", priority="P1", responders=[])
    await pager(opsgenie).close_alert(alias="T-7", note="resolved in the CRM")
    assert opsgenie.alerts["T-7"].status == "closed"
    assert opsgenie.alerts["T-7"].notes == ["resolved in the CRM"]


async def test_closing_an_unknown_alias_is_a_permanent_not_found(opsgenie: OpsgenieFake) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"opsgenie: not found \(404\): Alert with alias \[nope\]"):
        await pager(opsgenie).close_alert(alias="nope", note="")


async def test_on_call_lists_users_of_nested_escalations_with_their_phone_first(opsgenie: OpsgenieFake) -> None:
    opsgenie.schedules["engineering_schedule"] = [
        {"id": "u1", "name": "oncall@rentguy.nl", "type": "user"},
        {"id": "e1", "name": "crm_escalation", "type": "escalation",
         "onCallParticipants": [{"id": "u2", "name": "lead@rentguy.nl", "type": "user"},
                                {"id": "u1", "name": "oncall@rentguy.nl", "type": "user"}]}]
    opsgenie.contacts["u1"] = [{"method": "email", "to": "oncall@rentguy.nl", "status": {"enabled": True}},
                               {"method": "voice", "to": "31-600000001", "status": {"enabled": True}}]
    opsgenie.contacts["u2"] = [{"method": "voice", "to": "31-600000002", "status": {"enabled": False}},
                               {"method": "email", "to": "lead@rentguy.nl", "status": {"enabled": True}}]
    people = await pager(opsgenie).on_call(schedule="engineering_schedule")
    assert people == [OnCallPerson("oncall@rentguy.nl", "31-600000001"),
                      OnCallPerson("lead@rentguy.nl", "lead@rentguy.nl")]


async def test_an_unknown_schedule_is_a_permanent_not_found(opsgenie: OpsgenieFake) -> None:
    with pytest.raises(PermanentDeliveryError, match="No schedule exists"):
        await pager(opsgenie).on_call(schedule="nope")


async def test_a_wrong_key_is_a_permanent_authentication_error(opsgenie: OpsgenieFake,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPSGENIE_KEY", "wrong")
    with pytest.raises(PermanentDeliveryError, match=r"opsgenie: not allowed \(403\): Key format is not valid"):
        await pager(opsgenie).create_alert(alias="a", message="m", description="", priority="P1", responders=[])
    assert not opsgenie.alerts


async def test_a_validation_error_names_the_field(opsgenie: OpsgenieFake) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"validation failed \(422\).*message: Message can not be empty"):
        await pager(opsgenie).create_alert(alias="a", message="", description="", priority="P1", responders=[])


async def test_a_rate_limit_is_retryable_after_the_time_opsgenie_asks(opsgenie: OpsgenieFake) -> None:
    opsgenie.script.append(as_json(429, {"message": "Too many requests"}, {"Retry-After": "12"}))
    with pytest.raises(RetryableDeliveryError) as caught:
        await pager(opsgenie).create_alert(alias="a", message="m", description="", priority="P1", responders=[])
    assert caught.value.retry_after == dt.timedelta(seconds=12)
    await pager(opsgenie).create_alert(alias="a", message="m", description="", priority="P1", responders=[])
    assert "a" in opsgenie.alerts


async def test_a_server_error_is_retryable(opsgenie: OpsgenieFake) -> None:
    opsgenie.script.append(Reply(503, b'{"message": "Service unavailable"}', {"Content-Type": "application/json"}))
    with pytest.raises(RetryableDeliveryError, match="server error 503"):
        await pager(opsgenie).close_alert(alias="a", note="")


async def test_a_missing_key_fails_the_call_permanently_and_names_the_reference(opsgenie: OpsgenieFake) -> None:
    with pytest.raises(ChannelNotConfigured, match="TEST_OPSGENIE_UNSET"):
        await pager(opsgenie, "env:TEST_OPSGENIE_UNSET").on_call(schedule="engineering_schedule")
    assert opsgenie.requests == []


async def test_an_unknown_priority_is_refused_before_calling(opsgenie: OpsgenieFake) -> None:
    with pytest.raises(PermanentDeliveryError, match="priority"):
        await pager(opsgenie).create_alert(alias="a", message="m", description="", priority="high", responders=[])
    assert opsgenie.requests == []
