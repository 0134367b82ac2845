"""On the embedded default (SQLite) a changing request waits its turn for the write lock instead of answering 503
when another writer commits while it runs (the run engine writing while staff create a deal)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.engine import make_url


async def test_a_changing_request_waits_for_another_writer_instead_of_failing(client, db, factory,
                                                                              database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("Postgres orders writers with row locks; SQLite's single write lock is the matter here")
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant)
    headers = await factory.headers(tenant, "sales")
    other = sqlite3.connect(make_url(database_url).database or "", timeout=30, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer (a worker) holds the write lock
        request = asyncio.create_task(client.post("/api/v1/crm/deals", headers=headers, json={
            "contact_id": contact.id, "pipeline": "wedding", "title": "Bruiloft Anna & Tom"}))
        await asyncio.sleep(0.5)  # lets the request get as far as it can; the outcome must not depend on it
        other.execute("UPDATE tenants SET name = name WHERE id = ?", (tenant.id,))
        other.execute("COMMIT")
        response = await request
    finally:
        other.close()
    assert response.status_code == 201, response.text
