"""Test setup: one migrated database per run (SQLite by default, Postgres with CRM_TEST_DATABASE_URL),
emptied after every test, plus an app and HTTP client bound to it."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="crm-tests-"))
TEST_DATABASE_URL = os.environ.get("CRM_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_TMP / 'crm.db'}"
# Everything the suite starts (CLI, subprocess workers) reads these, so set them before importing the package.
os.environ["CRM_DATABASE_URL"] = TEST_DATABASE_URL
os.environ.setdefault("CRM_ENV", "test")
# Only development mode runs on the built-in secret; the tests get a fresh one per run.
os.environ.setdefault("CRM_SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("CRM_LOG_JSON", "true")
os.environ.setdefault("CRM_LOG_LEVEL", "WARNING")
os.environ["CRM_VAR_DIR"] = str(_TMP / "var")

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from rentguy_crm import jobs as domain_jobs  # noqa: E402
from rentguy_crm import migrate  # noqa: E402
from rentguy_crm.app import create_app  # noqa: E402
from rentguy_crm.automation.engine import hooks as automation_hooks  # noqa: E402
from rentguy_crm.config import get_settings, reset_settings_cache  # noqa: E402
from rentguy_crm.db import Database  # noqa: E402
from rentguy_crm.model_registry import metadata  # noqa: E402
from tests.factories import Factory  # noqa: E402

# The suite's start-up, as in every entry point: services that emit events start their automation runs.
automation_hooks.install()
domain_jobs.install()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenant smoke tests")
    group.addoption("--tenant", default=None, help="Run tenant smoke tests against this tenant (e.g. mrdj).")
    group.addoption("--case", default=None, help="Only this smoke case (e.g. sso, api, intake).")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {make_url(TEST_DATABASE_URL).render_as_string(hide_password=True)}"


def _ensure_postgres_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    import psycopg

    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def _reset_schema(url: str) -> None:
    """Start each run from an empty database so migrations are tested from scratch."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        import psycopg

        plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


@pytest.fixture(scope="session")
def database_url() -> str:
    return TEST_DATABASE_URL


@pytest.fixture(scope="session", autouse=True)
def migrated(database_url: str) -> Iterator[str]:
    reset_settings_cache()
    _ensure_postgres_database(database_url)
    _reset_schema(database_url)
    migrate.upgrade("head", url=database_url)
    yield database_url


@pytest.fixture(scope="session")
async def db(migrated: str) -> AsyncIterator[Database]:
    database = Database(get_settings(), url=migrated)
    yield database
    await database.dispose()


TABLES_IN_DELETE_ORDER = [t.name for t in reversed(metadata.sorted_tables)]


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from empty tables: the code under test commits like production does."""
    yield
    if "db" not in request.fixturenames:
        return
    # A lead-capture tally flush still writing in the background would race the next test's first write.
    from rentguy_crm.intake.tally import tally

    await tally.settle()
    database: Database = request.getfixturevalue("db")
    async with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            await conn.execute(text("TRUNCATE " + ", ".join(TABLES_IN_DELETE_ORDER) + " RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES_IN_DELETE_ORDER:
                await conn.execute(text(f"DELETE FROM {table}"))
    # The outbox folder goes with the tables: run ids start again in the emptied tables, and a file an earlier test
    # wrote for "its" run 1 would be taken for the next test's run 1 (outbox files are named by run and step).
    shutil.rmtree(get_settings().var_dir / "outbox", ignore_errors=True)


@pytest.fixture
async def factory(db: Database) -> Factory:
    return Factory(db)


@pytest.fixture
def app(db: Database):  # type: ignore[no-untyped-def]
    return create_app(get_settings(), db=db)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def scratch_database_url(database_url: str, tmp_path: Path) -> str:
    """An empty database of the same kind as the test database, apart from it, for tests that migrate or
    drop everything: a fresh SQLite file, or on Postgres a sibling database `<test db>_scratch` emptied first."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "postgresql":
        return f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
    url = parsed.set(database=f"{parsed.database}_scratch").render_as_string(hide_password=False)
    _ensure_postgres_database(url)
    _reset_schema(url)
    return url
@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Every per-process cache (principals, tenants, origins, rate-limit profiles: `kit.ttl_cache`) and the lead
    tally start empty; tables are emptied between tests."""
    from rentguy_crm.intake.tally import tally
    from rentguy_crm.kit import clock, ttl_cache

    ttl_cache.clear_all()
    tally.pending.clear()
    yield
    clock.set_clock(None)
    ttl_cache.set_clock(None)
    ttl_cache.clear_all()


@pytest.fixture
async def mrdj(factory: Factory):  # type: ignore[no-untyped-def]
    return await factory.tenant("mrdj")


@pytest.fixture(autouse=True)
def no_incident_source() -> Iterator[None]:
    """The reports' incident source is process-wide; an app created by an earlier test registered the desk's.
    Each test starts without it (a test's own app registers it again)."""
    from rentguy_crm.reporting.incidents import register_incident_source

    register_incident_source(None)
    yield
    register_incident_source(None)


@pytest.fixture(autouse=True)
def fresh_lookup_caches() -> Iterator[None]:
    """Tenants' current workflows are cached per process (`automation.dispatch`, not yet on `kit.ttl_cache`)."""
    from rentguy_crm.automation.engine.dispatch import forget_workflows

    forget_workflows()
    yield
    forget_workflows()
