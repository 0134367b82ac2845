"""Signed Typeform payloads of the wrong shape are input like any other: never a 5xx, nothing half stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rentguy_crm.crm.models import Lead
from rentguy_crm.db import Database
from rentguy_crm.webhooks.typeform.service import signature
from tests.intake.test_pipeline import count
from tests.webhooks.typeform.test_typeform_webhook import RECORDED, URL, typeform_secret  # noqa: F401  (the signing secret, autouse)


def signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Typeform-Signature": signature(RECORDED["secret"], body), "Content-Type": "application/json"}


def response(answers: Any, hidden: Any = None) -> dict[str, Any]:
    return {"event_id": "evt-shape", "event_type": "form_response",
            "form_response": {"answers": answers, **({"hidden": hidden} if hidden is not None else {})}}


@pytest.mark.parametrize("payload", [
    response("not a list"),
    response([{"type": "choice", "choice": "bruiloft", "field": "email"}]),
    response([{"type": "choices", "choices": {"labels": [1, None]}, "field": {"ref": 7}}]),
    response([], hidden=["utm_source"]),
    response(12),
    {"event_id": "evt-shape", "event_type": "form_response", "form_response": "text"},
    {"event_id": "evt-shape", "event_type": "form_response", "form_response": {"answers": [
        {"type": "text", "text": "Anna\x00", "field": {"ref": "first_name"}}]}},
])
async def test_odd_shapes_are_answered_without_a_server_error(client: httpx.AsyncClient, db: Database, mrdj,
                                                              payload: dict[str, Any]) -> None:
    body, headers = signed(payload)
    answer = await client.post(URL, content=body, headers=headers)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        assert await count(db, Lead) == 0
