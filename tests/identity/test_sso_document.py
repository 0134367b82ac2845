"""`auth/sso_mrdj.md` is the truth of runbook 2.3 step 1: its tables must say what `configs/tenants/mrdj.json`
configures (directory id, client id, secret reference, redirect URI, group mapping)."""

from __future__ import annotations

import re

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.tenants.config import load_config

DOCUMENT = (PROJECT_ROOT / "auth" / "sso_mrdj.md").read_text()
CONFIG = load_config(PROJECT_ROOT / "configs" / "tenants" / "mrdj.json")


def table_value(setting: str) -> str:
    match = re.search(rf"^\| {re.escape(setting)} \| `([^`]+)`", DOCUMENT, re.MULTILINE)
    assert match, f"auth/sso_mrdj.md has no row '{setting}'"
    return match.group(1)


def test_document_names_the_configured_client() -> None:
    sso = CONFIG.sso
    assert sso is not None
    assert table_value("provider") == sso.provider
    assert table_value("directory id") == sso.directory_id
    assert table_value("client id") == sso.client_id
    assert table_value("client secret") == sso.client_secret
    assert table_value("redirect URI") == sso.redirect_uri
    assert table_value("tenant claim") == sso.tenant_claim
    assert table_value("scopes") == " ".join(sso.scopes)
    assert table_value("discovery") == sso.discovery_url()
    assert table_value("issuer") == f"https://login.microsoftonline.com/{sso.directory_id}/v2.0"
    assert table_value("break-glass announcements") == sso.break_glass_channel


def test_document_lifetimes_are_the_configured_ones() -> None:
    sso = CONFIG.sso
    assert sso is not None
    assert f"idle {sso.idle_timeout_minutes} minutes, absolute {sso.absolute_timeout_hours} hours" in DOCUMENT


def test_document_role_mapping_is_the_configured_one() -> None:
    sso = CONFIG.sso
    assert sso is not None
    rows = re.findall(r"^\| `([0-9a-f-]{36})` \| [^|]+ \| ([^|]+) \|$", DOCUMENT, re.MULTILINE)
    documented = {group: sorted(r.strip(" `") for r in roles.split(",")) for group, roles in rows}
    assert documented == {group: sorted(roles) for group, roles in sso.group_roles.items()}
    assert not sso.app_roles or all(role in DOCUMENT for role in sso.app_roles)
