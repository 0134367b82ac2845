"""Security announcements through the tenant's chat channel (Slack), registered with `auth.announcements`."""

from __future__ import annotations

from typing import Any

from rentguy_crm.auth import announcements
from rentguy_crm.integrations.base import DeliveryError
from rentguy_crm.integrations.registry import build_channels


async def post_to_chat(tenant: Any, target: str, text: str, idempotency_key: str) -> str:
    channels = await build_channels(tenant)
    if channels.slack is None:
        return (f"Not announced: tenant {tenant.slug} has no Slack channel configured. Tell the security officer "
                f"yourself (runbook 2.3).")
    try:
        await channels.slack.post(text, target=target, idempotency_key=idempotency_key)
    except DeliveryError as exc:
        return f"Not announced to {target}: {exc}. Tell the security officer yourself (runbook 2.3)."
    return f"Announced to {target}."


def install() -> None:
    announcements.register(post_to_chat)
