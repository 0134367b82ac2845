"""Screen 7, Templates, through HTTP as a signed-in person: the list per channel and language, the editor's live
preview against a real lead with unsaved text, saving, the diff, publishing, and the clone dry run."""

from __future__ import annotations

from sqlalchemy import func, select

from rentguy_crm.templates.models import TemplateVersion
from tests.table_counts import audit_entries, row_counts
from tests.templates_support import draft
from tests.web.operations_world import FRAGMENT, PAGE, build

FORM = "application/x-www-form-urlencoded"


async def _versions(db) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        rows = await session.execute(select(TemplateVersion.version, TemplateVersion.status, TemplateVersion.text_body)
                                     .order_by(TemplateVersion.id))
        return [tuple(row) for row in rows.all()]


async def test_list_groups_templates_per_channel_and_filters_by_language(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    await draft(db, world.tenant, key="lead-reminder", channel="slack", language="en", text="Hi")
    headers = {**await factory.session_headers(world.tenant, "sales"), **FRAGMENT}
    every = await client.get("/ui/templates/list", headers=headers)
    assert every.status_code == 200
    assert "<caption>email</caption>" in every.text and "<caption>slack</caption>" in every.text
    dutch = await client.get("/ui/templates/list?language=nl", headers=headers)
    assert "lead-welcome" in dutch.text and "lead-reminder" not in dutch.text
    empty = await client.get("/ui/templates/list?channel=teams", headers=headers)
    assert "Geen sjablonen bij deze filters." in empty.text


async def test_an_unknown_channel_is_a_422_naming_it(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "sales"), **FRAGMENT}
    response = await client.get("/ui/templates/list?channel=fax", headers=headers)
    assert response.status_code == 422 and "channel" in response.text


async def test_preview_renders_unsaved_text_against_a_real_lead_and_stores_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    before = await _versions(db)
    response = await client.post(f"/ui/templates/versions/{world.version}/preview", headers=headers, data={
        "subject": "Welkom", "text_body": "Beste {{ contact.first_name }}, we bellen je snel.",
        "subject_record": f"lead:{world.lead}"})
    assert response.status_code == 200, response.text
    assert "Beste Anouk, we bellen je snel." in response.text and "echte gegevens" in response.text
    assert await _versions(db) == before


async def test_preview_with_sample_data_and_a_syntax_error_is_a_422(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "sales"), **FRAGMENT}
    sample = await client.post(f"/ui/templates/versions/{world.version}/preview", headers=headers, data={})
    assert sample.status_code == 200 and "voorbeeldgegevens" in sample.text
    broken = await client.post(f"/ui/templates/versions/{world.version}/preview", headers=headers,
                               data={"text_body": "Hoi {{ contact.first_name "})
    assert broken.status_code == 422
    garbled = await client.post(f"/ui/templates/versions/{world.version}/preview", headers=headers,
                                data={"subject_record": "contact:1"})
    assert garbled.status_code == 422 and "lead" in garbled.text


async def test_preview_against_another_tenants_lead_is_not_found(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    other = await build(db, factory, slug="other")
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    response = await client.post(f"/ui/templates/versions/{world.version}/preview", headers=headers,
                                 data={"subject_record": f"lead:{other.lead}"})
    assert response.status_code == 404
    assert "Anouk" not in response.text


async def test_save_then_diff_then_publish(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = await factory.session_headers(world.tenant, "operations")
    first = await client.post(f"/ui/templates/versions/{world.version}/publish", headers={**headers, **PAGE})
    assert first.status_code == 303
    saved = await client.post(f"/ui/templates/versions/{world.version}/save", headers={**headers, **PAGE},
                              data={"subject": "Welkom!", "text_body": "Hallo {{ contact.first_name }}"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("notice=saved")
    assert await _versions(db) == [(1, "live", "Hoi {{ contact.first_name }}, dank voor je aanvraag."),
                                   (2, "draft", "Hallo {{ contact.first_name }}")]
    diff = await client.get(f"/ui/templates/{world.template}/diff", headers={**headers, **FRAGMENT})
    assert '<span class="diff-add">+Hallo {{ contact.first_name }}</span>' in diff.text
    editor = await client.get(f"/templates/{world.template}?notice=saved", headers={**headers, **PAGE})
    assert "Versie 2 publiceren" in editor.text and "Concept opgeslagen." in editor.text
    async with db.session() as session:
        second = await session.scalar(select(TemplateVersion.id).where(TemplateVersion.version == 2))
    published = await client.post(f"/ui/templates/versions/{second}/publish", headers={**headers, **PAGE})
    assert published.status_code == 303
    assert [status for _n, status, _t in await _versions(db)] == ["archived", "live"]
    assert [e.action for e in await audit_entries(db)][-1] == "template.published"


async def test_sales_may_preview_but_not_save_or_publish(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "sales"), **FRAGMENT}
    before = await _versions(db)
    for action in ("save", "publish"):
        response = await client.post(f"/ui/templates/versions/{world.version}/{action}", headers=headers,
                                     data={"text_body": "x"})
        assert response.status_code == 403 and "templates:write" in response.text
    assert await _versions(db) == before


async def test_clone_dry_run_is_a_table_of_actions_and_writes_nothing(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "operations"), **FRAGMENT}
    before = (await row_counts(db), await _versions(db))
    response = await client.get("/ui/templates/clone-plan", headers=headers)
    assert response.status_code == 200, response.text
    assert 'class="clone-table"' in response.text and "dry run, nothing written" in response.text
    assert "badge-create" in response.text
    assert (await row_counts(db), await _versions(db)) == before
    cloned = await client.post("/ui/templates/clone", headers=headers, data={})
    assert cloned.status_code == 200 and "as drafts" in cloned.text
    async with db.session() as session:
        assert (await session.scalar(select(func.count()).select_from(TemplateVersion)) or 0) > len(before[1])


async def test_clone_page_needs_the_write_permission(client, db, factory) -> None:  # type: ignore[no-untyped-def]
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, "support"), **PAGE}
    response = await client.get("/templates/clone", headers=headers)
    assert response.status_code == 403 and "templates:write" in response.text
