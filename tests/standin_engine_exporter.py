"""STAND-IN until the run engine (issue 4) is merged: a process that finishes runs only as far as the metrics see.

It imports the real metric objects of `rentguy_crm.observability.metrics`, serves them through the worker
exporter (`start_worker_metrics`) and, every 0.25 s, counts finished runs: `lead_intake` fails 1 in 6 (above 2%),
`proposal_followup` 1 in 200 (below). Once the engine lands, the real-Prometheus test should drive real
failing runs through the workers instead. Usage: python standin_engine_exporter.py <port-file> <seconds>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rentguy_crm.observability import metrics
from rentguy_crm.observability.exporter import start_worker_metrics


def main() -> None:
    port_file, lifetime = Path(sys.argv[1]), float(sys.argv[2])
    for workflow in ("lead_intake", "proposal_followup"):
        metrics.init_workflow_series("mrdj", workflow)
    server, _thread, port = start_worker_metrics(0)
    port_file.write_text(str(port))
    finished = metrics.automation_runs_finished_total
    deadline = time.monotonic() + lifetime
    tick = 0
    while time.monotonic() < deadline:
        tick += 1
        metrics.worker_heartbeat_timestamp_seconds.labels(worker="standin:1").set(time.time())
        finished.labels(tenant="mrdj", workflow="lead_intake", status="succeeded").inc(5)
        finished.labels(tenant="mrdj", workflow="lead_intake", status="failed").inc(1)
        finished.labels(tenant="mrdj", workflow="proposal_followup", status="succeeded").inc(50)
        if tick % 4 == 0:
            finished.labels(tenant="mrdj", workflow="proposal_followup", status="failed").inc(1)
        time.sleep(0.25)
    server.shutdown()


if __name__ == "__main__":
    main()
