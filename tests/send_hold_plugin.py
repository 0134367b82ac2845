"""Test-only wrapper around the real channel steps, imported by worker processes (CRM_AUTOMATION_PLUGINS).

Every execution of a wrapped step appends a line to `$CRM_TEST_SEND_LOG` (run, step, key, the unfinished earlier
attempts the step was told about, pid). With `CRM_TEST_HOLD_AFTER_SEND` set to a folder, the step, once the real
handler has sent its message and before the engine commits, writes `sent-<run>-<step>` there and never returns:
the moment a test kills the worker between sending and committing.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from rentguy_crm.automation.engine.step_registry import StepContext, StepHandler, StepResult, handler_for, register_step

LOG_ENV = "CRM_TEST_SEND_LOG"
HOLD_ENV = "CRM_TEST_HOLD_AFTER_SEND"


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def _wrap(step_type: str, real: StepHandler) -> None:
    @register_step(step_type)
    async def held(ctx: StepContext, step: Any) -> StepResult:
        result = await real(ctx, step)
        if log := os.environ.get(LOG_ENV):
            _append(Path(log), {"run": ctx.run_id, "step": ctx.step_number, "key": ctx.idempotency_key,
                                "unfinished": list(ctx.unfinished_attempts), "pid": os.getpid()})
        if hold := os.environ.get(HOLD_ENV):
            (Path(hold) / f"sent-{ctx.run_id}-{ctx.step_number}").write_text(str(os.getpid()))
            await asyncio.Event().wait()  # sent, not committed: until the test kills this process
        return result


for _type in ("send_email", "send_whatsapp", "notify", "http_webhook"):
    _real = handler_for(_type)
    if _real is not None:
        _wrap(_type, _real)
