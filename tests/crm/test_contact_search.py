"""Contact search (`q`) by part of a name or e-mail address and by a phone number in any format; cursor pages
(`after`/`next`) on the long lists."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

CRM = "/api/v1/crm"


async def _people(factory, tenant):
    anna = await factory.contact(tenant, first_name="Anna", last_name="de Vries", email="anna.devries@example.nl",
                                 phone="+31612345678")
    bram = await factory.contact(tenant, first_name="Bram", last_name="Jansen", email="bram@jansen-dj.nl",
                                 phone="+31201234567")
    return anna, bram


async def _found(client, headers, q: str) -> list[int]:
    response = await client.get(f"{CRM}/contacts", headers=headers, params={"q": q})
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


@pytest.mark.parametrize("q", ["anna de v", "DE VRIES", "vries", "Anna  de  Vries"])
async def test_search_finds_a_contact_by_part_of_the_name_in_any_case(client, factory, q) -> None:
    tenant = await factory.tenant("mrdj")
    anna, _bram = await _people(factory, tenant)
    assert await _found(client, await factory.headers(tenant, "sales"), q) == [anna.id]


@pytest.mark.parametrize("q", ["06-12345678", "06 1234 5678", "+31 6 1234 5678", "0031612345678", "(06) 123-456",
                               "345678"])
async def test_search_finds_a_contact_by_phone_number_in_any_format(client, factory, q) -> None:
    tenant = await factory.tenant("mrdj")
    anna, _bram = await _people(factory, tenant)
    assert await _found(client, await factory.headers(tenant, "sales"), q) == [anna.id]


@pytest.mark.parametrize("q", ["bram@jansen-dj.nl", "@jansen-dj", "jansen-dj"])
async def test_search_finds_a_contact_by_part_of_the_email_address(client, factory, q) -> None:
    tenant = await factory.tenant("mrdj")
    _anna, bram = await _people(factory, tenant)
    assert await _found(client, await factory.headers(tenant, "sales"), q) == [bram.id]


async def test_search_treats_like_wildcards_as_plain_text(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await _people(factory, tenant)
    headers = await factory.headers(tenant, "sales")
    assert await _found(client, headers, "a%a") == []
    assert await _found(client, headers, "___") == []


async def test_search_never_finds_another_tenants_contact(client, factory) -> None:
    tenant, other = await factory.tenant("mrdj"), await factory.tenant("other")
    await _people(factory, other)
    assert await _found(client, await factory.headers(tenant, "sales"), "vries") == []


@pytest.mark.parametrize("q", ["an", " a ", ""])
async def test_search_shorter_than_three_characters_is_refused_by_name(client, factory, q) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(f"{CRM}/contacts", headers=await factory.headers(tenant, "sales"), params={"q": q})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["q"]


@pytest.mark.parametrize("sort", [None, "created_at", "-last_name", "updated_at"])
async def test_cursor_pages_cover_every_contact_once_in_order(client, factory, sort) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    same_time = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(7):  # ties on created_at and on last name: the id decides
        await factory.contact(tenant, last_name=f"Jansen {n % 2}", created_at=same_time, updated_at=same_time)
    params = {"limit": 3} | ({"sort": sort} if sort else {})
    expected = [c["id"] for c in (await client.get(f"{CRM}/contacts", headers=headers,
                                                   params=params | {"limit": 50})).json()["items"]]
    seen: list[int] = []
    page = (await client.get(f"{CRM}/contacts", headers=headers, params=params)).json()
    seen += [c["id"] for c in page["items"]]
    while page["next"] is not None:
        page = (await client.get(f"{CRM}/contacts", headers=headers, params=params | {"after": page["next"]})).json()
        seen += [c["id"] for c in page["items"]]
        assert page["total"] == 7
    assert seen == expected
    assert len(expected) == 7


async def test_cursor_pages_of_leads_follow_a_filter_with_nulls_last(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    contact = await factory.contact(tenant)
    dated = [await factory.lead(tenant, contact, event_date=dt.date(2026, 6, d)) for d in (3, 1, 2)]
    undated = [await factory.lead(tenant, contact, event_date=None) for _ in range(2)]
    await factory.lead(tenant, contact, status="lost", event_date=dt.date(2026, 6, 4))
    params = {"limit": 2, "sort": "event_date", "status": "new"}
    seen: list[int] = []
    after = None
    while True:
        page = (await client.get(f"{CRM}/leads", headers=headers,
                                 params=params | ({"after": after} if after else {}))).json()
        seen += [lead["id"] for lead in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [dated[1].id, dated[2].id, dated[0].id, *sorted(lead.id for lead in undated)]


async def test_a_cursor_with_offset_or_another_sort_or_garbled_is_refused_by_name(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    for _ in range(3):
        await factory.activity(tenant)
    cursor = (await client.get(f"{CRM}/activities", headers=headers, params={"limit": 1})).json()["next"]
    for params, field in (({"after": cursor, "offset": 1}, "offset"), ({"after": cursor, "sort": "due_at"}, "after"),
                          ({"after": "not-a-cursor"}, "after"), ({"after": cursor[:-3]}, "after")):
        response = await client.get(f"{CRM}/activities", headers=headers, params=params)
        assert response.status_code == 422, params
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_offset_lists_say_there_is_no_cursor(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    page = (await client.get(f"{CRM}/deals", headers=await factory.headers(tenant, "sales"))).json()
    assert page["next"] is None


def _forged(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("sort", "cursor"), [
    ("last_name", _forged("last_name", "Jan\u0000sen", 5)),
    ("-created_at", _forged("-created_at", "9999-12-31T23:59:59-14:00", 5)),
    ("-created_at", _forged("-created_at", "2026-01-01T00:00:00+00:00", 2**63)),
    ("-created_at", _forged("-created_at", "2026-01-01T00:00:00+00:00", 0)),
    ("-created_at", _forged(["-created_at"], "2026-01-01T00:00:00+00:00", 5)),
    ("-created_at", _forged("-created_at", "2026-01-01T00:00:00+00:00")),
])
async def test_a_forged_cursor_is_refused_by_name_not_answered_with_a_500(client, factory, sort, cursor) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(f"{CRM}/contacts", headers=await factory.headers(tenant, "sales"),
                                params={"sort": sort, "after": cursor})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["after"]


async def test_a_forged_budget_cursor_out_of_range_is_refused(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    for value in ("1e999999", "NaN", "Infinity"):
        response = await client.get(f"{CRM}/leads", headers=await factory.headers(tenant, "sales"),
                                    params={"sort": "budget", "after": _forged("budget", value, 5)})
        assert response.status_code == 422, (value, response.text)
