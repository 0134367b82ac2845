"""The on-call schedule and the Jira projects are named in two sections of the tenant config (the vendor's
`channels` entry and the desk's `support.escalation`); a tenant config where they differ is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.tenants.config import TenantConfig

MRDJ = json.loads((PROJECT_ROOT / "configs" / "tenants" / "mrdj.json").read_text())


def test_the_shipped_config_names_each_once_consistently() -> None:
    config = TenantConfig.model_validate(MRDJ)
    assert config.channels.opsgenie is not None
    assert config.channels.opsgenie.schedule == config.support.escalation.pager_schedule


@pytest.mark.parametrize(("section", "field", "value", "named"), [
    ("opsgenie", "schedule", "another_schedule", "channels.opsgenie.schedule"),
    ("jira", "retro_project_key", "OPS", "channels.jira.retro_project_key"),
    ("jira", "bug_project_key", "BUGS", "channels.jira.bug_project_key"),
])
def test_a_disagreeing_copy_is_refused_naming_both(section: str, field: str, value: str, named: str,
                                                   tmp_path: Path) -> None:
    document = json.loads(json.dumps(MRDJ))
    document["channels"][section][field] = value
    with pytest.raises(ValidationError) as refused:
        TenantConfig.model_validate(document)
    assert named in str(refused.value) and "support.escalation" in str(refused.value)
