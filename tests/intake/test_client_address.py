"""The client address behind a trusted proxy: `X-Forwarded-For` hops written as `ip:port` or `[v6]:port` are
the address without the port, for the consent record and the per-IP limit alike."""

from __future__ import annotations

import httpx
import pytest

from rentguy_crm.app import create_app
from rentguy_crm.config import get_settings
from rentguy_crm.crm.models import Contact
from rentguy_crm.db import Database
from tests.intake.test_pipeline import PUBLIC, form, only

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


def _client(db: Database, peer: str) -> httpx.AsyncClient:
    settings = get_settings().model_copy(update={"trusted_proxies": PROXIES})
    transport = httpx.ASGITransport(app=create_app(settings, db=db), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize(("forwarded_for", "client"), [
    ("198.18.0.7:40007", "198.18.0.7"),
    ("[2001:db8::7]:40007", "2001:db8::7"),
    ("2001:db8::7", "2001:db8::7"),
    ("203.0.113.5, 198.18.0.7:40007, 10.0.0.9:443", "198.18.0.7"),
    ("[2001:db8:ffff::1]:8443", "2001:db8:ffff::1"),  # every hop a proxy: the leftmost
])
async def test_port_is_stripped_from_the_forwarded_client(db: Database, mrdj, forwarded_for: str,
                                                          client: str) -> None:
    async with _client(db, "10.0.0.5") as c:
        response = await c.post(PUBLIC, json=form(marketing_opt_in=True), headers={"X-Forwarded-For": forwarded_for})
    assert response.status_code == 201, response.text
    assert (await only(db, Contact)).consent["ip"] == client


async def test_one_client_on_changing_ports_shares_one_per_ip_limit(db: Database, mrdj) -> None:
    async with _client(db, "10.0.0.5") as c:
        codes = [(await c.post(PUBLIC, json=form(email=f"x{i}@example.nl"),
                               headers={"X-Forwarded-For": f"198.18.0.7:{40000 + i}"})).status_code
                 for i in range(11)]
    assert codes[:10] == [201] * 10 and codes[10] == 429


async def test_a_hop_that_is_no_address_falls_back_to_the_proxy(db: Database, mrdj) -> None:
    async with _client(db, "10.0.0.5") as c:
        await c.post(PUBLIC, json=form(marketing_opt_in=True), headers={"X-Forwarded-For": "unknown:80"})
    assert (await only(db, Contact)).consent["ip"] == "10.0.0.5"
