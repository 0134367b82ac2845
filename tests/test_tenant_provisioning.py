"""Provisioning from `configs/tenants/<slug>.json`: idempotent, updates on change, clear errors for mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.crm.models import Pipeline, PipelineStage
from rentguy_crm.provisioning import provision_tenant
from rentguy_crm.tenants import service
from rentguy_crm.tenants.config import TenantConfigError, load_config
from rentguy_crm.tenants.models import Tenant
from tests.factories import MRDJ_CONFIG, tenant_document


async def _provision(db, path: Path) -> service.ProvisionReport:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await provision_tenant(session, load_config(path), actor="test")


async def _counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(m)) or 0)  # type: ignore[return-value]
                      for m in (Tenant, Pipeline, PipelineStage)])


def _write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "tenant.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


async def test_first_run_creates_the_tenant_pipelines_and_stages(db) -> None:
    report = await _provision(db, MRDJ_CONFIG)
    assert "tenant mrdj" in report.created
    assert "stage wedding.proposal_sent" in report.created
    stage_count = sum(len(p["stages"]) for p in json.loads(MRDJ_CONFIG.read_text())["pipelines"])
    assert await _counts(db) == (1, 4, stage_count)


async def test_second_run_changes_nothing_and_duplicates_nothing(db) -> None:
    await _provision(db, MRDJ_CONFIG)
    counts = await _counts(db)
    report = await _provision(db, MRDJ_CONFIG)
    assert not report.changed
    assert (report.created, report.updated) == ([], [])
    assert await _counts(db) == counts


async def test_changed_file_updates_in_place(db, tmp_path: Path) -> None:
    await _provision(db, MRDJ_CONFIG)
    doc = tenant_document()
    doc["pipelines"][0]["stages"][0]["name"] = "Binnengekomen"
    doc["pipelines"][0]["stages"].insert(2, {"key": "call_planned", "name": "Belafspraak"})
    doc["timezone"] = "Europe/Brussels"
    report = await _provision(db, _write(tmp_path, doc))
    assert "tenant mrdj" in report.updated
    assert "stage wedding.new" in report.updated
    assert report.created == ["stage wedding.call_planned"]
    async with db.session() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == "mrdj"))
        assert tenant is not None and tenant.timezone == "Europe/Brussels"
        names = (await session.scalars(select(PipelineStage.name).where(PipelineStage.key == "new")
                                       .join(Pipeline).where(Pipeline.key == "wedding"))).all()
        assert names == ["Binnengekomen"]


def _broken(mutate: Any) -> dict[str, Any]:
    doc = tenant_document()
    mutate(doc)
    return doc


MISTAKES: list[tuple[str, Any, str, str]] = [
    ("bad timezone", lambda d: d.update(timezone="Europe/Amsterdm"), "timezone", "unknown timezone"),
    ("bad branding colour", lambda d: d["branding"].update(primary_color="red"), "branding.primary_color",
     "String should match pattern"),
    ("duplicate stage key", lambda d: d["pipelines"][0]["stages"].append({"key": "new", "name": "Nog eens"}),
     "pipelines.0.stages", "repeated: new"),
    ("bad colour", lambda d: d["branding"].update(primary_color="blue"), "branding.primary_color", "pattern"),
    ("unknown field", lambda d: d.update(colour="#000000"), "colour", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("name", "mutate", "field", "problem"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_names_file_field_and_problem(tmp_path: Path, name: str, mutate: Any, field: str,
                                              problem: str) -> None:
    path = _write(tmp_path, _broken(mutate))
    with pytest.raises(TenantConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert f": {field}: " in message
    assert problem in message


def test_bad_json_names_file_line_and_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"slug": "mrdj",\n  "name": }')
    with pytest.raises(TenantConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert "line 2" in str(caught.value)


def test_cli_provision_exits_non_zero_with_the_message_and_writes_nothing(db, tmp_path: Path) -> None:
    path = _write(tmp_path, _broken(lambda d: d.update(timezone="Mars/Olympus")))
    result = CliRunner().invoke(cli, ["tenants", "provision", str(path)])
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "timezone" in output and "unknown timezone" in output and path.name in output


def test_cli_provision_twice_reports_up_to_date(db) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["tenants", "provision", str(MRDJ_CONFIG), "--json"])
    assert first.exit_code == 0, first.output
    assert "tenant mrdj" in json.loads(first.stdout)["created"]
    second = runner.invoke(cli, ["tenants", "provision", str(MRDJ_CONFIG), "--json"])
    assert second.exit_code == 0, second.output
    body = json.loads(second.stdout)
    assert (body["created"], body["updated"]) == ([], [])
