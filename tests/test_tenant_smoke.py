"""Smoke tests for one tenant's configuration: `pytest -m tenant_smoke --tenant=mrdj [--case=config|api|sso]`.

`--tenant` picks `configs/tenants/<tenant>.json` (default mrdj); `--case` runs only that case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rentguy_crm.auth.sso.check import check_sso
from rentguy_crm.config import get_settings
from rentguy_crm.provisioning import provision_tenant
from rentguy_crm.tenants import repository
from rentguy_crm.tenants.config import TenantConfig, load_config

pytestmark = pytest.mark.tenant_smoke


@pytest.fixture
def smoke_config_path(request: pytest.FixtureRequest) -> Path:
    tenant = request.config.getoption("--tenant") or "mrdj"
    path = get_settings().tenants_dir / f"{tenant}.json"
    if not path.exists():
        pytest.fail(f"--tenant={tenant}: there is no {path}")
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


async def test_sso(request: pytest.FixtureRequest, smoke_config: TenantConfig) -> None:
    """Runbook 2.3 step 2: the tenant's live single sign-on, end to end (auth/sso_mrdj.md). Discovery and keys
    reachable, issuer of the configured directory, client secret resolves and is accepted by the token endpoint,
    redirect URI answers, mapping names only our roles. Talks to the real provider, so it runs when a tenant is
    named: `pytest -m tenant_smoke --tenant=mrdj --case=sso`."""
    only_case(request, "sso")
    assert smoke_config.sso is not None, (
        f"configs/tenants/{smoke_config.slug}.json has no 'sso' section: single sign-on is not configured for "
        "this tenant (see docs/identity.md)")
    if not request.config.getoption("--tenant"):
        pytest.skip("checks the live identity provider; run: pytest -m tenant_smoke --tenant=mrdj --case=sso")
    checks = await check_sso(smoke_config.slug, smoke_config.sso, get_settings().sso_entra_authority)
    report = "\n".join(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks)
    print(f"SSO of {smoke_config.slug}:\n{report}")
    assert all(c.ok for c in checks), f"SSO of {smoke_config.slug} is not working:\n{report}"
