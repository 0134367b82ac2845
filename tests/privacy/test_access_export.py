"""Right of access: the archive holds every row the scenario created for the person, as JSON and as HTML,
and the messages sent to them as rendered."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from tests.privacy.scenario import EMAIL, FIRST, PHONE, person_through_the_front_door


def _open(data: bytes) -> tuple[dict, str, dict[str, bytes]]:  # type: ignore[type-arg]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        doc = json.loads(zf.read("data.json"))
        html = zf.read("index.html").decode()
        messages = {n: zf.read(n) for n in zf.namelist() if n.startswith("messages/")}
    return doc, html, messages


async def test_the_archive_contains_every_row_of_the_person(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    response = await client.post("/api/v1/privacy/access-export", headers=s.headers,
                                 json={"email": EMAIL, "request": "AVG-2026-001"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    doc, html, messages = _open(response.content)
    sections = doc["sections"]
    ids = {name: [row["id"] for row in rows] for name, rows in sections.items()}
    assert ids["contacts"] == [s.contact_id]
    assert ids["leads"] == [s.lead_id] and sections["leads"][0]["message"].startswith("Hoi, ik ben")
    assert ids["deals"] == [s.deal_id]
    assert ids["payments"] == [s.payment_id]
    assert ids["automation_runs"] == [s.run_id]
    assert len(ids["activities"]) == 1  # the note (the task is not made yet: the run waits)
    assert [m["recipient"] for m in sections["messages_sent"]] == [EMAIL]
    assert sections["merged_contacts"][0]["merged_id"] == s.duplicate_id
    assert doc["consent"][0]["provenance"]["source"] == "website_form"
    assert {e["action"] for e in sections["audit_log"]} >= {"contact.merged", "contact.merged_away"}
    [mail] = messages.values()
    assert EMAIL.encode() in mail
    assert f"{FIRST}" in html and EMAIL in html and "<script" not in html


async def test_by_phone_or_contact_id_and_a_stranger_is_404(client, db, factory) -> None:
    s = await person_through_the_front_door(client, db, factory)
    by_phone = await client.post("/api/v1/privacy/access-export", headers=s.headers, json={"phone": "06-87651234"})
    by_id = await client.post("/api/v1/privacy/access-export", headers=s.headers, json={"contact_id": s.contact_id})
    assert _open(by_phone.content)[0]["sections"]["contacts"][0]["phone"] == PHONE
    assert _open(by_id.content)[0]["sections"]["contacts"][0]["id"] == s.contact_id
    stranger = await client.post("/api/v1/privacy/access-export", headers=s.headers, json={"email": "no@one.nl"})
    assert stranger.status_code == 404
    two = await client.post("/api/v1/privacy/access-export", headers=s.headers,
                            json={"email": EMAIL, "contact_id": 1})
    assert two.status_code == 422


async def test_cli_writes_the_archive(client, db, factory, tmp_path) -> None:
    s = await person_through_the_front_door(client, db, factory)
    target = tmp_path / "inzage.zip"
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "privacy", "export", "--tenant", "mrdj", "--email", EMAIL, "--output", str(target)])
    assert result.exit_code == 0, result.output
    doc, _html, _messages = _open(target.read_bytes())
    assert doc["sections"]["leads"][0]["id"] == s.lead_id
