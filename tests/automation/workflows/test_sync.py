"""Syncing the library into `workflows`: idempotent, versioned on change, audited; inspection and the API."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rentguy_crm.audit.models import AuditEntry
from rentguy_crm.automation.workflows import library
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.cli import app
from rentguy_crm.errors import BadRequest, NotFound
from rentguy_crm.tenants.scope import TenantScope


def library_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(library.LIBRARY_DIR, folder)
    return folder


async def sync(db, folder: Path | None = None) -> workflows_service.SyncReport:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        source = library.load_library([folder]) if folder else None
        return await workflows_service.sync(session, "mrdj", source=source)


async def stored(db, key: str) -> list[Workflow]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        rows = await session.scalars(select(Workflow).where(Workflow.key == key).order_by(Workflow.version))
        return list(rows.all())


async def test_first_sync_creates_version_1_of_every_workflow(db, factory) -> None:
    await factory.tenant()
    report = await sync(db)
    assert sorted(report.created) == ["lead_intake v1", "payment_received v1", "post_event_care v1",
                                     "proposal_followup v1"]
    rows = await stored(db, "lead_intake")
    assert [(r.version, r.is_current, r.enabled) for r in rows] == [(1, True, True)]
    assert rows[0].triggers == [{"event": "lead.created", "condition": None}]


async def test_sync_again_changes_nothing(db, factory) -> None:
    await factory.tenant()
    await sync(db)
    report = await sync(db)
    assert report.created == [] and report.updated == []
    assert sorted(report.unchanged) == ["lead_intake v1", "payment_received v1", "post_event_care v1",
                                     "proposal_followup v1"]
    assert len(await stored(db, "lead_intake")) == 1


async def test_a_changed_file_becomes_a_new_current_version_and_the_old_one_stays(db, factory, tmp_path) -> None:
    await factory.tenant()
    folder = library_copy(tmp_path)
    await sync(db, folder)
    path = folder / "lead_intake.yaml"
    path.write_text(path.read_text().replace("sla: 15m", "sla: 10m"))
    report = await sync(db, folder)
    assert report.updated == ["lead_intake v2 (was v1)"]
    assert sorted(report.unchanged) == ["payment_received v1", "post_event_care v1", "proposal_followup v1"]
    rows = await stored(db, "lead_intake")
    assert [(r.version, r.is_current) for r in rows] == [(1, False), (2, True)]
    assert rows[0].definition["sla"] == 900 and rows[1].definition["sla"] == 600


async def test_comment_only_changes_do_not_make_a_version(db, factory, tmp_path) -> None:
    await factory.tenant()
    folder = library_copy(tmp_path)
    await sync(db, folder)
    path = folder / "lead_intake.yaml"
    path.write_text("# reviewed by operations\n" + path.read_text())
    report = await sync(db, folder)
    assert report.updated == []


async def test_concurrent_syncs_of_one_tenant_make_one_version(db, factory) -> None:
    if db.dialect != "postgresql":
        pytest.skip("row locks are a Postgres matter; SQLite serialises writers")
    await factory.tenant()
    reports = await asyncio.gather(sync(db), sync(db))
    assert sorted(len(r.created) for r in reports) == [0, 4]
    assert [r.version for r in await stored(db, "lead_intake")] == [1]


async def test_sync_is_audited(db, factory, tmp_path) -> None:
    await factory.tenant()
    folder = library_copy(tmp_path)
    await sync(db, folder)
    path = folder / "post_event_care.yaml"
    path.write_text(path.read_text().replace("max_attempts: 8", "max_attempts: 6"))
    await sync(db, folder)
    async with db.session() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "workflow")
                                         .order_by(AuditEntry.id))).all()
    actions = [(e.action, e.entity_id) for e in entries]
    assert actions.count(("workflow.created", "post_event_care")) == 1
    updated = [e for e in entries if e.action == "workflow.updated"]
    assert [(e.entity_id, e.before["version"], e.after["version"]) for e in updated] == [("post_event_care", 1, 2)]


async def test_a_library_with_errors_syncs_nothing(db, factory, tmp_path) -> None:
    await factory.tenant()
    folder = library_copy(tmp_path)
    (folder / "broken.yaml").write_text("key: broken\nname: Broken\ntriggers: []\nsteps: []\n")
    with pytest.raises(BadRequest) as caught:
        await sync(db, folder)
    assert "broken.yaml:3" in caught.value.detail
    assert await stored(db, "lead_intake") == []


async def test_sync_of_an_unknown_tenant_is_not_found(db) -> None:
    async with db.session() as session:
        with pytest.raises(NotFound):
            await workflows_service.sync(session, "nobody")


async def test_sync_keeps_workflows_of_other_tenants_apart(db, factory) -> None:
    await factory.tenant()
    other = await factory.tenant("other")
    await sync(db)
    async with db.session() as session:
        assert await workflows_service.current_workflows_for_event(session, TenantScope(other.id), "lead.created") == []


# --- what the engine uses ------------------------------------------------------------------------------------

async def test_current_workflows_for_an_event(db, factory) -> None:
    tenant = await factory.tenant()
    await sync(db)
    async with db.session() as session:
        negotiation = await workflows_service.current_workflows_for_event(session, TenantScope(tenant.id),
                                                                          "deal.stage.negotiation")
        created = await workflows_service.current_workflows_for_event(session, TenantScope(tenant.id), "lead.created")
        paid = await workflows_service.current_workflows_for_event(session, TenantScope(tenant.id), "payment.received")
        nothing = await workflows_service.current_workflows_for_event(session, TenantScope(tenant.id), "ticket.created")
    assert [w.key for w in negotiation] == ["proposal_followup"]
    assert [(w.key, w.version) for w in created] == [("lead_intake", 1)]
    assert [w.key for w in paid] == ["payment_received"]
    assert nothing == []


async def test_disabled_workflows_are_not_started(db, factory, tmp_path) -> None:
    tenant = await factory.tenant()
    folder = library_copy(tmp_path)
    path = folder / "lead_intake.yaml"
    path.write_text(path.read_text().replace("name: Lead intake\n", "name: Lead intake\nenabled: false\n"))
    await sync(db, folder)
    async with db.session() as session:
        assert await workflows_service.current_workflows_for_event(session, TenantScope(tenant.id),
                                                                   "lead.created") == []


def test_trigger_matches_checks_the_event_and_its_condition() -> None:
    definition = library.load_library().get("lead_intake").definition  # type: ignore[union-attr]
    conditional = definition.model_copy(update={"triggers": [
        definition.triggers[0].model_copy(update={"condition": "lead.event_type == 'bruiloft'"})]})
    assert workflows_service.trigger_matches(definition, "lead.created", {}) is True
    assert workflows_service.trigger_matches(definition, "lead.status_changed", {}) is False
    assert workflows_service.trigger_matches(conditional, "lead.created", {"lead": {"event_type": "bruiloft"}})
    assert not workflows_service.trigger_matches(conditional, "lead.created", {"lead": {"event_type": "feest"}})
    assert not workflows_service.trigger_matches(conditional, "lead.created", {})


async def test_trigger_matches_accepts_a_stored_row(db, factory) -> None:
    await factory.tenant()
    await sync(db)
    row = (await stored(db, "post_event_care"))[0]
    assert workflows_service.trigger_matches(row, "event.completed", {})


# --- commands ------------------------------------------------------------------------------------------------

@pytest.fixture
async def mrdj(factory):  # type: ignore[no-untyped-def]
    return await factory.tenant()


def test_sync_command_reports_and_is_idempotent(mrdj) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["workflows", "sync", "--tenant", "mrdj", "--json"])
    assert first.exit_code == 0, first.output
    assert len(json.loads(first.stdout)["created"]) == 4
    second = runner.invoke(app, ["workflows", "sync", "--tenant", "mrdj"])
    assert second.exit_code == 0
    assert "0 created, 0 updated, 4 unchanged" in second.output


def test_list_and_show_commands(mrdj) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["workflows", "sync", "--tenant", "mrdj"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["workflows", "list", "--tenant", "mrdj", "--json"]).stdout)
    assert [(w["key"], w["version"], w["sla"], w["library"]) for w in listed] == [
        ("lead_intake", 1, "15m", "in sync"), ("payment_received", 1, "15m", "in sync"),
        ("post_event_care", 1, "1h", "in sync"), ("proposal_followup", 1, "1h", "in sync")]
    shown = runner.invoke(app, ["workflows", "show", "proposal_followup", "--tenant", "mrdj", "--json"])
    data = json.loads(shown.stdout)
    assert data["version"] == 1 and data["retry"]["max_attempts"] == 5
    assert (data["once_per"], data["on_new_run"]) == ("change", "supersede")
    table = runner.invoke(app, ["workflows", "show", "proposal_followup", "--tenant", "mrdj"])
    assert "on_new_run" in table.output and "supersede" in table.output
    assert [(s["step"], s["op"], s["type"]) for s in data["program"]] == [
        (0, "step", "send_email"), (1, "step", "wait"), (2, "branch", "branch"), (3, "step", "send_whatsapp"),
        (4, "step", "create_task")]
    assert data["program"][2]["next_if_false"] == 5
    missing = runner.invoke(app, ["workflows", "show", "proposal_followup", "--tenant", "mrdj", "--version", "9"])
    assert missing.exit_code == 1
    assert "No version 9 of workflow 'proposal_followup'" in missing.output


def test_validate_against_a_tenant_finds_the_library_stages(mrdj) -> None:
    result = CliRunner().invoke(app, ["workflows", "validate", "--tenant", "mrdj"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_validate_against_a_tenant_warns_about_an_unknown_stage(mrdj, tmp_path) -> None:
    folder = library_copy(tmp_path)
    path = folder / "proposal_followup.yaml"
    path.write_text(path.read_text().replace("deal.stage.negotiation", "deal.stage.negotiating"))
    result = CliRunner().invoke(app, ["workflows", "validate", str(folder), "--tenant", "mrdj"])
    assert result.exit_code == 0, result.output
    assert f"{path}:8: warning: trigger 'deal.stage.negotiating': no pipeline of tenant mrdj has a stage " \
           "'negotiating' — did you mean 'negotiation'?" in result.output


def test_show_without_tenant_shows_the_library_file() -> None:
    result = CliRunner().invoke(app, ["workflows", "show", "lead_intake", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["file"] == "automation/workflows/lead_intake.yaml"


# --- API -----------------------------------------------------------------------------------------------------

async def test_api_lists_the_tenants_current_workflows(client, factory, db) -> None:
    tenant = await factory.tenant()
    await sync(db)
    response = await client.get("/api/v1/automation/workflows", headers=await factory.headers(tenant, "support"))
    assert response.status_code == 200
    assert [w["key"] for w in response.json()] == ["lead_intake", "payment_received", "post_event_care",
                                                  "proposal_followup"]


async def test_api_shows_one_workflow_with_numbered_steps(client, factory, db) -> None:
    tenant = await factory.tenant()
    await sync(db)
    response = await client.get("/api/v1/automation/workflows/lead_intake?version=1",
                                headers=await factory.headers(tenant, "sales"))
    assert response.status_code == 200
    body = response.json()
    assert body["sla"] == "15m" and body["triggers"][0]["event"] == "lead.created"
    assert body["program"][0] == {"step": 0, "op": "step", "type": "send_email", "label": "welcome e-mail",
                                  "detail": "template lead-welcome", "next_if_false": None, "jump_to": None}


async def test_api_answers_404_for_another_tenants_workflow(client, factory, db) -> None:
    await factory.tenant()
    other = await factory.tenant("other")
    await sync(db)
    response = await client.get("/api/v1/automation/workflows/lead_intake", headers=await factory.headers(other))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_api_refuses_a_bad_version_with_a_4xx(client, factory) -> None:
    tenant = await factory.tenant()
    response = await client.get("/api/v1/automation/workflows/lead_intake?version=zero",
                                headers=await factory.headers(tenant))
    assert response.status_code == 422
    assert "version" in response.text


async def test_api_needs_a_key(client) -> None:
    assert (await client.get("/api/v1/automation/workflows")).status_code == 401
