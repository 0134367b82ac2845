"""The baseline of bench/lead_capture.py: a bare FastAPI endpoint doing one INSERT per request, on the same
database engine settings as the suite (rentguy_crm.db.create_engine)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import text

from rentguy_crm.config import get_settings
from rentguy_crm.db import create_engine

TABLE = "bench_bare_leads"


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(get_settings().database_url)
        yield
        await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/leads", status_code=201)
    async def insert_lead(request: Request) -> dict[str, Any]:
        body = await request.json()
        async with request.app.state.engine.begin() as conn:
            lead_id = (await conn.execute(
                text(f"INSERT INTO {TABLE} (email, first_name, created_at) VALUES (:e, :f, :t) RETURNING id"),
                {"e": body.get("email"), "f": body.get("first_name"), "t": dt.datetime.now(dt.UTC)},
            )).scalar_one()
        return {"lead_id": lead_id}

    return app
