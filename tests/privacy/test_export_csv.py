"""CSV export: the import's columns, filtered like the lists, and an exported file imports back unchanged."""

from __future__ import annotations

import asyncio
import csv
import io

from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.privacy.csvfile import CONTACT_COLUMNS, LEAD_COLUMNS
from tests.table_counts import row_counts


async def test_contacts_export_has_the_import_columns_and_the_list_filters(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await factory.contact(tenant, email="a@example.nl", first_name="Ann", owner="lisa")
    await factory.contact(tenant, email="b@example.nl", first_name="=HYPERLINK(1)", owner="sanne",
                          phone="+31612345678")
    headers = await factory.headers(tenant, "operations")
    response = await client.get("/api/v1/crm/contacts/export.csv", headers=headers, params={"owner": "sanne"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(CONTACT_COLUMNS)
    assert [r["email"] for r in rows] == ["b@example.nl"]
    assert rows[0]["first_name"] == "'=HYPERLINK(1)" and rows[0]["phone"] == "+31612345678"


async def test_an_exported_leads_file_imports_back_without_changes(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    imported = await client.post("/api/v1/crm/import/leads", headers=headers, json={"csv": (
        "email;voornaam;achternaam;soort feest;datum;budget;bericht\n"
        "a@example.nl;Ann;Aal;bruiloft;14-06-2026;1.500,50;\"twee\nregels\"\n"
        "b@example.nl;Bob;Bos;feest;;;\n")})
    assert imported.json()["counts"]["created"] == 2
    response = await client.get("/api/v1/crm/leads/export.csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(LEAD_COLUMNS)
    assert rows[0]["budget"] == "1500.50" and rows[0]["event_date"] == "2026-06-14"
    before = await row_counts(db)
    again = await client.post("/api/v1/crm/import/leads", headers=headers, json={"csv": response.text})
    assert again.json()["counts"] == {"created": 0, "updated": 0, "skipped": 2}, again.json()
    after = await row_counts(db)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items()
                                                                     if k != "audit_log"}


async def test_cli_export_writes_the_file(db, factory, tmp_path) -> None:
    tenant = await factory.tenant("mrdj")
    await factory.contact(tenant, email="a@example.nl", first_name="Ann")
    target = tmp_path / "contacts.csv"
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["export", "contacts", "--tenant", "mrdj",
                                                               "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines()[1].startswith("Ann,")
