"""Smoke tests for one tenant's configuration: `pytest -m tenant_smoke --tenant=mrdj [--case=config|api]`.

`--tenant` picks `configs/tenants/<tenant>.json` (default mrdj); `--case` runs only that case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.tenants import repository, service
from rentguy_crm.tenants.config import TenantConfig, load_config

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
        first = await service.provision(session, smoke_config, actor="smoke")
    assert f"tenant {smoke_config.slug}" in first.created
    async with db.session() as session:
        second = await service.provision(session, smoke_config, actor="smoke")
    assert not second.changed, f"second provisioning changed {second.updated}"


async def test_api(request: pytest.FixtureRequest, client, db, factory, smoke_config: TenantConfig) -> None:
    """A key of the tenant reads its pipelines; another tenant's key does not see them."""
    only_case(request, "api")
    async with db.session() as session:
        await service.provision(session, smoke_config, actor="smoke")
        tenant = await repository.get(session, smoke_config.slug)
    other_slug = "smoke-other" if smoke_config.slug != "smoke-other" else "smoke-second"
    other = await factory.tenant(other_slug)
    own = await client.get("/api/v1/crm/pipelines", headers=await factory.headers(tenant, "engineering"))
    assert own.status_code == 200
    assert [p["key"] for p in own.json()] == [p.key for p in smoke_config.pipelines]
    foreign = await client.get("/api/v1/crm/pipelines", headers=await factory.headers(other, "engineering"))
    assert {p["id"] for p in foreign.json()}.isdisjoint({p["id"] for p in own.json()})
