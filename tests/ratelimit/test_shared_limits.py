"""With Redis storage, two real API processes share one limit and both follow a profile switch (once their
profile cache expires)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis

from rentguy_crm.db import Database
from rentguy_crm.ratelimit import service
from tests.intake.test_pipeline import PUBLIC, form
from tests.worker_support import HANG, eventually

REDIS_URL = "redis://127.0.0.1:6379/3"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_db3() -> Iterator[None]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis does not answer at 127.0.0.1:6379")
    client.flushdb()
    yield
    client.flushdb()
    client.close()


def start_api(port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"CRM_RATELIMIT_STORAGE_URL": REDIS_URL, "CRM_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "rentguy_crm.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)


@pytest.fixture
async def two_api_processes(redis_db3: None, db: Database) -> AsyncIterator[list[str]]:
    ports = [free_port(), free_port()]
    procs = [start_api(port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + HANG  # only a hang ends here: starting is slow on a busy machine
        async with httpx.AsyncClient() as c:
            for url in urls:
                while True:
                    try:
                        if (await c.get(url + "/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"API at {url} did not start")
                    await asyncio.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_two_processes_share_one_limit_and_follow_a_switch(two_api_processes: list[str], db: Database,
                                                                 mrdj) -> None:
    a, b = two_api_processes
    async with httpx.AsyncClient(timeout=10) as c:
        codes = [(await c.post((a, b)[i % 2] + PUBLIC, json=form(email=f"r{i}@example.nl"))).status_code
                 for i in range(10)]
        assert codes == [201] * 10
        assert (await c.post(a + PUBLIC, json=form(email="r10@example.nl"))).status_code == 429
        assert (await c.post(b + PUBLIC, json=form(email="r11@example.nl"))).status_code == 429

        async with db.session() as session:
            await service.set_profile(session, mrdj, "relaxed", actor="bart")
        # Each process follows the switch once its profile cache expires; a cache that never expires hangs here.
        seen: set[str] = set()
        n = 0

        async def follow() -> set[str]:
            nonlocal n
            for url in (a, b):
                n += 1
                response = await c.post(url + PUBLIC, json=form(email=f"after{n}@example.nl"))
                if response.status_code == 201 and response.headers["RateLimit-Limit"] == "60":
                    seen.add(url)
            return seen

        assert await eventually(follow, lambda s: s == {a, b}, what="both processes to follow the switch",
                                interval=service.CACHE_SECONDS / 4) == {a, b}
