"""The Reports and Admin screens through their doors: archived charts served as the report's own PNG, the
archive list; people and the SSO mapping, an API key shown once and revoked, the rate-limit switch for a while."""

from __future__ import annotations

import re

from sqlalchemy import select

from rentguy_crm.auth.models import ApiKey
from rentguy_crm.ratelimit.models import RateLimitSwitch
from tests.web.screen_support import FRAGMENT, PIXEL_PNG, archived_report


async def test_the_latest_report_shows_its_archived_chart(client, factory, db) -> None:
    tenant = await factory.tenant("mrdj")
    staff = await factory.session_headers(tenant, "operations")
    report_id = await archived_report(db, tenant.id)
    charts = await client.get("/ui/reports/charts", headers={**staff, **FRAGMENT})
    assert f'src="/ui/reports/{report_id}/charts/sla"' in charts.text and "2026-W47" in charts.text
    image = await client.get(f"/ui/reports/{report_id}/charts/sla", headers=staff)
    assert (image.status_code, image.headers["content-type"], image.content) == (200, "image/png", PIXEL_PNG)
    archive = await client.get("/ui/reports/list", headers={**staff, **FRAGMENT})
    assert f'id="report-{report_id}"' in archive.text


async def test_no_reports_yet_says_so(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    staff = await factory.session_headers(tenant, "support")
    charts = await client.get("/ui/reports/charts", headers={**staff, **FRAGMENT})
    assert charts.text.count('class="state state-empty"') == 2
    archive = await client.get("/ui/reports/list", headers={**staff, **FRAGMENT})
    assert "state-empty" in archive.text


async def test_a_chart_the_report_does_not_have_is_a_404_naming_the_ones_it_has(client, factory, db) -> None:
    tenant = await factory.tenant("mrdj")
    staff = await factory.session_headers(tenant, "operations")
    report_id = await archived_report(db, tenant.id)
    response = await client.get(f"/ui/reports/{report_id}/charts/volume", headers={**staff, **FRAGMENT})
    assert response.status_code == 404 and "sla" in response.text


async def test_the_people_list_shows_roles_and_the_sso_group_mapping(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    response = await client.get("/ui/admin/people", headers={**admin, **FRAGMENT})
    assert response.status_code == 200
    assert '<span class="badge">admin</span>' in response.text
    for group in (tenant.config.get("sso") or {}).get("group_roles", {}):
        assert f"<code>{group}</code>" in response.text


async def test_a_new_key_is_shown_once_works_and_stops_working_when_revoked(client, factory, db) -> None:
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    made = await client.post("/ui/admin/keys", headers={**admin, **FRAGMENT},
                             data={"name": "Website server", "role_sales": "1"})
    assert made.status_code == 200
    raw = re.search(r'id="new-key-value">(rg_[^<]+)<', made.text)
    assert raw is not None
    bearer = {"Authorization": f"Bearer {raw.group(1)}"}
    assert (await client.get("/api/v1/auth/me", headers=bearer)).json()["roles"] == ["sales"]
    listed = await client.get("/ui/admin/keys", headers={**admin, **FRAGMENT})
    assert raw.group(1) not in listed.text and "Website server" in listed.text
    async with db.session() as session:
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.name == "Website server"))
    revoked = await client.post(f"/ui/admin/keys/{key_id}/revoke", headers={**admin, **FRAGMENT})
    assert revoked.status_code == 200 and f'id="key-{key_id}"' in revoked.text
    assert (await client.get("/api/v1/auth/me", headers=bearer)).status_code == 401


async def test_a_key_without_a_role_is_refused_naming_roles_and_none_is_made(client, factory, db) -> None:
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    response = await client.post("/ui/admin/keys", headers={**admin, **FRAGMENT}, data={"name": "Zonder rol"})
    assert response.status_code == 422 and "roles" in response.text
    async with db.session() as session:
        assert await session.scalar(select(ApiKey.id).where(ApiKey.name == "Zonder rol")) is None


async def test_the_profile_switch_lasts_the_given_time(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    response = await client.post("/ui/admin/rate-limit", headers={**admin, **FRAGMENT},
                                 data={"profile": "relaxed", "duration": "2h"})
    assert response.status_code == 200
    assert re.search(r"<strong>relaxed</strong>\s*\S+ <time", response.text)


async def test_a_switch_without_a_unit_or_for_too_long_is_refused_and_nothing_switches(client, factory, db):
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    for duration in ("2", "30d", ""):
        response = await client.post("/ui/admin/rate-limit", headers={**admin, **FRAGMENT},
                                     data={"profile": "strict", "duration": duration})
        assert response.status_code == 422 and "uration" in response.text, duration
    async with db.session() as session:
        assert await session.scalar(select(RateLimitSwitch.id)) is None


async def test_the_organisation_settings_are_shown_with_the_working_week_in_order(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    admin = await factory.session_headers(tenant, "admin")
    response = await client.get("/ui/admin/settings", headers={**admin, **FRAGMENT})
    assert response.status_code == 200
    assert "Europe/Amsterdam" in response.text and "<form" not in response.text
    days = re.findall(r"\b(mon|tue|wed|thu|fri|sat|sun) \d\d:\d\d", response.text)
    order = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert days and days == sorted(days, key=order.index)
