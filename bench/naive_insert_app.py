"""The reference of bench/lead_capture.py: the naive endpoint a newcomer would write (FastAPI, a Pydantic model,
a synchronous psycopg connection pool, one INSERT per request in a plain `def` handler run in the threadpool)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, EmailStr
from sqlalchemy.engine import make_url

TABLE = "bench_naive_leads"


class NaiveLead(BaseModel):
    first_name: str
    last_name: str = ""
    email: EmailStr
    event_type: str | None = None
    guests: int | None = None
    message: str | None = None


def create_app() -> FastAPI:
    url = make_url(os.environ["CRM_DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = ConnectionPool(url, min_size=10, max_size=10, open=True)
        yield
        app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/leads", status_code=201)
    def insert_lead(lead: NaiveLead, request: Request) -> dict[str, Any]:
        pool: ConnectionPool = request.app.state.pool
        with pool.connection() as conn:  # commits on leaving the block
            row = conn.execute(
                f"INSERT INTO {TABLE} (email, first_name, last_name, event_type, guests, message, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (lead.email, lead.first_name, lead.last_name, lead.event_type, lead.guests, lead.message,
                 dt.datetime.now(dt.UTC))).fetchone()
        assert row is not None
        return {"lead_id": row[0]}

    return app
