"""Bad input to the lead routes counts as rejected, never as failure: a burst of malformed posts leaves the
status page's lead-capture error rate at zero."""

from __future__ import annotations

import httpx

from tests.intake.test_pipeline import PUBLIC, form

JSON = {"Content-Type": "application/json"}


async def test_malformed_public_posts_count_as_rejected_not_as_errors(client: httpx.AsyncClient, mrdj) -> None:
    answers = [
        await client.post(PUBLIC, content=b"[" * 30_000 + b"]" * 30_000, headers=JSON),
        await client.post(PUBLIC, content=b'{"tenant": "mrdj", "first_name": ', headers=JSON),
        await client.post(PUBLIC, json=form(first_name="Anna\x00")),
        await client.post(PUBLIC, content=b"tenant=mrdj", headers={"Content-Type": "text/plain"}),
    ]
    assert [a.status_code for a in answers] == [422, 422, 422, 415]
    capture = (await client.get("/status")).json()["components"]["lead_capture"]
    outcomes: dict[str, int] = {}
    for tenant in capture["details"]["tenants"].values():
        for outcome, count in tenant["outcomes"].items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    assert outcomes == {"rejected": 4}
    assert (capture["status"], capture["details"]["error_rate"]) == ("ok", 0.0)


async def test_nested_brackets_are_refused_naming_the_body(client: httpx.AsyncClient, mrdj) -> None:
    nested = b'{"tenant": "mrdj", "message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    response = await client.post(PUBLIC, content=nested, headers=JSON)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body", "message": "nested deeper than 32 levels",
                                          "type": "json_depth"}]


async def test_brackets_inside_strings_do_not_count_as_nesting(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(message="[[[[" * 40 + '"\\' + "{{{{" * 40))
    assert response.status_code == 201, response.text
