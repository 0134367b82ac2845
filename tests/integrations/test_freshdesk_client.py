"""The Freshdesk help desk against a fake of Freshdesk's ticket API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from rentguy_crm.integrations.base import PermanentDeliveryError, RetryableDeliveryError
from rentguy_crm.integrations.freshdesk import client as freshdesk
from rentguy_crm.integrations.freshdesk.client import FreshdeskHelpDesk
from rentguy_crm.tenants.sections.channels import FreshdeskChannel
from tests.integrations.fakes import as_json
from tests.integrations.fakes.freshdesk import FreshdeskFake
from tests.vendor_fakes import Reply, SilentServer

KEY = "sFhm8CbzCLDLnFJd3r"


@pytest.fixture
async def fd(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FreshdeskFake]:
    monkeypatch.setenv("TEST_FRESHDESK_KEY", KEY)
    async with FreshdeskFake(KEY) as fake:
        yield fake


def desk(fake: FreshdeskFake) -> FreshdeskHelpDesk:
    return FreshdeskHelpDesk(FreshdeskChannel(base_url=fake.url(""), api_key="env:TEST_FRESHDESK_KEY"))


async def create(fake: FreshdeskFake, **overrides: object) -> int:
    args: dict[str, object] = {"subject": "Vraag over offerte", "description": "<p>Hoe werkt dit?</p>",
                               "email": "support@mr-dj.nl", "priority": freshdesk.PRIORITY_FOR["P3"],
                               "status": freshdesk.STATUS_FOR["new"], **overrides}
    return await desk(fake).create_ticket(**args)  # type: ignore[arg-type]


async def test_a_p3_ticket_is_registered_with_medium_priority_and_status_open(fd: FreshdeskFake) -> None:
    ticket_id = await create(fd)
    ticket = fd.tickets[ticket_id]
    assert (ticket["priority"], ticket["status"], ticket["subject"]) == (2, 2, "Vraag over offerte")


async def test_an_update_sends_the_new_status(fd: FreshdeskFake) -> None:
    ticket_id = await create(fd)
    await desk(fd).update_ticket(ticket_id=ticket_id, status=freshdesk.STATUS_FOR["resolved"])
    assert fd.tickets[ticket_id]["status"] == 4
    assert fd.requests[-1].method == "PUT"


async def test_updating_an_unknown_ticket_is_a_permanent_not_found(fd: FreshdeskFake) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"freshdesk: not found \(404\)"):
        await desk(fd).update_ticket(ticket_id=9, status=5)


async def test_a_validation_error_names_the_field_and_freshdesks_message(fd: FreshdeskFake) -> None:
    with pytest.raises(PermanentDeliveryError, match="email: It should be a valid email address"):
        await create(fd, email="not-an-address")
    assert fd.tickets == {}


async def test_wrong_credentials_are_a_permanent_authentication_error(fd: FreshdeskFake,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FRESHDESK_KEY", "wrong")
    with pytest.raises(PermanentDeliveryError, match=r"authentication failed \(401\): Invalid credentials"):
        await create(fd)


async def test_a_rate_limit_carries_freshdesks_retry_after(fd: FreshdeskFake) -> None:
    fd.script.append(as_json(429, {"message": "You have exceeded the limit of requests per minute"},
                             {"Retry-After": "37"}))
    with pytest.raises(RetryableDeliveryError) as caught:
        await create(fd)
    assert caught.value.retry_after == dt.timedelta(seconds=37)
    assert fd.tickets == {}
    assert await create(fd) in fd.tickets


async def test_a_server_error_is_retryable(fd: FreshdeskFake) -> None:
    fd.script.append(Reply(502, b"Bad gateway"))
    with pytest.raises(RetryableDeliveryError, match="502"):
        await create(fd)


async def test_numbers_outside_freshdesks_ranges_are_refused_before_calling(fd: FreshdeskFake) -> None:
    with pytest.raises(PermanentDeliveryError, match="priority"):
        await create(fd, priority=5)
    with pytest.raises(PermanentDeliveryError, match="status"):
        await create(fd, status=1)
    assert fd.requests == []


def test_every_desk_status_maps_to_freshdesk_and_back() -> None:
    for status in ("open", "pending", "resolved", "closed"):
        assert freshdesk.DESK_STATUS[freshdesk.STATUS_FOR[status]] == status


async def test_a_helpdesk_that_does_not_answer_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_FRESHDESK_KEY", KEY)
    async with SilentServer() as silent:
        helpdesk = FreshdeskHelpDesk(FreshdeskChannel(base_url=f"http://127.0.0.1:{silent.port}",
                                                      api_key="env:TEST_FRESHDESK_KEY", timeout_seconds=0.3))
        with pytest.raises(RetryableDeliveryError, match=r"freshdesk: no answer within 0\.3s"):
            await helpdesk.update_ticket(ticket_id=1, status=5)
