"""`POST /api/v1/webhooks/alertmanager`: Alertmanager's webhook (version 4), authenticated by an API key with
`alerts:ingest`. Wiring only; `service.record_alerts` turns the notification into events."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from rentguy_crm.auth.dependencies import Session, require
from rentguy_crm.auth.permissions import Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.webhooks.alertmanager.schemas import AlertmanagerNotification, AlertsRecorded
from rentguy_crm.webhooks.alertmanager.service import record_alerts

router = APIRouter(tags=["webhooks"])


@router.post("/alertmanager", response_model=AlertsRecorded, summary="Alertmanager webhook (version 4)")
async def alertmanager_webhook(
    body: AlertmanagerNotification,
    session: Session,
    principal: Principal = Depends(require(Permission.ALERTS_INGEST)),
) -> AlertsRecorded:
    """Records each alert of the notification as an `alert.firing` / `alert.resolved` event of the key's tenant."""
    return await record_alerts(session, principal, body)
