"""List routes: pagination with a stable order, filters, sorting, and 422s that name the bad parameter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

CRM = "/api/v1/crm"
LIST_ROUTES = ["/contacts", "/leads", "/deals", "/activities"]


async def test_pages_cover_every_record_once_even_when_sort_values_tie(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    same_time = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    contact = await factory.contact(tenant)
    ids = [(await factory.deal(tenant, contact, value=Decimal("100"), created_at=same_time)).id for _ in range(7)]
    seen: list[int] = []
    for offset in range(0, 7, 3):
        page = (await client.get(f"{CRM}/deals", headers=headers,
                                 params={"limit": 3, "offset": offset, "sort": "value"})).json()
        assert page["total"] == 7
        assert (page["limit"], page["offset"]) == (3, offset)
        seen += [d["id"] for d in page["items"]]
    assert seen == sorted(ids)


async def test_default_order_is_newest_first(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    old = await factory.contact(tenant, email="old@example.nl", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    new = await factory.contact(tenant, email="new@example.nl", created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    page = (await client.get(f"{CRM}/contacts", headers=headers)).json()
    assert [c["id"] for c in page["items"]] == [new.id, old.id]
    assert (page["limit"], page["offset"]) == (50, 0)


async def test_deals_sorted_by_value_put_missing_values_last(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    contact = await factory.contact(tenant)
    none = await factory.deal(tenant, contact, value=None)
    small = await factory.deal(tenant, contact, value=Decimal("10"))
    big = await factory.deal(tenant, contact, value=Decimal("900"))
    asc = (await client.get(f"{CRM}/deals", headers=headers, params={"sort": "value"})).json()
    desc = (await client.get(f"{CRM}/deals", headers=headers, params={"sort": "-value"})).json()
    assert [d["id"] for d in asc["items"]] == [small.id, big.id, none.id]
    assert [d["id"] for d in desc["items"]] == [big.id, small.id, none.id]


async def test_deals_filter_by_pipeline_stage_status_and_owner(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    contact = await factory.contact(tenant)
    wanted = await factory.deal(tenant, contact, pipeline_key="corporate", stage_key="booked", status="won",
                                owner="lisa")
    await factory.deal(tenant, contact, pipeline_key="corporate", stage_key="booked", status="won", owner="bart")
    await factory.deal(tenant, contact, pipeline_key="wedding", stage_key="booked", status="won", owner="lisa")
    await factory.deal(tenant, contact, pipeline_key="corporate", stage_key="new", owner="lisa")
    page = (await client.get(f"{CRM}/deals", headers=headers, params={
        "pipeline": "corporate", "stage": "booked", "status": "won", "owner": "lisa"})).json()
    assert [d["id"] for d in page["items"]] == [wanted.id]
    assert page["total"] == 1


async def test_created_range_filter_is_inclusive_after_and_exclusive_before(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    contact = await factory.contact(tenant)
    jan = await factory.lead(tenant, contact, created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    await factory.lead(tenant, contact, created_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    page = (await client.get(f"{CRM}/leads", headers=headers, params={
        "created_after": "2026-01-01T00:00:00Z", "created_before": "2026-02-01T00:00:00+00:00"})).json()
    assert [lead["id"] for lead in page["items"]] == [jan.id]


async def test_lead_status_filter(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "sales")
    contact = await factory.contact(tenant)
    qualified = await factory.lead(tenant, contact, status="qualified")
    await factory.lead(tenant, contact, status="new")
    page = (await client.get(f"{CRM}/leads", headers=headers, params={"status": "qualified"})).json()
    assert [lead["id"] for lead in page["items"]] == [qualified.id]


async def test_activities_filter_by_status_kind_owner_and_due_before(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    contact = await factory.contact(tenant)
    soon = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    later = dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)
    wanted = await factory.activity(tenant, kind="task", owner="lisa", due_at=soon, contact_id=contact.id)
    await factory.activity(tenant, kind="task", owner="lisa", due_at=later, contact_id=contact.id)
    await factory.activity(tenant, kind="task", owner="bart", due_at=soon, contact_id=contact.id)
    await factory.activity(tenant, kind="task", owner="lisa", due_at=soon, status="done", contact_id=contact.id)
    await factory.activity(tenant, kind="note", owner="lisa", due_at=soon, contact_id=contact.id)
    page = (await client.get(f"{CRM}/activities", headers=headers, params={
        "status": "open", "kind": "task", "owner": "lisa", "due_before": "2026-03-15T00:00:00Z",
        "sort": "due_at"})).json()
    assert [a["id"] for a in page["items"]] == [wanted.id]


@pytest.mark.parametrize("route", LIST_ROUTES)
async def test_unknown_sort_is_a_422_naming_sort(client, factory, route: str) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(CRM + route, headers=await factory.headers(tenant, "sales"),
                                params={"sort": "password"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sort"


@pytest.mark.parametrize("route", LIST_ROUTES)
@pytest.mark.parametrize("param", ["created_after", "created_before"])
async def test_bad_datetime_filter_is_a_422_naming_the_parameter(client, factory, route: str, param: str) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(CRM + route, headers=await factory.headers(tenant, "sales"),
                                params={param: "yesterday"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [param]


@pytest.mark.parametrize(("params", "field"), [({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                                               ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset")])
async def test_limit_and_offset_out_of_range_are_422(client, factory, params: dict[str, object], field: str) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(f"{CRM}/contacts", headers=await factory.headers(tenant, "sales"), params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


async def test_limit_of_200_is_accepted(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    response = await client.get(f"{CRM}/contacts", headers=await factory.headers(tenant, "sales"),
                                params={"limit": 200})
    assert response.status_code == 200
    assert response.json()["limit"] == 200


async def test_audit_log_lists_the_tenants_entries_newest_first(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    headers = await factory.headers(tenant, "operations")
    first = (await client.post(f"{CRM}/contacts", headers=headers, json={"first_name": "A"})).json()
    second = (await client.post(f"{CRM}/contacts", headers=headers, json={"first_name": "B"})).json()
    await client.post(f"{CRM}/contacts", headers=await factory.headers(other, "sales"), json={"first_name": "C"})
    page = (await client.get("/api/v1/audit", headers=headers, params={"entity_type": "contact"})).json()
    assert [e["entity_id"] for e in page["items"]] == [str(second["id"]), str(first["id"])]
    assert page["total"] == 2


async def test_leads_filter_by_team_and_priority(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    contact = await factory.contact(tenant)
    wanted = await factory.lead(tenant, contact, team="wedding_specialists", priority="high")
    await factory.lead(tenant, contact, team="wedding_specialists", priority="normal")
    await factory.lead(tenant, contact, team="corporate", priority="high")
    page = (await client.get(f"{CRM}/leads", headers=headers,
                             params={"team": "wedding_specialists", "priority": "high"})).json()
    assert [lead["id"] for lead in page["items"]] == [wanted.id]


async def test_activities_filter_by_team(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "support")
    contact = await factory.contact(tenant)
    wanted = await factory.activity(tenant, kind="task", team="corporate", contact_id=contact.id)
    await factory.activity(tenant, kind="task", team="general", contact_id=contact.id)
    page = (await client.get(f"{CRM}/activities", headers=headers, params={"team": "corporate"})).json()
    assert [a["id"] for a in page["items"]] == [wanted.id]
