"""A test-only app factory: the real app plus one route that increments a counter and names its process.

Used to show that counters of several API processes add up in one scrape of /metrics.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from rentguy_crm.app import create_app
from rentguy_crm.observability import metrics


def create() -> FastAPI:
    app = create_app()

    @app.post("/test-only/finish-run")
    async def finish_run() -> dict[str, int]:
        metrics.automation_runs_finished_total.labels(tenant="mrdj", workflow="lead_intake", status="failed").inc()
        return {"pid": os.getpid()}

    return app
