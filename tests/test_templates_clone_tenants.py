"""Cloning from another tenant: only a tenant that lists the caller under `templates.shareable_with` is a
source; any other answers exactly like a tenant that does not exist, through the API and the CLI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from rentguy_crm.db import Database
from rentguy_crm.templates.models import TemplateVersion
from rentguy_crm.tenants.models import Tenant
from tests.test_templates_api import DRAFT
from tests.test_templates_cli import crm
from tests.test_templates_clone import clone

CLONE = "/api/v1/templates/clone"


async def versions_of(db: Database, tenant: Tenant) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(TemplateVersion)
                                        .where(TemplateVersion.tenant_id == tenant.id)) or 0)


@pytest.fixture
async def operations(factory) -> tuple[Tenant, dict[str, str]]:  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant("mrdj")
    return mrdj, await factory.headers(mrdj, "operations")


async def _source(factory, db: Database, slug: str, **config: Any) -> Tenant:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant(slug, **config)
    await clone(db, slug, publish=True)  # live templates to take
    return tenant


@pytest.mark.parametrize("body", [
    {"from_tenant": "{other}"},
    {"from_tenant": "{other}", "dry_run": True},
    {"from_tenant": "{other}", "only": ["lead-welcome", "no-such-key"]},
])
async def test_a_tenant_that_does_not_share_answers_like_one_that_does_not_exist(
        client: httpx.AsyncClient, db: Database, factory, operations, body: dict[str, Any]) -> None:
    mrdj, headers = operations
    await _source(factory, db, "othercorp")

    def named(slug: str) -> dict[str, Any]:
        return {k: (v.format(other=slug) if isinstance(v, str) else v) for k, v in body.items()}

    existing = await client.post(CLONE, json=named("othercorp"), headers=headers)
    missing = await client.post(CLONE, json=named("nosuchcorp"), headers=headers)
    assert (existing.status_code, missing.status_code) == (404, 404)
    assert existing.json()["detail"].replace("othercorp", "X") == missing.json()["detail"].replace("nosuchcorp", "X")
    assert existing.json()["errors"] == missing.json()["errors"] == [
        {"field": "from_tenant", "message": "no such tenant shares its templates with you"}]
    assert "lead-welcome" not in existing.text
    assert await versions_of(db, mrdj) == 0


async def test_sharing_with_someone_else_is_not_sharing_with_you(client: httpx.AsyncClient, db: Database,
                                                                 factory, operations) -> None:
    mrdj, headers = operations
    await _source(factory, db, "othercorp", templates={"shareable_with": ["thirdcorp"]})
    response = await client.post(CLONE, json={"from_tenant": "othercorp"}, headers=headers)
    assert response.status_code == 404
    assert await versions_of(db, mrdj) == 0


async def test_a_source_that_shares_with_you_can_be_cloned(client: httpx.AsyncClient, db: Database, factory,
                                                           operations) -> None:
    mrdj, headers = operations
    other = await _source(factory, db, "othercorp", templates={"shareable_with": ["mrdj"]})
    response = await client.post(CLONE, json={"from_tenant": "othercorp", "only": ["lead-welcome"]},
                                 headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["source"] == "tenant othercorp" and {r["action"] for r in report["rows"]} == {"create"}
    assert await versions_of(db, mrdj) == len(report["rows"]) > 0
    assert await versions_of(db, other) > len(report["rows"])  # the source is left as it was


async def test_naming_your_own_tenant_is_a_400_naming_the_field(client: httpx.AsyncClient, operations) -> None:
    _mrdj, headers = operations
    response = await client.post(CLONE, json={"from_tenant": "mrdj"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "from_tenant"


async def test_the_command_line_follows_the_same_rule(db: Database, factory, operations) -> None:
    mrdj, _headers = operations
    await _source(factory, db, "othercorp")
    result = crm("templates", "clone", "--tenant", "mrdj", "--from-tenant", "othercorp", "--dry-run")
    assert result.returncode == 1
    assert "No tenant 'othercorp' shares its templates with mrdj" in result.stderr
    assert "templates.shareable_with" in result.stderr
    assert await versions_of(db, mrdj) == 0


FOREIGN_ROUTES = [
    ("GET", "/api/v1/templates/{template}", None),
    ("GET", "/api/v1/templates/{template}/diff", None),
    ("PATCH", "/api/v1/templates/versions/{version}", {"subject": "Overgenomen"}),
    ("POST", "/api/v1/templates/versions/{version}/preview", {}),
    ("POST", "/api/v1/templates/versions/{version}/publish", None),
    ("POST", "/api/v1/templates/versions/{version}/archive", None),
]


@pytest.mark.parametrize(("method", "template", "body"), FOREIGN_ROUTES,
                         ids=[f"{m} {t}" for m, t, _b in FOREIGN_ROUTES])
async def test_another_tenants_template_ids_answer_404_and_change_nothing(
        client: httpx.AsyncClient, db: Database, factory, operations, method: str, template: str,
        body: dict[str, Any] | None) -> None:
    _mrdj, headers = operations
    other = await factory.tenant("othercorp")
    created = await client.post("/api/v1/templates", json=DRAFT, headers=await factory.headers(other, "operations"))
    async with db.session() as session:
        version = await session.get(TemplateVersion, created.json()["id"])
        assert version is not None
        ids = {"template": version.template_id, "version": version.id}
    before = await versions_of(db, other)
    response = await client.request(method, template.format(**ids), json=body, headers=headers)
    assert response.status_code == 404, response.text
    assert "Overgenomen" not in response.text and DRAFT["text_body"] not in response.text
    assert await versions_of(db, other) == before
