"""The on-call schedule and the Jira projects are named in two sections of the tenant config (the vendor's
`channels` entry and the desk's `support.escalation`); the shipped config names them alike."""

from __future__ import annotations

import json

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.tenants.config import TenantConfig

MRDJ = json.loads((PROJECT_ROOT / "configs" / "tenants" / "mrdj.json").read_text())


def test_the_shipped_config_names_each_once_consistently() -> None:
    config = TenantConfig.model_validate(MRDJ)
    assert config.channels.opsgenie is not None
    assert config.channels.opsgenie.schedule == config.support.escalation.pager_schedule
