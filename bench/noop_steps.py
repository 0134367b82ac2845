"""A no-op `notify` step for the benchmarks (imported by worker processes via CRM_AUTOMATION_PLUGINS)."""

from __future__ import annotations

from typing import Any

from rentguy_crm.automation.engine.step_registry import StepContext, StepResult, register_step


@register_step("notify")
async def noop_notify(ctx: StepContext, step: Any) -> StepResult:
    return StepResult.done()
