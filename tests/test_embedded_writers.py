"""The embedded default under a few people's load: staff writing at once, workers draining runs, an operator
pausing a workflow. Writers wait their turn for the database (SQLite takes its write lock at BEGIN); none is
answered 503 and no command prints a traceback. Run against a real `crm run` server process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rentguy_crm.db import Database
from tests.automation_support import install_workflow, runs_by_status, workflow_doc
from tests.obs_live import live_env, start_api
from tests.obs_support import REPO, stop

CRM = str(Path(sys.executable).parent / "crm")
WRITERS = 20
REQUESTS_PER_WRITER = 25


async def _writer(client: httpx.AsyncClient, contact_id: int, index: int) -> list[int]:
    codes = []
    for n in range(REQUESTS_PER_WRITER):
        if n % 2 == 0:
            answer = await client.post("/api/v1/crm/leads", json={
                "contact_id": contact_id, "event_type": "bruiloft", "source": "phone",
                "message": f"writer {index} request {n}"})
        else:
            answer = await client.post("/api/v1/crm/contacts", json={
                "first_name": f"W{index}", "last_name": f"N{n}", "email": f"w{index}.n{n}@example.nl"})
        codes.append(answer.status_code)
    return codes


async def _pauser(client: httpx.AsyncClient, times: int) -> list[int]:
    codes = []
    for n in range(times):
        action = "pause" if n % 2 == 0 else "resume"
        codes.append((await client.post(f"/api/v1/automation/workflows/lead_intake/{action}",
                                        json={"reason": "drain test"} if action == "pause" else None)).status_code)
        await asyncio.sleep(0.05)
    return codes


async def _wait_for_runs(db: Database, count: int, within: float) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        statuses = await runs_by_status(db)
        if statuses.get("succeeded", 0) >= count or loop.time() > deadline:
            return statuses
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_twenty_concurrent_writers_and_a_pause_while_runs_drain_get_no_503(db: Database, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    await install_workflow(db, tenant, workflow_doc(steps=[
        {"type": "create_task", "title": "Bel de lead", "team": "sales"},
        {"type": "create_task", "title": "Stuur een offerte", "team": "sales"}]))
    contact = await factory.contact(tenant)
    key = await factory.api_key(tenant, "operations", "sales")
    env = live_env()
    proc, base = start_api(env, embedded=True)
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                     timeout=60) as client:
            cli = await asyncio.create_subprocess_exec(  # the operator's pause from another process, meanwhile
                CRM, "workflows", "pause", "--tenant", tenant.slug, "--workflow", "lead_intake",
                "--reason", "drain test", cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            results = await asyncio.gather(*(_writer(client, contact.id, i) for i in range(WRITERS)),
                                           _pauser(client, 20))
            cli_out, cli_err = await asyncio.wait_for(cli.communicate(), timeout=120)
            # Resumed, the embedded workers drain every queued run: nothing was dropped, no worker write failed.
            assert (await client.post("/api/v1/automation/workflows/lead_intake/resume")).status_code == 200
            leads = WRITERS * ((REQUESTS_PER_WRITER + 1) // 2)
            drained = await _wait_for_runs(db, leads, within=180)
    finally:
        stop(proc)
    writes = Counter(code for codes in results[:-1] for code in codes)
    pauses = Counter(results[-1])
    assert writes == {201: WRITERS * REQUESTS_PER_WRITER}, writes
    assert pauses == {200: 20}, pauses
    assert cli.returncode == 0, cli_err.decode()
    assert b"Traceback" not in cli_err and b"paused" in cli_out
    assert drained == {"succeeded": leads}, drained
