"""A worker SIGKILLed between sending and committing (real `crm workers run` processes, the vendor fakes).

The next worker resumes after the lease, sends again under the same idempotency key (the vendor can tell the
duplicate), and the step log shown by `crm runs show` has both attempts of the step.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.integrations.smtp.message import message_id
from rentguy_crm.templates import cloning
from rentguy_crm.templates.models import Delivery
from tests.automation_support import get_run, install_workflow, queued_run, workflow_doc
from tests.send_hold_plugin import HOLD_ENV, LOG_ENV
from tests.vendor_fakes import HttpFake, SmtpFake
from tests.worker_support import Workers, crm, eventually, file_appears

pytestmark = pytest.mark.slow

FROM = "Mr. DJ <info@mr-dj.nl>"


@pytest.fixture
def smtp() -> Iterator[SmtpFake]:
    fake = SmtpFake()
    fake.controller.start()
    yield fake
    fake.controller.stop()


@pytest.fixture
async def http() -> AsyncIterator[HttpFake]:
    async with HttpFake() as fake:
        yield fake


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path, plugins="tests.send_hold_plugin")
    yield group
    group.kill_all()


async def _finished(db: Any, run_id: int) -> str:
    return (await get_run(db, run_id)).status


async def _kill_after_send_then_resume(db: Any, tenant: Any, workers: Workers, tmp_path: Path, step: dict[str, Any],
                                       *, sent: Any, env: dict[str, str] | None = None) -> tuple[int, list[Any]]:
    """Run a one-step workflow; SIGKILL its worker after the channel accepted and before the commit; let a
    second worker resume. Returns the run id and its step log as `crm runs show --json` prints it."""
    lead = await _lead(tenant)
    wf = await install_workflow(db, tenant, workflow_doc(steps=[step]))
    run = await queued_run(db, wf, lead_id=lead.id)
    hold, sends = tmp_path / "hold", tmp_path / "sends.jsonl"
    hold.mkdir()
    victim = workers.start(lease=2, env={HOLD_ENV: str(hold), LOG_ENV: str(sends), **(env or {})})
    await file_appears(hold / f"sent-{run.id}-0", what="the first worker's send")
    assert sent() == 1  # the vendor has it; the step's commit has not happened
    victim.kill()
    victim.wait()
    workers.start(lease=2, env={LOG_ENV: str(sends), **(env or {})})
    status = await eventually(lambda: _finished(db, run.id), lambda s: s not in ("queued", "running"),
                              what=f"run {run.id} to finish on the second worker")
    assert status == "succeeded", workers.log(1)[-3000:]
    key = f"run:{run.id}:step:0"
    # The step was told about the attempt that never recorded its outcome, and used the same key.
    seen = [json.loads(line) for line in sends.read_text().splitlines()]
    assert [(s["key"], s["unfinished"]) for s in seen] == [(key, []), (key, [1])]
    shown = json.loads(crm("runs", "show", str(run.id), "--json"))
    assert shown["status"] == "succeeded"
    return run.id, shown["step_log"]


_LEADS: dict[int, Any] = {}


async def _lead(tenant: Any) -> Any:
    return await _LEADS["factory"].lead(tenant, contact=await _LEADS["factory"].contact(
        tenant, first_name="Anna", email="anna@example.nl"))


@pytest.fixture(autouse=True)
def _factory(factory: Any) -> Iterator[None]:
    _LEADS["factory"] = factory
    yield
    _LEADS.clear()


async def _tenant(db: Any, factory: Any, **channels: Any) -> Any:
    tenant = await factory.tenant("mrdj", channels=channels)
    async with db.session() as session:
        await cloning.clone(session, "mrdj", publish=True, actor="test")
    return tenant


def _assert_two_attempts(step_log: list[Any], run_id: int, step_type: str, name: str) -> None:
    entries = [e for e in step_log if e["step"] == 0]
    assert [(e["status"], e["attempt"]) for e in entries] == [("started", 1), ("started", 2), ("done", 2)]
    assert {(e["type"], e["name"], e["idempotency_key"]) for e in entries} == {(step_type, name,
                                                                                f"run:{run_id}:step:0")}
    assert entries[0]["worker"] != entries[1]["worker"] == entries[2]["worker"]
    assert entries[1]["unfinished_attempts"] == [1] and entries[2]["unfinished_attempts"] == [1]
    assert entries[0]["started_at"] and entries[1]["started_at"]


async def test_mail_sent_by_a_worker_killed_before_its_commit_goes_out_again_with_the_same_message_id(  # type: ignore[no-untyped-def]
        db, factory, smtp, workers, tmp_path) -> None:
    tenant = await _tenant(db, factory, email={"provider": "smtp", "host": "127.0.0.1", "port": smtp.port,
                                               "security": "none", "from_address": FROM})
    step = {"type": "send_email", "name": "welkomstmail", "template": "lead-welcome"}
    run_id, step_log = await _kill_after_send_then_resume(db, tenant, workers, tmp_path, step,
                                                          sent=lambda: sum(smtp.deliveries.values()))
    # Delivered twice (SMTP has no way to refuse a resend), both times as the same message.
    assert dict(smtp.deliveries) == {message_id(f"run:{run_id}:step:0", FROM): 2}
    _assert_two_attempts(step_log, run_id, "send_email", "welkomstmail")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 1
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in crm("runs", "show", str(run_id)).splitlines()
            if line.startswith("│ 0 ")]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("send_email", "welkomstmail", "started", "1"),
                                                        ("send_email", "welkomstmail", "started", "2"),
                                                        ("send_email", "welkomstmail", "done", "2")]
    assert f"run:{run_id}:step:0" in rows[0][-1]


async def test_webhook_posted_by_a_worker_killed_before_its_commit_is_resent_with_the_same_idempotency_key(  # type: ignore[no-untyped-def]
        db, factory, http, workers, tmp_path) -> None:
    tenant = await _tenant(db, factory)
    step = {"type": "http_webhook", "name": "crm-sync", "url": http.url("/crm")}
    run_id, step_log = await _kill_after_send_then_resume(db, tenant, workers, tmp_path, step,
                                                          sent=lambda: sum(http.deliveries.values()))
    assert dict(http.deliveries) == {f"run:{run_id}:step:0": 2}
    _assert_two_attempts(step_log, run_id, "http_webhook", "crm-sync")


async def test_slack_notice_posted_by_a_worker_killed_before_its_commit_is_resent_with_the_same_key(  # type: ignore[no-untyped-def]
        db, factory, http, workers, tmp_path) -> None:
    tenant = await _tenant(db, factory, slack={"webhook_url": "env:MRDJ_SLACK_HOOK"})
    step = {"type": "notify", "name": "sales-melding", "channel": "slack", "template": "lead-new-slack"}
    run_id, step_log = await _kill_after_send_then_resume(
        db, tenant, workers, tmp_path, step, sent=lambda: sum(http.deliveries.values()),
        env={"MRDJ_SLACK_HOOK": http.url("/services/T/B/x")})
    assert dict(http.deliveries) == {f"run:{run_id}:step:0": 2}
    _assert_two_attempts(step_log, run_id, "notify", "sales-melding")
