"""The contract between the run engine and step implementations.

The engine builds a `StepContext` for each step it executes and records the `StepResult` in the run's
step log before it advances. Implementations are registered by step type (`register_step`); channel steps
(`send_email`, `send_whatsapp`, `notify`, `http_webhook`) live with the templates and integrations, the
rest with the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.integrations.channels import Channels
from rentguy_crm.tenants.models import Tenant


class PermanentStepError(Exception):
    """A step that can never succeed as written (unknown step type, bad field): the run fails, no retry."""


ChannelsFactory = Callable[[Tenant], Awaitable[Channels]]


@dataclass
class StepContext:
    session: AsyncSession  # the transaction the step's database work and its step-log entry share
    tenant: Tenant
    run_id: int
    step_number: int  # position in the flattened program; stable across retries
    idempotency_key: str  # "run:<id>:step:<n>": channels deduplicate on it
    variables: dict[str, Any]  # lead, contact, deal, brand, tenant, run, step outputs so far
    channels: Channels
    now: dt.datetime
    # Earlier attempts of this step that called their channel and never recorded an outcome (a worker killed
    # between sending and committing): the message may already be out, under this same idempotency key.
    unfinished_attempts: tuple[int, ...] = ()


@dataclass
class StepResult:
    status: Literal["done", "wait", "stop"]
    output: dict[str, Any] = field(default_factory=dict)
    run_after: dt.datetime | None = None

    @classmethod
    def done(cls, **output: Any) -> StepResult:
        return cls("done", output)

    @classmethod
    def wait(cls, until: dt.datetime, **output: Any) -> StepResult:
        return cls("wait", output, until)

    @classmethod
    def stop(cls, reason: str | None = None) -> StepResult:
        return cls("stop", {"reason": reason} if reason else {})


StepHandler = Callable[[StepContext, Any], Awaitable[StepResult]]

_HANDLERS: dict[str, StepHandler] = {}


def register_step(step_type: str) -> Callable[[StepHandler], StepHandler]:
    def decorator(handler: StepHandler) -> StepHandler:
        _HANDLERS[step_type] = handler
        return handler

    return decorator


def handler_for(step_type: str) -> StepHandler | None:
    return _HANDLERS.get(step_type)
