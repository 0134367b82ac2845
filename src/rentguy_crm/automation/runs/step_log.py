"""The entries of a run's step log: what each names, and how an attempt of a side-effecting step is announced.

Every entry names its step (`step` index, `type`, `name`), whatever its outcome, so `crm runs show`, the API and
the reporting view `crm_report_failed_runs` can say which step failed. A step that talks to the outside world gets
a `started` entry committed before the channel is called; its outcome entry follows in the step's own
transaction. A worker killed in between leaves the `started` entry alone in the log: the next attempt sees it
(`unfinished_attempts`) and sends with the same idempotency key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rentguy_crm.automation.workflows.program import Instruction


def idempotency_key(run_id: int, pc: int) -> str:
    return f"run:{run_id}:step:{pc}"


def describe(instruction: Instruction | None) -> tuple[str, str]:
    """(type, name) of a program position; None is past the last step (the run's end)."""
    if instruction is None:
        return "end", "end of workflow"
    return (instruction.step.type if instruction.step is not None else instruction.op), instruction.label


def at_position(program: list[Instruction] | None, pc: int) -> tuple[str, str]:
    """(type, name) of step `pc`; without a program (its stored definition is gone or invalid) the definition."""
    if program is None:
        return "workflow", "workflow definition"
    return describe(program[pc] if pc < len(program) else None)


def entry(pc: int, what: tuple[str, str], *, status: str, attempt: int, worker: str, at: dt.datetime,
          **extra: Any) -> dict[str, Any]:
    """One step-log entry; `extra` fields that are None are left out."""
    return {"step": pc, "type": what[0], "name": what[1], "status": status, "attempt": attempt,
            "at": at.isoformat(), "worker": worker, **{k: v for k, v in extra.items() if v is not None}}


def started(pc: int, instruction: Instruction, *, run_id: int, attempt: int, worker: str, at: dt.datetime,
            unfinished: list[int]) -> dict[str, Any]:
    return entry(pc, describe(instruction), status="started", attempt=attempt, worker=worker, at=at,
                 idempotency_key=idempotency_key(run_id, pc), started_at=at.isoformat(),
                 unfinished_attempts=unfinished or None)


def announced(log: list[dict[str, Any]], pc: int, attempt: int, worker: str) -> bool:
    """This worker's `started` entry for this attempt of step `pc` is the log's last entry: the announcement
    committed and nothing happened since, so the step may call its channel now."""
    if not log:
        return False
    last = log[-1]
    return (last.get("status") == "started" and last.get("step") == pc and last.get("attempt") == attempt
            and last.get("worker") == worker)


def unfinished_attempts(log: list[dict[str, Any]], pc: int, *, skip_last: bool = False) -> list[int]:
    """Attempts of step `pc` that announced themselves and never recorded an outcome (their worker died, or was
    stopped, between calling the channel and committing): the message may have gone out already."""
    entries = log[:-1] if skip_last else log
    outcomes = {(e.get("attempt"), e.get("worker")) for e in entries
                if e.get("step") == pc and e.get("status") != "started"}
    return [int(e["attempt"]) for e in entries
            if e.get("step") == pc and e.get("status") == "started"
            and (e.get("attempt"), e.get("worker")) not in outcomes]
