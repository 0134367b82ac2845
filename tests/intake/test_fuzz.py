"""Property: no submission, however odd, makes the public lead route answer 5xx."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.intake.test_pipeline import PUBLIC

FIELDS = ["first_name", "last_name", "email", "phone", "event_type", "event_date", "guests", "venue", "city",
          "budget", "message", "source", "marketing_opt_in", "consent_text_version", "utm_source", "website",
          "tenant", "unknown"]
ODD_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["'; DROP TABLE leads;--", "<img src=x onerror=alert(1)>", "🎉" * 50, "\x00", "\ud800",
                     "06 12345678", "a@b.nl", "bruiloft", "2025-02-30", "1e309", "mrdj", "x" * 5000]),
)
VALUES = st.one_of(ODD_TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


UNLIMITED = {"default_profile": "standard",
             "profiles": {"standard": {"per_ip": "100000/minute", "per_tenant": "100000/minute"}}}


@pytest.fixture
async def open_tenant(factory: Any) -> Any:
    return await factory.tenant("mrdj", rate_limit=UNLIMITED)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=10))
async def test_odd_input_never_gives_5xx(client: httpx.AsyncClient, open_tenant: Any, body: dict[str, Any]) -> None:
    body.setdefault("tenant", "mrdj")
    # Encoded by hand: escaped lone surrogates and NaN are exactly the odd input a client can send.
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True).encode()
    response = await client.post(PUBLIC, content=raw, headers={"Content-Type": "application/json",
                                                               "X-Forwarded-For": "ignored"})
    assert response.status_code < 500, (body, response.text)
    assert response.status_code != 429
