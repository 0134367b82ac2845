"""Alerts from Alertmanager become outbox events (`alert.firing`, `alert.resolved`) of the key's tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.auth.service import Principal
from rentguy_crm.events import service as events
from rentguy_crm.kit import clock
from rentguy_crm.observability import metrics, watchdog
from rentguy_crm.webhooks.alertmanager.schemas import AlertmanagerAlert, AlertmanagerNotification, AlertsRecorded

# Alertmanager writes the zero time for "not ended yet".
_NOT_ENDED = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def _ends_at(alert: AlertmanagerAlert) -> str | None:
    if alert.endsAt is None:
        return None
    ends = alert.endsAt if alert.endsAt.tzinfo else alert.endsAt.replace(tzinfo=dt.UTC)
    return None if ends < _NOT_ENDED else ends.isoformat()


def event_payload(notification: AlertmanagerNotification, alert: AlertmanagerAlert) -> dict[str, Any]:
    return {
        "alertname": alert.labels.get("alertname"),
        "status": alert.status,
        "fingerprint": alert.fingerprint,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": alert.startsAt.isoformat(),
        "ends_at": _ends_at(alert),
        "generator_url": alert.generatorURL,
        "receiver": notification.receiver,
        "group_key": notification.groupKey,
        "external_url": notification.externalURL,
    }


async def record_alerts(session: AsyncSession, principal: Principal,
                        notification: AlertmanagerNotification) -> AlertsRecorded:
    """One event per alert, for the tenant of the API key (never the tenant label the alert carries).

    Every notification also tells the watchdog that Alertmanager watches this tenant; the heartbeat alert
    does only that (it would otherwise be an event every few minutes)."""
    await watchdog.note_alertmanager_webhook(session, principal.scope, clock.now())
    ids = []
    for alert in notification.alerts:
        if alert.labels.get("alertname") == watchdog.HEARTBEAT_ALERT:
            continue
        event = await events.emit(session, principal.tenant_id, f"alert.{alert.status}", subject_type="alert",
                                  payload=event_payload(notification, alert))
        ids.append(event.id)
        metrics.alertmanager_alerts_received_total.labels(tenant=principal.tenant_slug, status=alert.status).inc()
    return AlertsRecorded(recorded=len(ids), event_ids=ids)
