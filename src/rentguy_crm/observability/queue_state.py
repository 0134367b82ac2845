"""Gauges read from the database at scrape time: those the layers above register (automation: queue depth and lag,
paused workflows, workflow SLA) and the rate-limit profile in force per tenant.

They describe shared state, so computing them in the process that is scraped is right however many API and
worker processes run (each scrape target reports the same numbers; rules aggregate with `max by`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.ratelimit import repository as ratelimits
from rentguy_crm.ratelimit.profiles import PROFILES
from rentguy_crm.ratelimit.service import effective
from rentguy_crm.tenants.scope import AllTenants

FamilySource = Callable[[AsyncSession, dt.datetime], Awaitable[list[Metric]]]
"""Gauge families a higher layer computes from the database at scrape time (automation: queue depth and lag,
paused workflows, workflow SLA), registered at start-up with `add_family_source`."""

_sources: list[FamilySource] = []


def add_family_source(source: FamilySource) -> None:
    """Report `source`'s families on every scrape from now on (registering twice is a no-op)."""
    if source not in _sources:
        _sources.append(source)


async def database_families(session: AsyncSession, now: dt.datetime) -> list[Metric]:
    families: list[Metric] = []
    for source in _sources:
        families.extend(await source(session, now))
    return [*families, await rate_limit_family(session, now)]


async def rate_limit_family(session: AsyncSession, now: dt.datetime) -> Metric:
    """1 for the profile in force per tenant, 0 for the others: the stored switch (and its expiry) or the
    tenant's default, computed like the request path does (`ratelimit.service.effective`)."""
    family = GaugeMetricFamily("crm_rate_limit_profile",
                               "1 for the rate-limit profile in force per tenant (strict, standard, relaxed).",
                               labels=["tenant", "profile"])
    for tenant, switch in await ratelimits.tenants_with_switches(session, AllTenants()):
        in_force = effective(tenant, switch, now).profile
        for name in PROFILES:
            family.add_metric([tenant.slug, name], 1.0 if name == in_force else 0.0)
    return family
