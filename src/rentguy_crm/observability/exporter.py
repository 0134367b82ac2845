"""Prometheus exposition for API and worker processes, single- or multi-process.

With `PROMETHEUS_MULTIPROC_DIR` set (what `crm serve --workers N` does), every process writes its samples to
files in that directory and any process's `/metrics` answers for all of them; without it, the default
in-process registry is served. Gauges that describe shared state (queue depth and lag, paused workflows,
workflow SLA, rate-limit profile) are read from the database at scrape time instead (see `queue_state.py`),
so every process reports the same truth.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from threading import Thread
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# Registers every metric definition, so any exposition lists them all (also before their first sample).
from rentguy_crm.observability import metrics as _definitions  # noqa: F401

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format: what every Prometheus version (the Debian 2.x included) parses.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Families whose value comes from the database at scrape time; process-local copies of them are not exported.
DB_DERIVED_FAMILIES = frozenset({
    "crm_automation_queue_depth",
    "crm_automation_queue_lag_seconds",
    "crm_automation_workflow_paused",
    "crm_automation_workflow_sla_seconds",
    "crm_rate_limit_profile",
})


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return Path(value) if value else None


def prepare_multiprocess_dir(var_dir: Path) -> Path:
    """The directory the API processes of this start share, exported as PROMETHEUS_MULTIPROC_DIR.

    Must run before any child process imports prometheus_client (uvicorn spawns its workers afterwards and they
    inherit the variable). An operator-set PROMETHEUS_MULTIPROC_DIR is used as given. Otherwise each start gets a
    fresh directory under `var/prometheus-multiproc/`, because files of a previous start would be counted again;
    directories of starts whose process is gone are removed.
    """
    given = multiprocess_dir()
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return given
    base = var_dir / "prometheus-multiproc"
    base.mkdir(parents=True, exist_ok=True)
    for old in base.iterdir():
        owner = old.name.rsplit("-", 1)[-1]
        if old.is_dir() and owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(old, ignore_errors=True)
    fresh = base / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    fresh.mkdir()
    os.environ[MULTIPROC_ENV] = str(fresh)
    return fresh


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_dead_processes(directory: Path | None = None) -> list[int]:
    """Mark processes whose files are in the directory but which no longer run as dead (drops their live gauges).

    Called when an API process starts, so a worker process uvicorn replaced does not linger in live gauges.
    """
    directory = directory or multiprocess_dir()
    if directory is None or not directory.is_dir():
        return []
    dead: set[int] = set()
    for path in directory.glob("*.db"):
        tail = path.stem.rsplit("_", 1)[-1]
        if tail.isdigit() and not _pid_alive(int(tail)):
            dead.add(int(tail))
    for pid in dead:
        mark_process_dead(pid, str(directory))
    return sorted(dead)


def mark_this_process_dead() -> None:
    directory = multiprocess_dir()
    if directory is not None and directory.is_dir():
        mark_process_dead(os.getpid(), str(directory))


class _Filtered:
    """The process (or multi-process) families, minus the ones the database answers for."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        for family in self.source.collect():
            if family.name not in DB_DERIVED_FAMILIES:
                yield family


class _Fixed:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def exposition_registry(extra: Iterable[Metric] = ()) -> CollectorRegistry:
    """A registry for one scrape: this process's (or all processes') samples plus `extra` families."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        source: Any = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(source, path=str(directory))
    else:
        source = REGISTRY
    registry.register(_Filtered(source))
    registry.register(_Fixed(extra))
    return registry


def render(extra: Iterable[Metric] = ()) -> bytes:
    return generate_latest(exposition_registry(extra))


def start_worker_metrics(port: int, addr: str = "127.0.0.1") -> tuple[Any, Thread, int]:
    """Serve this worker process's metrics on their own port (`crm workers run --metrics-port`).

    Workers run on many hosts, so they do not share the API's multiprocess directory: each worker process is a
    scrape target of its own. Port 0 picks a free port; the bound port is returned. Database-derived gauges are
    left to the API's `/metrics`.
    """
    server, thread = start_http_server(port, addr=addr, registry=exposition_registry())
    return server, thread, int(server.server_port)
