"""The product for each acceptance scenario: fresh processes, fresh fakes, empty tables afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from rentguy_crm.db import Database
from tests.acceptance.product import MOLLIE_KEY, WHATSAPP_TOKEN, Product
from tests.vendor_fakes import HttpFake, MollieFake, SmtpFake, WhatsappFake


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every scenario starts processes: `-m acceptance` selects them, `-m "not slow"` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.acceptance)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
async def product(db: Database, database_url: str, tmp_path: Path) -> AsyncIterator[Product]:
    # `db` is requested so the suite empties the tables after the scenario, once the processes have stopped.
    smtp = SmtpFake()
    smtp.controller.start()
    try:
        async with HttpFake() as slack, WhatsappFake(WHATSAPP_TOKEN) as whatsapp, MollieFake(MOLLIE_KEY) as mollie:
            running = Product(tmp=tmp_path, postgres=make_url(database_url).get_backend_name() == "postgresql",
                              smtp=smtp, slack=slack, whatsapp=whatsapp, mollie=mollie)
            try:
                await running.start()
                yield running
            finally:
                await running.stop()
    finally:
        smtp.controller.stop()
