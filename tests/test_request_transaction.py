"""The request owns the transaction: the answer is sent only after the commit, and a failed commit is no 2xx."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import RootTransaction

from tests.table_counts import row_counts


async def test_a_failed_commit_is_not_answered_with_success(app, factory, db,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    before = await row_counts(db)

    def failing_commit(self: Any) -> None:
        raise RuntimeError("the database went away during commit")

    monkeypatch.setattr(RootTransaction, "commit", failing_commit)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/v1/crm/contacts", headers=headers, json={"first_name": "Anna"})
    monkeypatch.undo()
    assert response.status_code == 500
    assert await row_counts(db) == before
