"""`escalation_for`: the tenant's escalation vendors from its channels section, None where not configured."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from rentguy_crm.integrations.base import ChannelNotConfigured
from rentguy_crm.integrations.escalation import HelpDesk, IncidentBridge, IssueTracker, Pager, escalation_for
from rentguy_crm.tenants.sections.channels import ChannelsConfig
from tests.factories import MRDJ_CONFIG


def test_a_tenant_without_escalation_vendors_gets_none_for_each() -> None:
    escalation = escalation_for(ChannelsConfig())
    assert (escalation.pager, escalation.bridge, escalation.helpdesk, escalation.tracker) == (None, None, None, None)


def test_the_shipped_mrdj_config_has_every_vendor_behind_its_capability() -> None:
    channels = ChannelsConfig.model_validate(json.loads(MRDJ_CONFIG.read_text())["channels"])
    escalation = escalation_for(channels)
    assert isinstance(escalation.pager, Pager)
    assert isinstance(escalation.bridge, IncidentBridge)
    assert isinstance(escalation.helpdesk, HelpDesk)
    assert isinstance(escalation.tracker, IssueTracker)


def test_only_the_configured_vendor_is_built() -> None:
    escalation = escalation_for(ChannelsConfig.model_validate(
        {"freshdesk": {"base_url": "https://x.freshdesk.com", "api_key": "env:X_FD"}}))
    assert escalation.helpdesk is not None
    assert (escalation.pager, escalation.bridge, escalation.tracker) == (None, None, None)


def test_a_literal_secret_in_the_config_is_refused() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        ChannelsConfig.model_validate({"opsgenie": {"api_key": "eb243592-faa2-4ba2-a551-1afdf565c889"}})


async def test_a_vendor_whose_secret_is_missing_fails_its_calls_with_a_clear_permanent_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_MRDJ_FRESHDESK_API_KEY", raising=False)
    channels = ChannelsConfig.model_validate(json.loads(MRDJ_CONFIG.read_text())["channels"])
    helpdesk = escalation_for(channels).helpdesk
    assert helpdesk is not None
    with pytest.raises(ChannelNotConfigured, match=r"freshdesk: not configured: .*CRM_MRDJ_FRESHDESK_API_KEY"):
        await helpdesk.create_ticket(subject="s", description="d", email="a@b.nl", priority=2, status=2)
