"""The `--case=sso` smoke test, run as the playbook's people type it from the repository root, against the
Entra-like provider and a live server of the suite: it passes when everything is right and names the fix when the
client secret is refused."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from rentguy_crm.auth import service as auth_service
from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.support.runbook_actions import run_action
from tests.factories import tenant_document
from tests.identity.conftest import SECRET_VARIABLE, sso_section
from tests.identity.idp_fake import CLIENT_SECRET, DIRECTORY_A
from tests.live_server import LiveServer

SMOKE_COMMAND = ["-m", "pytest", "-m", "tenant_smoke", "--tenant=mrdj", "--case=sso", "-p", "no:cacheprovider"]


async def run_smoke(tmp_path: Path, idp, app, secret: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with LiveServer(app) as server:
        doc = tenant_document("mrdj", sso=sso_section(
            DIRECTORY_A, redirect_uri=f"{server.url}/api/v1/auth/sso/callback"))
        (tmp_path / "mrdj.json").write_text(json.dumps(doc))
        env = {k: v for k, v in os.environ.items()
               if k not in ("CRM_TEST_DATABASE_URL", "CRM_DATABASE_URL", "PYTEST_ADDOPTS")}
        env.update(CRM_TENANTS_DIR=str(tmp_path), CRM_SSO_ENTRA_AUTHORITY=idp.authority, **{SECRET_VARIABLE: secret})
        proc = await asyncio.create_subprocess_exec(sys.executable, *SMOKE_COMMAND, cwd=PROJECT_ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
    return proc.returncode or 0, out.decode()


@pytest.mark.slow
async def test_smoke_passes_with_a_working_configuration(tmp_path, idp, app) -> None:
    code, out = await run_smoke(tmp_path, idp, app, CLIENT_SECRET)
    assert code == 0, out
    assert "1 passed" in out


@pytest.mark.slow
async def test_smoke_names_a_refused_client_secret_and_the_fix(tmp_path, idp, app) -> None:
    code, out = await run_smoke(tmp_path, idp, app, "an-expired-secret")
    assert code == 1, out
    assert "FAIL client_secret" in out and "invalid_client" in out and "runbook 2.3 step 3" in out
    assert "ok   discovery" in out and "ok   issuer" in out and "ok   redirect_uri" in out


@pytest.mark.slow
async def test_the_runbook_action_runs_the_smoke_case_and_reports_its_verdict(tmp_path, idp, app, db, factory,
                                                                              monkeypatch) -> None:
    """Runbook 2.3 step 2 as a desk action: the same smoke case, its verdict as the first line of the output."""
    tenant = await factory.tenant("mrdj")
    with LiveServer(app) as server:
        doc = tenant_document("mrdj", sso=sso_section(
            DIRECTORY_A, redirect_uri=f"{server.url}/api/v1/auth/sso/callback"))
        (tmp_path / "mrdj.json").write_text(json.dumps(doc))
        monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
        monkeypatch.setenv("CRM_TENANTS_DIR", str(tmp_path))
        monkeypatch.setenv("CRM_SSO_ENTRA_AUTHORITY", idp.authority)
        monkeypatch.setenv(SECRET_VARIABLE, CLIENT_SECRET)
        # A read session: on SQLite a write session here would hold the lock the server's sign-in needs.
        async with db.read_session() as session:
            text = await run_action(session, auth_service.job_scope(tenant.id), "run_sso_smoke_test", {})
    assert text.splitlines()[0] == "SSO smoke test for mrdj: passed", text
    assert "1 passed" in text
