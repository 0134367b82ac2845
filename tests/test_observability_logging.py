"""Log lines: JSON with request id (API) or run id, tenant and workflow (workers); no personal data or secrets."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from rentguy_crm.config import Settings, get_settings
from rentguy_crm.observability.logging import bind_run, configure_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="DEBUG"), stream=stream)
    yield stream
    configure_logging(get_settings())


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_worker_lines_carry_run_id_tenant_and_workflow(log_lines) -> None:
    log = structlog.get_logger("worker")
    with bind_run(42, "mrdj", "lead_intake"):
        log.info("step_started", step=1)
        log.warning("step_failed", step=1)
    log.info("idle")
    started, failed, idle = lines(log_lines)
    assert (started["run_id"], started["tenant"], started["workflow"]) == (42, "mrdj", "lead_intake")
    assert failed["run_id"] == 42 and failed["level"] == "warning"
    assert "run_id" not in idle


async def test_concurrent_runs_keep_their_own_run_ids(log_lines) -> None:
    log = structlog.get_logger("worker")

    async def run(run_id: int, workflow: str) -> None:
        with bind_run(run_id, "mrdj", workflow):
            await asyncio.sleep(0.01)
            log.info("run_finished")

    await asyncio.gather(run(1, "lead_intake"), run(2, "proposal_followup"))
    assert sorted((line["run_id"], line["workflow"]) for line in lines(log_lines)) == [
        (1, "lead_intake"), (2, "proposal_followup")]


def test_email_and_phone_are_masked_also_inside_nested_values(log_lines) -> None:
    structlog.get_logger().info("lead_received from anna.devries@example.nl",
                                contact={"email": "anna.devries@example.nl", "phone": "+31 6 1234 5678"},
                                recipients=["tom@example.nl"], phone="0612345678")
    text = log_lines.getvalue()
    for clear in ("anna.devries@example.nl", "tom@example.nl", "1234 5678", "0612345678"):
        assert clear not in text
    [line] = lines(log_lines)
    assert line["contact"]["email"] == "a***@example.nl"


def test_secrets_are_never_written(log_lines) -> None:
    structlog.get_logger().info(
        "calling slack", authorization="Bearer rg_abcdefghijklmnopqrstuvwxyz",
        headers={"Authorization": "Bearer abcdefgh12345678", "X-Api-Key": "k-123456789"},
        detail="sent with Bearer abcdefgh12345678 to https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        webhook_secret="whsec_123", note="key rg_abcdefghijklmnopqrstuvwxyz0123 leaked?")
    text = log_lines.getvalue()
    for clear in ("rg_abcdefghijklmnopqrstuvwxyz", "abcdefgh12345678", "k-123456789", "XXXXSECRET", "whsec_123"):
        assert clear not in text


def test_timestamps_ids_and_amounts_are_not_mistaken_for_phone_numbers(log_lines) -> None:
    structlog.get_logger().info("run_finished", at="2025-03-03T10:00:00+00:00", order="2025-000123", amount="1250.00")
    [line] = lines(log_lines)
    assert line["at"] == "2025-03-03T10:00:00+00:00" and line["order"] == "2025-000123"
    assert line["timestamp"].startswith("20") and "***" not in line["timestamp"]


async def test_api_lines_carry_the_request_id(app, log_lines) -> None:
    import httpx
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/test-only/log")
    async def logs_something() -> dict[str, str]:
        structlog.get_logger().info("handled")
        return {}

    app.include_router(router)
    configure_logging(Settings(log_json=True, log_level="DEBUG"), stream=log_lines)  # create_app configured its own
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get("/test-only/log", headers={"X-Request-ID": "req-123"})
    assert [line["request_id"] for line in lines(log_lines) if line["event"] == "handled"] == ["req-123"]


def test_values_echoed_in_exception_text_are_masked(log_lines) -> None:
    from pydantic import BaseModel, ValidationError

    class Deal(BaseModel):
        title: int

    posted = {"title": "Bruiloft " + "Annabel Zwanenburg"}  # the traceback shows source lines, not values
    try:
        Deal.model_validate(posted)
    except ValidationError:
        structlog.get_logger().exception("unhandled_error")
    structlog.get_logger().error("db_failed", error="(IntegrityError) FOREIGN KEY\n[SQL: INSERT INTO contacts "
                                 "(first_name) VALUES (?)]\n[parameters: ('Annabel', 'Zwanenburg')]\n(Background)")
    text = log_lines.getvalue()
    assert "Annabel" not in text and "Zwanenburg" not in text
    assert "input_value=***" in text and "[parameters: ***]" in text
