"""What automation registers with the layers below it, at start-up: an emitted event starts the runs it triggers
(`events.service.on_emit`), /metrics reports the run queue (`observability.queue_state.add_family_source`), and
the failure-rate watchdog counts finished runs (`observability.watchdog.count_finished_runs_with`). Those layers
never import automation.

Every entry point calls `install()`: the app factory (`crm serve`, `crm run`), the CLI module (every `crm`
command and the playbook's scripts), the workers (`builtin.install`), and the tests' conftest.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.automation.engine import dispatch
from rentguy_crm.automation.runs import queue_metrics, repository
from rentguy_crm.events import service as events
from rentguy_crm.observability import queue_state, watchdog
from rentguy_crm.tenants.scope import AllTenants


async def finished_runs_of_every_tenant(session: AsyncSession, finished: tuple[str, ...], failed: tuple[str, ...],
                                        since: dt.datetime, until: dt.datetime,
                                        ) -> dict[tuple[int, str], tuple[int, int]]:
    """The watchdog's counts: it watches every tenant."""
    return await repository.finished_counts_by_tenant(session, AllTenants(), finished, failed, since, until)


def install() -> None:
    """Register automation's hooks; calling it again changes nothing."""
    events.on_emit(dispatch.runs_for_event)
    queue_state.add_family_source(queue_metrics.queue_families)
    watchdog.count_finished_runs_with(finished_runs_of_every_tenant)
