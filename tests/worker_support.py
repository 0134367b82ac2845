"""Real `crm workers run` processes for tests, and waiting for what they do (events, not wall-clock bounds)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
CRM = str(Path(sys.executable).parent / "crm")

# Only a hang reaches this: every wait ends as soon as its event happened, however busy the machine is.
HANG = 180.0

T = TypeVar("T")


class Workers:
    """Start and stop `crm workers run` processes; their output goes to files (never a full pipe)."""

    def __init__(self, tmp: Path, plugins: str = "tests.engine_plugin") -> None:
        self.tmp = tmp
        self.plugins = plugins
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, lease: float = 30, concurrency: int = 4,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_AUTOMATION_PLUGINS": self.plugins, **(env or {})}
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([CRM, "workers", "run", "--concurrency", str(concurrency), "--lease", str(lease),
                                 "--poll", "0.2", "--no-schedules", *args], env=environment, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.tmp / f"worker-{index}.log").read_text(errors="replace")

    def stop_all(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=HANG))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def crm(*args: str) -> str:
    """Run a `crm` command as an operator would; returns its standard output (fails the test on a non-zero exit)."""
    env = {**os.environ, "COLUMNS": "250"}
    done = subprocess.run([CRM, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, what: str,
                     interval: float = 0.1) -> T:
    """Poll `probe` until `done(value)`. Fails only when the value has not changed for HANG seconds: that is a
    hang. Slow progress on a busy machine (3,000 runs finishing one by one) is no failure."""
    loop = asyncio.get_running_loop()
    last: object = object()
    changed_at = loop.time()
    while True:
        try:
            value = await asyncio.wait_for(probe(), HANG)
        except TimeoutError:
            raise AssertionError(f"probing for {what} hung for {HANG:g}s") from None
        if done(value):
            return value
        if value != last:
            last, changed_at = value, loop.time()
        elif loop.time() - changed_at > HANG:
            raise AssertionError(f"no progress for {HANG:g}s while waiting for {what}; last: {value!r}")
        await asyncio.sleep(interval)


async def file_appears(path: Path, *, what: str) -> None:
    async def exists() -> bool:
        return await asyncio.to_thread(path.exists)

    await eventually(exists, bool, what=what, interval=0.05)
