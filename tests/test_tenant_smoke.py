"""Smoke tests for one tenant's configuration: `pytest -m tenant_smoke --tenant=mrdj [--case=config|api|sso]`.

`--tenant` picks `configs/tenants/<tenant>.json` (default mrdj); `--case` runs only that case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.provisioning import provision_tenant
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.config import TenantConfig, load_config
from rentguy_crm.tenants.scope import TenantScope

pytestmark = pytest.mark.tenant_smoke


@pytest.fixture
def smoke_config_path(request: pytest.FixtureRequest) -> Path:
    tenant = request.config.getoption("--tenant") or "mrdj"
    path = PROJECT_ROOT / "configs" / "tenants" / f"{tenant}.json"
    if not path.exists():
        pytest.fail(f"--tenant={tenant}: there is no {path.relative_to(PROJECT_ROOT)}")
    return path


@pytest.fixture
def smoke_config(smoke_config_path: Path) -> TenantConfig:
    return load_config(smoke_config_path)


def only_case(request: pytest.FixtureRequest, case: str) -> None:
    wanted = request.config.getoption("--case")
    if wanted and wanted != case:
        pytest.skip(f"case '{case}' not selected (--case={wanted})")


async def test_config(request: pytest.FixtureRequest, db, smoke_config: TenantConfig) -> None:
    """The tenant's config validates, provisions, and a second provisioning changes nothing."""
    only_case(request, "config")
    async with db.session() as session:
        first = await provision_tenant(session, smoke_config, actor="smoke")
    assert f"tenant {smoke_config.slug}" in first.created
    async with db.session() as session:
        second = await provision_tenant(session, smoke_config, actor="smoke")
    assert not second.changed, f"second provisioning changed {second.updated}"


async def test_api(request: pytest.FixtureRequest, client, db, factory, smoke_config: TenantConfig) -> None:
    """A key of the tenant reads its pipelines; another tenant's key does not see them."""
    only_case(request, "api")
    async with db.session() as session:
        await provision_tenant(session, smoke_config, actor="smoke")
        tenant = await repository.get(session, smoke_config.slug)
    other_slug = "smoke-other" if smoke_config.slug != "smoke-other" else "smoke-second"
    other = await factory.tenant(other_slug)
    own = await client.get("/api/v1/crm/pipelines", headers=await factory.headers(tenant, "engineering"))
    assert own.status_code == 200
    assert [p["key"] for p in own.json()] == [p.key for p in smoke_config.pipelines]
    foreign = await client.get("/api/v1/crm/pipelines", headers=await factory.headers(other, "engineering"))
    assert {p["id"] for p in foreign.json()}.isdisjoint({p["id"] for p in own.json()})


async def test_sso(request: pytest.FixtureRequest, client, db, factory, smoke_config: TenantConfig) -> None:
    """Runbook 2.3 step 2. Single sign-on (Azure AD) is not built yet (auth/sso_mrdj.md): people and systems
    sign in with API keys, so this checks that path the way a token mismatch would show: the tenant's key is
    accepted, a revoked key and a made-up key are refused with 401, and no SSO settings pretend otherwise."""
    only_case(request, "sso")
    assert not smoke_config.sso, ("the tenant config has an 'sso' section, but SSO is not built; "
                                  "see auth/sso_mrdj.md")
    async with db.session() as session:
        await provision_tenant(session, smoke_config, actor="smoke")
        tenant = await repository.get(session, smoke_config.slug)
    headers = await factory.headers(tenant, "support")
    assert (await client.get("/api/v1/crm/pipelines", headers=headers)).status_code == 200
    from rentguy_crm.auth import service as keys

    async with db.session() as session:
        key = (await keys.list_keys(session, TenantScope(tenant.id)))[-1]
        await keys.revoke_key(session, key.id, actor="smoke")
    revoked = await client.get("/api/v1/crm/pipelines", headers=headers)
    made_up = await client.get("/api/v1/crm/pipelines", headers={"Authorization": "Bearer rg_not-a-real-key"})
    assert (revoked.status_code, made_up.status_code) == (401, 401)
    assert revoked.headers["content-type"] == "application/problem+json"
