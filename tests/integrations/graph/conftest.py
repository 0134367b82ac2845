"""The Microsoft fakes for the calendar tests (also used by tests/crm/calendar_sync)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integrations.graph.fake import M365, SECRET_VARIABLE


@pytest.fixture
def m365(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    fakes = M365(tmp_path).start()
    # MSAL (requests) trusts the fake's self-signed certificate through the standard variable.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fakes.ca_file))
    monkeypatch.setenv(SECRET_VARIABLE, "s3cret-one")
    yield fakes
    fakes.stop()
