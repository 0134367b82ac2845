"""CSV import: the dialects people send, the dedupe of lead capture (never a duplicate of a known person),
a row-by-row report with physical line numbers, idempotent re-runs, no automation unless asked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.cli import app as cli
from rentguy_crm.crm.models import Contact, Lead
from tests.automation_support import install_workflow, workflow_doc
from tests.table_counts import row_counts

# Dutch Excel: semicolons, a BOM, a quoted message with a line break, a known e-mail in another case, a row
# with a bad e-mail, and a phone written the Dutch way.
DUTCH = ("\ufeffVoornaam;Achternaam;E-mail;Telefoon;Soort feest;Datum;Bericht\r\n"
         "Anna;de Vries;ANNA@Example.NL;06 12345678;bruiloft;14-06-2026;\"Graag een DJ\r\nen lichtshow\"\r\n"
         "Bram;Bakker;bram@example.nl;;verjaardag;2026-09-01;Hoi\r\n"
         "Kees;Kapot;geen-adres;;feest;;\r\n"
         "Dirk;Dekker;dirk@example.nl;+31 6 87654321;bedrijfsfeest;;\r\n")


async def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _import(client, headers, csv: str, kind: str = "leads", **extra):  # type: ignore[no-untyped-def]
    response = await client.post(f"/api/v1/crm/import/{kind}", headers=headers, json={"csv": csv, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def test_dutch_excel_file_reports_physical_lines_and_makes_no_duplicate(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    known = await factory.contact(tenant, email="anna@example.nl", first_name="Anna", last_name="de Vries")
    report = await _import(client, await factory.headers(tenant, "operations"), DUTCH)
    assert (report["delimiter"], report["encoding"]) == ("semicolon", "utf-8")
    rows = {r["line"]: r for r in report["rows"]}
    # The quoted line break makes Anna's row two physical lines (2-3); Bram starts on line 4.
    assert sorted(rows) == [2, 4, 5, 6]
    assert rows[2]["outcome"] == "created" and rows[2]["contact_id"] == known.id  # a new lead, the known person
    assert f"known contact {known.id}" in rows[2]["reason"]
    assert rows[4]["outcome"] == "created"
    assert rows[5]["outcome"] == "skipped" and "email" in rows[5]["reason"]
    assert rows[6]["outcome"] == "created"
    async with db.session() as session:
        contacts = (await session.scalars(select(Contact).order_by(Contact.id))).all()
        assert [c.email for c in contacts] == ["anna@example.nl", "bram@example.nl", "dirk@example.nl"]
        anna = contacts[0]
        assert anna.phone == "+31612345678"  # filled in, normalised like lead capture
        lead = await session.scalar(select(Lead).where(Lead.contact_id == known.id))
        assert lead.message == "Graag een DJ\r\nen lichtshow" or lead.message == "Graag een DJ\nen lichtshow"
        assert (lead.event_type, str(lead.event_date), lead.priority) == ("bruiloft", "2026-06-14", "high")
        assert contacts[2].phone == "+31687654321"


async def test_a_second_run_of_the_same_file_changes_nothing(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    await _import(client, headers, DUTCH)
    before = await row_counts(db)
    again = await _import(client, headers, DUTCH)
    assert again["counts"] == {"created": 0, "updated": 0, "skipped": 4}
    assert {r["reason"].split(" (")[0] for r in again["rows"] if r["line"] != 5} == {"already imported"}
    counts = await row_counts(db)
    assert {k: v for k, v in counts.items() if k != "audit_log"} == {k: v for k, v in before.items()
                                                                      if k != "audit_log"}


async def test_dry_run_reports_the_same_and_stores_nothing(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    before = await row_counts(db)
    dry = await _import(client, headers, DUTCH, dry_run=True)
    assert await row_counts(db) == before
    real = await _import(client, headers, DUTCH)
    assert [(r["line"], r["outcome"]) for r in dry["rows"]] == [(r["line"], r["outcome"]) for r in real["rows"]]


async def test_no_automation_starts_unless_asked(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    await install_workflow(db, tenant, workflow_doc())
    headers = await factory.headers(tenant, "operations")
    await _import(client, headers, "email,first_name,event_type\nx@example.nl,Xander,feest\n")
    assert await _count(db, AutomationRun) == 0
    report = await _import(client, headers, "email,first_name,event_type\ny@example.nl,Yara,feest\n",
                           start_automations=True)
    assert "1 automation run(s) started" in report["rows"][0]["reason"]
    assert await _count(db, AutomationRun) == 1


async def test_tab_separated_and_comma_files_are_sniffed(client, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    tab = await _import(client, headers, "first name\tlast name\temail\nTim\tTak\ttim@example.nl\n", kind="contacts")
    comma = await _import(client, headers, 'email,company\n"ola@example.nl","Ola, Oos & Co"\n', kind="contacts")
    assert (tab["delimiter"], tab["counts"]["created"]) == ("tab", 1)
    assert (comma["delimiter"], comma["counts"]["created"]) == ("comma", 1)


async def test_a_file_without_identifying_columns_is_a_clear_422(client, db, factory) -> None:
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    before = await row_counts(db)
    response = await client.post("/api/v1/crm/import/contacts", headers=headers,
                                 json={"csv": "kleur;maat\nrood;XL\n"})
    assert response.status_code == 422
    assert "headers found: kleur, maat" in response.json()["detail"]
    bad_kind = await client.post("/api/v1/crm/import/tickets", headers=headers, json={"csv": "email\nx@y.nl\n"})
    assert bad_kind.status_code == 422
    assert await row_counts(db) == before


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def test_cli_import_reads_windows_1252_with_a_warning_and_a_mapping_file(db, factory, tmp_path) -> None:
    await factory.tenant("mrdj")
    csv_file = _write(tmp_path / "oud.csv", "Naam;Mail;Plaats\nZoë;zoe@example.nl;Den Haag\n".encode("cp1252"))
    mapping = _write(tmp_path / "mapping.yaml", b"Naam: first_name\nMail: email\n")
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "import", "contacts", str(csv_file), "--tenant", "mrdj", "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "Windows-1252" in result.output and "1 created" in result.output
    assert "column 'Plaats' is not imported" in result.output
    async with db.session() as session:
        contact = await session.scalar(select(Contact))
    assert (contact.first_name, contact.email) == ("Zoë", "zoe@example.nl")


async def test_cli_import_json_report_and_bad_files_without_tracebacks(db, factory, tmp_path) -> None:
    await factory.tenant("mrdj")
    good = _write(tmp_path / "leads.csv", DUTCH.encode("utf-8"))
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "import", "leads", str(good), "--tenant", "mrdj", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] and [r["line"] for r in report["rows"]] == [2, 4, 5, 6]
    assert await _count(db, Contact) == 0
    broken = _write(tmp_path / "broken.csv", b'email;voornaam\n"open@example.nl;Quote\n')
    empty = _write(tmp_path / "empty.csv", b"")
    bad_mapping = _write(tmp_path / "m.json", b"{not json")
    for args in (["import", "leads", str(broken), "--tenant", "mrdj"],
                 ["import", "contacts", str(empty), "--tenant", "mrdj"],
                 ["import", "contacts", str(good), "--tenant", "mrdj", "--mapping", str(bad_mapping)],
                 ["import", "contacts", str(good), "--tenant", "nobody"]):
        failed = await asyncio.to_thread(CliRunner().invoke, cli, args)
        assert failed.exit_code != 0, args
        assert "Traceback" not in failed.output and "error:" in failed.output, failed.output


async def test_an_import_never_switches_marketing_back_on_after_an_objection(client, db, factory) -> None:
    from rentguy_crm.crm import optout

    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="fan@example.nl", marketing_opt_in=True)
    assert (await client.post(f"/api/v1/unsubscribe/{optout.token_for(tenant.id, contact.id)}")).status_code == 200
    report = await _import(client, await factory.headers(tenant, "operations"),
                           "email;nieuwsbrief\nfan@example.nl;ja\n", kind="contacts")
    assert "objected to marketing" in report["rows"][0]["reason"]
    async with db.session() as session:
        assert (await session.get(Contact, contact.id)).marketing_opt_in is False
