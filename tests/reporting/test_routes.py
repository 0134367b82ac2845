"""`/api/v1/reports` and `/api/v1/feedback`: every route against every role, another tenant's report answers 404,
lists show only the key's tenant, and bad feedback is a 422 naming the field that changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rentguy_crm.automation.workflows.models import Workflow
from rentguy_crm.reporting import periods, service
from tests.table_counts import row_counts

NOW = dt.datetime(2025, 3, 17, 7, 30, tzinfo=dt.UTC)
ROLES = ("sales", "operations", "engineering", "support", "admin")
READERS = {"operations", "engineering", "support", "admin"}
WRITERS = set(ROLES)
# (method, path template, body, roles allowed, success status)
ROUTES: list[tuple[str, str, Any, set[str], int]] = [
    ("GET", "/api/v1/reports", None, READERS, 200),
    ("GET", "/api/v1/reports/{report}", None, READERS, 200),
    ("GET", "/api/v1/reports/{report}/pdf", None, READERS, 200),
    ("GET", "/api/v1/reports/{report}/html", None, READERS, 200),
    ("GET", "/api/v1/reports/{report}/charts/sla", None, READERS, 200),
    ("GET", "/api/v1/feedback", None, READERS, 200),
    ("POST", "/api/v1/feedback", {"text": "Knop is onduidelijk", "tags": ["uat"]}, WRITERS, 201),
]
RECORD_ROUTES = [r for r in ROUTES if "{report}" in r[1]]


@pytest.fixture(autouse=True)
def quick_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint takes seconds per report; these tests are about the routes (test_delivery renders real PDFs)."""
    monkeypatch.setattr(service, "render_pdf", lambda html: b"%PDF-1.7\n% " + str(len(html)).encode() + b"\n")


async def make_report(db, tenant) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        report = await service.generate(session, tenant, "automation_sla", periods.week("2025-W11"), actor="t",
                                        now=NOW)
        return report.id


@pytest.fixture
async def world(db, factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    return {"mrdj": mrdj, "other": other, "report": await make_report(db, mrdj),
            "other_report": await make_report(db, other)}


def test_the_tables_cover_every_report_and_feedback_route(app) -> None:
    routes = {(m.upper(), p) for p, ops in app.openapi()["paths"].items()
              if p.startswith(("/api/v1/reports", "/api/v1/feedback")) for m in ops}
    covered = {(m, t.replace("{report}", "{report_id}").replace("/charts/sla", "/charts/{name}"))
               for m, t, _b, _r, _s in ROUTES}
    assert routes == covered


@pytest.mark.parametrize("role", ROLES)
async def test_every_route_against_a_role(client, factory, world, role: str) -> None:
    headers = await factory.headers(world["mrdj"], role)
    for method, template, body, allowed, status in ROUTES:
        response = await client.request(method, template.format(report=world["report"]), headers=headers, json=body)
        expected = status if role in allowed else 403
        assert response.status_code == expected, (method, template, response.text)


async def test_every_route_refuses_a_missing_key(client, world) -> None:
    for method, template, body, _allowed, _status in ROUTES:
        response = await client.request(method, template.format(report=world["report"]), json=body)
        assert response.status_code == 401, (method, template)


@pytest.mark.parametrize(("method", "template"), [(m, t) for m, t, _b, _r, _s in RECORD_ROUTES])
async def test_another_tenants_report_answers_404_like_a_missing_one(client, factory, world, method: str,
                                                                     template: str) -> None:
    headers = await factory.headers(world["mrdj"], "admin")
    foreign = await client.request(method, template.format(report=world["other_report"]), headers=headers)
    missing = await client.request(method, template.format(report=999999), headers=headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    assert foreign.json()["detail"] == missing.json()["detail"].replace("999999", str(world["other_report"]))


async def test_lists_show_only_the_keys_tenant(client, db, factory, world) -> None:
    async with db.session() as session:
        await service.add_feedback(session, world["other"].id, author="x", text="elders", tags=[], workflow_key=None,
                                   template_key=None, screen=None)
    headers = await factory.headers(world["mrdj"], "operations")
    reports = (await client.get("/api/v1/reports", headers=headers)).json()
    assert [r["id"] for r in reports["items"]] == [world["report"]] and reports["total"] == 1
    assert (await client.get("/api/v1/feedback", headers=headers)).json()["total"] == 0


async def test_a_report_reads_back_with_its_figures_pdf_and_charts(client, db, factory, world) -> None:
    headers = await factory.headers(world["mrdj"], "operations")
    detail = (await client.get(f"/api/v1/reports/{world['report']}", headers=headers)).json()
    assert detail["period"] == "2025-W11" and detail["charts"] == ["outcomes", "sla"]
    assert detail["figures"]["target_pct"] == 95.0
    pdf = await client.get(f"/api/v1/reports/{world['report']}/pdf", headers=headers)
    async with db.session() as session:
        archived = await service.get(session, world["mrdj"].id, world["report"])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content == archived.pdf
    chart = await client.get(f"/api/v1/reports/{world['report']}/charts/sla", headers=headers)
    assert chart.headers["content-type"] == "image/png"
    unknown = await client.get(f"/api/v1/reports/{world['report']}/charts/nope", headers=headers)
    assert unknown.status_code == 404 and "outcomes, sla" in unknown.json()["detail"]


async def test_feedback_links_a_workflow_of_the_tenant(client, db, factory, world) -> None:
    async with db.session() as session:
        session.add(Workflow(tenant_id=world["mrdj"].id, key="lead_intake", version=1, name="Lead intake",
                             checksum="x"))
    headers = await factory.headers(world["mrdj"], "sales")
    created = await client.post("/api/v1/feedback", headers=headers, json={
        "text": "Welkomstmail komt laat", "tags": ["uat", "email", "uat"], "workflow_key": "lead_intake",
        "screen": "/leads/42"})
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == ["uat", "email"] and created.json()["workflow_key"] == "lead_intake"
    reader = await factory.headers(world["mrdj"], "operations")
    listed = (await client.get("/api/v1/feedback", headers=reader, params={"tag": "email"})).json()
    assert [i["text"] for i in listed["items"]] == ["Welkomstmail komt laat"]
    assert (await client.get("/api/v1/feedback", headers=reader, params={"workflow_key": "x"})).json()["total"] == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"text": ""}, "text"),
    ({"text": "x", "tags": ["Not A Tag"]}, "tags"),
    ({"text": "x", "workflow_key": "no_such_flow"}, "workflow_key"),
    ({"text": "x", "template_key": "no-such-template"}, "template_key"),
    ({"text": "x", "author": "someone else"}, "author"),
    ({"text": "x\u0000"}, "text"),
])
async def test_bad_feedback_is_a_422_naming_the_field_and_changes_nothing(client, db, factory, world,
                                                                          body: dict[str, Any], field: str) -> None:
    headers = await factory.headers(world["mrdj"], "operations")
    before = await row_counts(db)
    response = await client.post("/api/v1/feedback", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text
    assert await row_counts(db) == before


async def test_a_report_without_a_pdf_answers_404_saying_why(client, db, factory, world, monkeypatch) -> None:
    import sys

    monkeypatch.undo()  # the real PDF path, with WeasyPrint's import failing as without its libraries
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    async with db.session() as session:
        report = await service.generate(session, world["mrdj"], "automation_sla", periods.week("2025-W10"),
                                        actor="t", now=NOW)
    headers = await factory.headers(world["mrdj"], "operations")
    response = await client.get(f"/api/v1/reports/{report.id}/pdf", headers=headers)
    assert response.status_code == 404 and "libpango-1.0-0" in response.json()["detail"]
