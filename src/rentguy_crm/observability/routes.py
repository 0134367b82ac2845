"""`GET /metrics`: Prometheus text format, all API processes in multi-process mode."""

from __future__ import annotations

import hmac
import os

import structlog
from fastapi import APIRouter, Request, Response

from rentguy_crm.db import Database, utcnow
from rentguy_crm.errors import Unauthorized
from rentguy_crm.observability import exporter
from rentguy_crm.observability.queue_state import database_families

router = APIRouter(tags=["observability"])
log = structlog.get_logger(__name__)

# Optional: when set, scrapers must send `Authorization: Bearer <token>` (Prometheus `authorization` config).
METRICS_TOKEN_ENV = "CRM_METRICS_TOKEN"


def _check_token(request: Request) -> None:
    expected = os.environ.get(METRICS_TOKEN_ENV, "")
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        # The scraper is not known yet: where the token is configured is for the operator's docs, not the answer.
        raise Unauthorized("/metrics needs 'Authorization: Bearer <token>'.")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _check_token(request)
    db: Database = request.app.state.db
    try:
        async with db.read_session() as session:
            families = await database_families(session, utcnow())
    except Exception as exc:  # a database hiccup must not hide the process metrics
        log.warning("metrics_database_gauges_failed", error=type(exc).__name__)
        families = []
    return Response(exporter.render(families), media_type=exporter.CONTENT_TYPE)

