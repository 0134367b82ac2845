"""Test-only `notify` implementation for worker processes (CRM_AUTOMATION_PLUGINS / --plugin tests.obs_failing_plugin).

Template `always-fails` answers like a chat vendor refusing the message (a permanent delivery error: the run ends
`failed` at once, no retries); any other template is delivered. Which runs fail is decided by the workflow (a
branch on the lead), so the failure rate comes from real leads and real runs.
"""

from __future__ import annotations

from typing import Any

from rentguy_crm.automation.engine.step_registry import StepContext, StepResult, register_step
from rentguy_crm.integrations.base import PermanentDeliveryError


@register_step("notify")
async def notify_or_refuse(ctx: StepContext, step: Any) -> StepResult:
    if step.template == "always-fails":
        raise PermanentDeliveryError("slack: the webhook answered 400 invalid_payload")
    return StepResult.done(delivered=step.template)
