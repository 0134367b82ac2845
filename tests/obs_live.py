"""A live instance for the observability tests: workflows synced through the real service, the API (uvicorn) and
a `crm workers run --metrics-port` process, and leads posted to `POST /api/v1/leads` like the website backend does.

`lead_intake` fails for leads from "Faalstad" (its notify step is refused, see `obs_failing_plugin.py`);
`lead_followup` never fails. Both start on `lead.created`.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from rentguy_crm.automation.workflows import library
from rentguy_crm.automation.workflows import service as workflows_service
from rentguy_crm.db import Database
from tests.obs_support import PYTHON, REPO, child_env, free_port, wait_http

CRM = str(Path(sys.executable).parent / "crm")
FAILING_CITY = "Faalstad"
PLUGIN = "tests.obs_failing_plugin"

WORKFLOWS = {
    "lead_intake.yaml": f"""
key: lead_intake
name: Lead intake
triggers:
  - event: lead.created
retry: {{max_attempts: 3, initial_interval: 1s, backoff_factor: 2, max_interval: 5s}}
sla: 15m
steps:
  - type: branch
    name: refused notice
    condition: lead.city == "{FAILING_CITY}"
    then:
      - {{type: notify, name: refused ops notice, channel: slack, template: always-fails}}
  - {{type: notify, name: ops notice, channel: slack, template: lead-new-slack}}
  - {{type: create_task, name: sales follow-up task, title: Bel nieuwe lead, due_in: 1h}}
""",
    "lead_followup.yaml": """
key: lead_followup
name: Lead follow-up
triggers:
  - event: lead.created
sla: 1h
steps:
  - {type: notify, name: ops notice, channel: slack, template: lead-new-slack}
""",
}


def write_workflows(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in WORKFLOWS.items():
        (folder / name).write_text(text)
    return folder


async def sync_workflows(db: Database, folder: Path, tenant: str = "mrdj") -> list[str]:
    """Write the test workflows to `folder` and sync them into the tenant with the real sync service."""
    write_workflows(folder)
    async with db.session() as session:
        report = await workflows_service.sync(session, tenant, source=library.load_library([folder]), actor="test")
    return report.created


def start_api(env: dict[str, str], *, embedded: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    factory = "rentguy_crm.app:create_embedded_app" if embedded else "rentguy_crm.app:create_app"
    proc = subprocess.Popen([PYTHON, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc=proc)
    return proc, base


def start_worker(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`crm workers run --metrics-port`: returns the process and its metrics URL once it answers."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([CRM, "workers", "run", "--plugin", PLUGIN, "--metrics-port", str(port),
                                 "--poll", "0.2", "--concurrency", "4", "--grace", "2"],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/metrics"
    wait_http(url, proc=proc)
    return proc, url


def live_env(**extra: str) -> dict[str, str]:
    env = child_env(**extra)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def lead(index: int, *, failing: bool) -> dict[str, Any]:
    return {"first_name": f"Test{index}", "last_name": "de Vries", "email": f"lead{index}@example.nl",
            "phone": f"+3161234{index:04d}", "event_type": "bruiloft",
            "event_date": (dt.date.today() + dt.timedelta(days=90)).isoformat(),
            "city": FAILING_CITY if failing else "Utrecht", "message": "Graag een offerte"}


def post_leads(base: str, api_key: str, count: int, fail_every: int) -> list[int]:
    """Post `count` leads; every `fail_every`-th one makes lead_intake fail. Returns the lead ids."""
    ids = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as client:
        for i in range(count):
            response = client.post("/api/v1/leads", json=lead(i, failing=fail_every > 0 and i % fail_every == 0))
            assert response.status_code == 201, response.text
            assert response.json()["automation_triggered"] is True
            ids.append(response.json()["lead_id"])
    return ids


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout}s")
