"""Test-only step handler for `notify`, imported by worker processes (--plugin tests.engine_plugin).

It records each execution in `test_step_effects` inside the step's transaction, so a count per
(run, step) shows whether a completed step ever ran twice. The step's `template` picks the behaviour:
`record`, `slow-<milliseconds>` (record after sleeping), `poison` (always raises), `retryable` (delivery error).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import text

from rentguy_crm.automation.steps_api import StepContext, StepResult, register_step
from rentguy_crm.integrations.base import RetryableDeliveryError

EFFECTS_DDL = ("CREATE TABLE IF NOT EXISTS test_step_effects (run_id INTEGER NOT NULL, step INTEGER NOT NULL, "
               "idempotency_key VARCHAR(100) NOT NULL, pid INTEGER NOT NULL)")


async def recording_notify(ctx: StepContext, step: Any) -> StepResult:
    behaviour = step.template
    if behaviour == "poison":
        raise RuntimeError("poisoned step: this always fails")
    if behaviour == "retryable":
        raise RetryableDeliveryError("upstream answered 503")
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
