"""What every worker loads before any plugin: the channel steps, the tenant's channels, the rate-limit revert job
and automation's hooks. `crm workers run`, the embedded workers of `crm run` and `automation/workers.py run` all
call `install()` through `worker.load_plugins()`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import (
    channel_steps,  # noqa: F401  (registers send_email, send_whatsapp, notify, http_webhook)
    executor,
    hooks,
    schedules,
)
from rentguy_crm.integrations.registry import build_channels
from rentguy_crm.ratelimit import service as ratelimits

_installed = False


async def revert_expired_rate_limit_switches(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    reverted = await ratelimits.revert_expired(session, now)
    return {"reverted": [p.tenant for p in reverted]} if reverted else {}


def install() -> None:
    global _installed
    if _installed:
        return
    hooks.install()
    executor.set_default_channels_factory(build_channels)
    # A temporary profile switch ends on time by itself; this records the revert in the audit log.
    schedules.register_job("ratelimit.revert_expired", "* * * * *", revert_expired_rate_limit_switches)
    _installed = True
