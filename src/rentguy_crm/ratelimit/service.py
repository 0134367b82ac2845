"""Which profile is in force for a tenant, switching it (audited, optionally for a while), and reverting.

`crm_rate_limit_profile` is read from here at scrape time (`observability/queue_state.py`), not set per process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rentguy_crm.audit import service as audit
from rentguy_crm.auth.service import job_scope
from rentguy_crm.kit import clock
from rentguy_crm.kit.ttl_cache import Missing, TtlCache
from rentguy_crm.ratelimit import repository
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.ratelimit.profiles import check_profile_name
from rentguy_crm.tenants.config import TenantConfig
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.tenants.scope import AllTenants

# How long an API process trusts its copy of a tenant's profile: a switch reaches every process within this.
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class EffectiveProfile:
    tenant: str
    profile: str
    default_profile: str
    until: dt.datetime | None
    set_by: str | None
    set_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "profile": self.profile, "default_profile": self.default_profile,
                "until": self.until, "set_by": self.set_by, "set_at": self.set_at}


def default_profile(tenant: Tenant) -> str:
    return TenantConfig.model_validate(tenant.config).rate_limit.default_profile if tenant.config else "standard"


@dataclass(frozen=True)
class Layer:
    """One switch in a tenant's stack: a profile until a time (None: until switched again)."""

    profile: str
    until: dt.datetime | None
    set_by: str
    set_at: dt.datetime

    def live(self, now: dt.datetime) -> bool:
        return self.until is None or self.until > now

    def stored(self) -> dict[str, Any]:
        return {"profile": self.profile, "until": _iso(self.until), "set_by": self.set_by,
                "set_at": self.set_at.isoformat()}


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def stack(switch: RateLimitSwitch) -> list[Layer]:
    """The switches of a row, bottom first, the one on top last."""
    beneath = [Layer(item["profile"], _time(item.get("until")), item.get("set_by") or "",
                     _time(item.get("set_at")) or switch.set_at) for item in switch.layers or []]
    return [*beneath, Layer(switch.profile, switch.until, switch.set_by, switch.set_at)]


def _in_force(layers: list[Layer], now: dt.datetime) -> Layer | None:
    return next((layer for layer in reversed(layers) if layer.live(now)), None)


def effective(tenant: Tenant, switch: RateLimitSwitch | None, now: dt.datetime,
              default: str | None = None) -> EffectiveProfile:
    """The profile in force at `now`: the topmost switch whose time is not up, else the permanent profile
    beneath them (`revert_to`), else the tenant's default."""
    default = default or default_profile(tenant)
    if switch is None:
        return EffectiveProfile(tenant.slug, default, default, None, None, None)
    layers = stack(switch)
    layer = _in_force(layers, now)
    if layer is None:
        ended = max((x.until for x in layers if x.until is not None), default=switch.until)
        return EffectiveProfile(tenant.slug, switch.revert_to or default, default, None, switch.set_by, ended)
    return EffectiveProfile(tenant.slug, layer.profile, default, layer.until, layer.set_by, layer.set_at)


async def current(session: AsyncSession, tenant: Tenant, now: dt.datetime | None = None) -> EffectiveProfile:
    return effective(tenant, await repository.switch(session, job_scope(tenant.id)), now or clock.now())


async def set_profile(
    session: AsyncSession, tenant: Tenant, profile: str, *, actor: str, duration: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> EffectiveProfile:
    """Switch now. With `duration` the switch goes on top of the stack and, when its time is up, what was in
    force before it returns (`relaxed --for 2h` then `strict --for 1m`: strict, then relaxed until the 2 h are
    up, then the profile from before both). Without it the switch is permanent and clears the stack. Audited."""
    check_profile_name(profile)
    now = now or clock.now()
    if duration is not None and duration.total_seconds() <= 0:
        raise ValueError("--for must be a positive duration such as 30m or 2h")
    switch = await repository.switch(session, job_scope(tenant.id))
    before = effective(tenant, switch, now)
    until = now + duration if duration is not None else None
    base: str | None = None
    beneath: list[dict[str, Any]] = []
    if until is not None and switch is not None:
        layers = stack(switch)
        permanent = [layer for layer in layers if layer.until is None]
        base = permanent[-1].profile if permanent else switch.revert_to
        beneath = [layer.stored() for layer in layers if layer.until is not None and layer.live(now)]
    if switch is None:
        switch = RateLimitSwitch(tenant_id=tenant.id, profile=profile, revert_to=base, until=until,
                                 set_by=actor, set_at=now, layers=beneath)
        session.add(switch)
    else:
        switch.profile, switch.revert_to, switch.until, switch.set_by, switch.set_at, switch.layers = (
            profile, base, until, actor, now, beneath)
    await session.flush()
    await audit.record(session, actor=actor, action="ratelimit.profile_switched", entity_type="rate_limit_profile",
                       entity_id=tenant.slug, tenant_id=tenant.id,
                       before={"profile": before.profile, "until": _iso(before.until)},
                       after={"profile": profile, "until": _iso(until), "at": now.isoformat(),
                              "then": [layer["profile"] for layer in reversed(beneath)] + [base or "default"]})
    invalidate(tenant.id)
    return effective(tenant, switch, now)


async def revert_expired(session: AsyncSession, now: dt.datetime | None = None) -> list[EffectiveProfile]:
    """Take every switch whose time is up off its tenant's stack, audit what returns, and tidy the row.

    The effective profile already follows the clock without this; it records the revert in the audit log.
    Safe to run any number of times, from a scheduled run or lazily from commands.
    """
    now = now or clock.now()
    rows = await repository.expired_switches(session, AllTenants(), now)
    reverted = []
    for switch, tenant in rows:
        ended = stack(switch)
        live = [layer for layer in ended if layer.live(now)]
        if live:
            # A switch from before the expired one(s) still has time: it is in force again, until its own end.
            top = live[-1]
            switch.profile, switch.until, switch.set_by, switch.set_at = top.profile, top.until, top.set_by, top.set_at
            switch.layers = [layer.stored() for layer in live[:-1]]
        else:
            to = switch.revert_to or default_profile(tenant)
            switch.set_at = max((x.until for x in ended if x.until is not None), default=now)
            switch.set_by = "system:ratelimit-revert"
            switch.profile, switch.revert_to, switch.until, switch.layers = to, None, None, []
        await audit.record(session, actor="system:ratelimit-revert", action="ratelimit.profile_reverted",
                           entity_type="rate_limit_profile", entity_id=tenant.slug, tenant_id=tenant.id,
                           before={"profile": ended[-1].profile, "until": _iso(ended[-1].until),
                                   "set_by": ended[-1].set_by},
                           after={"profile": switch.profile, "until": _iso(switch.until), "at": now.isoformat()})
        invalidate(tenant.id)
        reverted.append(effective(tenant, switch, now))
    await session.flush()
    return reverted


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- the per-process cache the request path reads -------------------------------------------------------------

_switches: TtlCache[int, RateLimitSwitch | None] = TtlCache("rate-limit profile switches", CACHE_SECONDS)


def invalidate(tenant_id: int | None = None) -> None:
    if tenant_id is None:
        _switches.clear()
    else:
        _switches.discard(tenant_id)


async def cached_profile(session: AsyncSession, tenant: Tenant, default: str) -> EffectiveProfile:
    """The effective profile, reading the switch row at most every CACHE_SECONDS per process."""
    switch = _switches.get(tenant.id)
    if isinstance(switch, Missing):
        switch = await repository.switch(session, job_scope(tenant.id))
        if switch is not None:
            session.expunge(switch)
        _switches.put(tenant.id, switch)
    return effective(tenant, switch, clock.now(), default)
