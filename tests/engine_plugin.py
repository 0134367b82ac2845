"""Test-only step handler for `notify`, imported by worker processes (--plugin tests.engine_plugin).

It records each execution in `test_step_effects` inside the step's transaction, so a count per
(run, step) shows whether a completed step ever ran twice. The step's `template` picks the behaviour:
`record`, `slow-<milliseconds>` (record after sleeping), `poison` (always raises), `retryable` (delivery error),
`hold` (with `CRM_TEST_HOLD_DIR` set: write `entered-<run>-<step>-<pid>` there, wait for a file `release`, then
record; without it, record at once). `hold` lets a test act while a step is in flight, without guessing times.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from rentguy_crm.automation.engine.step_registry import StepContext, StepResult, register_step
from rentguy_crm.integrations.base import RetryableDeliveryError

EFFECTS_DDL = ("CREATE TABLE IF NOT EXISTS test_step_effects (run_id INTEGER NOT NULL, step INTEGER NOT NULL, "
               "idempotency_key VARCHAR(100) NOT NULL, pid INTEGER NOT NULL)")


HOLD_DIR_ENV = "CRM_TEST_HOLD_DIR"


def _hold(folder: Path, marker: str) -> None:
    (folder / marker).write_text("")
    while not (folder / "release").exists():
        time.sleep(0.02)


async def recording_notify(ctx: StepContext, step: Any) -> StepResult:
    behaviour = step.template
    if behaviour == "poison":
        raise RuntimeError("poisoned step: this always fails")
    if behaviour == "retryable":
        raise RetryableDeliveryError("upstream answered 503")
    if behaviour == "hold" and (folder := os.environ.get(HOLD_DIR_ENV)):
        await asyncio.to_thread(_hold, Path(folder), f"entered-{ctx.run_id}-{ctx.step_number}-{os.getpid()}")
    if behaviour.startswith("slow-"):
        await asyncio.sleep(int(behaviour.split("-", 1)[1]) / 1000)
    await ctx.session.execute(text("INSERT INTO test_step_effects (run_id, step, idempotency_key, pid) "
                                   "VALUES (:run, :step, :key, :pid)"),
                              {"run": ctx.run_id, "step": ctx.step_number, "key": ctx.idempotency_key,
                               "pid": os.getpid()})
    return StepResult.done(recorded=True)


# Registered only in the worker processes that load this module as a plugin: the test process imports it for its
# helpers, and a handler registered there would replace the real `notify` for every later test.
if "tests.engine_plugin" in os.environ.get("CRM_AUTOMATION_PLUGINS", ""):
    register_step("notify")(recording_notify)
