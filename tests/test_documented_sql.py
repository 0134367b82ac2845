"""Every SQL query the docs show runs on the database it is meant for: blocks whose first line is
`-- PostgreSQL` or `-- SQLite` on that one, every other block on both (this file runs on each)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import text, update

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.db import Database
from tests.obs_support import REPO, add_runs

DOCS = sorted([*(REPO / "docs").glob("*.md"), REPO / "README.md"])
BLOCK = re.compile(r"^[ \t]*```sql\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
VARIABLES = {"{{tenant}}": "'mrdj'", "{{flow}}": "'lead_intake'"}


def documented_blocks() -> list[tuple[str, str | None, str]]:
    """(where, dialect or None for both, sql) for every ```sql block of the docs."""
    blocks = []
    for doc in DOCS:
        for number, match in enumerate(BLOCK.finditer(doc.read_text()), start=1):
            sql = "\n".join(line.strip() for line in match.group(1).splitlines())
            first = sql.splitlines()[0].lower()
            dialect = ("postgresql" if first.startswith("-- postgresql") else
                       "sqlite" if first.startswith("-- sqlite") else None)
            blocks.append((f"{doc.name} block {number}", dialect, sql))
    return blocks


BLOCKS = documented_blocks()


def statements(sql: str) -> list[str]:
    for name, value in VARIABLES.items():
        sql = sql.replace(name, value)
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def test_the_docs_have_queries_and_each_dialect_specific_one_has_its_counterpart() -> None:
    assert len(BLOCKS) >= 8
    for doc in {where.split(" block")[0] for where, _d, _s in BLOCKS}:
        dialects = [d for where, d, sql in BLOCKS if where.startswith(doc + " ")
                    and "administration" not in sql.splitlines()[0].lower()]
        assert dialects.count("postgresql") == dialects.count("sqlite"), doc


@pytest.fixture
async def failing_runs(db: Database, factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    lead = await factory.lead(tenant)
    now = dt.datetime.now(dt.UTC)
    runs = await add_runs(db, tenant, "lead_intake", "failed", 3, created_at=now - dt.timedelta(minutes=3),
                          error="template lead-welcome is not published")
    await add_runs(db, tenant, "lead_intake", "succeeded", 20, created_at=now - dt.timedelta(minutes=3))
    async with db.session() as session:
        await session.execute(update(AutomationRun).where(AutomationRun.id.in_([r.id for r in runs])).values(
            lead_id=lead.id, updated_at=now - dt.timedelta(minutes=2),
            step_log=[{"step": 0, "name": "welcome e-mail", "status": "failed"}]))
    return runs


@pytest.mark.parametrize(("where", "dialect", "sql"), BLOCKS, ids=[b[0] for b in BLOCKS])
async def test_a_documented_query_runs(db: Database, failing_runs, where: str, dialect: str | None,  # type: ignore[no-untyped-def]
                                       sql: str) -> None:
    if dialect is not None and dialect != db.dialect:
        pytest.skip(f"{where} is the {dialect} version")
    administration = "administration" in sql.splitlines()[0].lower()
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        role = f"doc_reader_{uuid.uuid4().hex[:8]}"
        try:
            results = []
            for statement in statements(sql):
                if administration:  # its own role and this database; rolled back below
                    database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
                    statement = statement.replace("metabase_reader", role)
                    statement = statement.replace("DATABASE crm", f'DATABASE "{database}"')
                result = await conn.execute(text(statement))
                results.append(result.all() if result.returns_rows else None)
        finally:
            await transaction.rollback()
    if "failed_step" in sql:
        [first, *_] = results[0]
        assert first.failed_step == "welcome e-mail" and first.last_error_message.startswith("template")
    if "{{flow}}" in sql and "last_error_type" in sql:
        assert results[0], f"{where} found none of the failed runs"
