"""Liveness and readiness: `/healthz` says the process answers, `/readyz` that the database is usable."""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from rentguy_crm.config import PROJECT_ROOT
from rentguy_crm.db import Database

router = APIRouter(tags=["health"])


def alembic_head() -> str | None:
    script = ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))
    return script.get_current_head()


async def database_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        try:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except Exception:
            return None


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and is migrated to head")
async def readyz(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    checks: dict[str, Any] = {}
    try:
        current = await database_revision(db)
        checks["database"] = "ok"
    except Exception as exc:  # the point of this route is to report, not raise
        checks["database"] = f"unreachable: {type(exc).__name__}"
        current = None
    head = alembic_head()
    checks["migrations"] = {"current": current, "head": head, "ok": current == head}
    ready = checks["database"] == "ok" and current == head
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
