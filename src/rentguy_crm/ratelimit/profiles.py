"""The three profiles and their limits, with per-tenant overrides from the tenant config."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from limits import RateLimitItem, parse_many

from rentguy_crm.tenants.config import RateLimitSettings

ProfileName = Literal["strict", "standard", "relaxed"]
PROFILES: tuple[ProfileName, ...] = ("strict", "standard", "relaxed")

# standard: 10 per 5 minutes per client IP, 600 per minute per tenant; strict a third; relaxed six times.
DEFAULT_LIMITS: dict[str, tuple[str, str]] = {
    "strict": ("3/5 minutes", "200/minute"),
    "standard": ("10/5 minutes", "600/minute"),
    "relaxed": ("60/5 minutes", "3600/minute"),
}


@dataclass(frozen=True)
class ProfileLimits:
    name: str
    per_ip: tuple[RateLimitItem, ...]
    per_tenant: tuple[RateLimitItem, ...]

    def describe(self) -> dict[str, str]:
        return {"per_ip": "; ".join(str(i) for i in self.per_ip),
                "per_tenant": "; ".join(str(i) for i in self.per_tenant)}


def limits_for(profile: str, settings: RateLimitSettings) -> ProfileLimits:
    override = settings.profiles.get(check_profile_name(profile))
    per_ip, per_tenant = (override.per_ip, override.per_tenant) if override else DEFAULT_LIMITS[profile]
    return ProfileLimits(profile, _parsed(per_ip), _parsed(per_tenant))


@lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[RateLimitItem, ...]:
    # Every request asks for its tenant's limits; the notation is parsed once per distinct text.
    return tuple(parse_many(text))


def check_profile_name(name: str) -> ProfileName:
    for known in PROFILES:
        if name == known:
            return known
    raise ValueError(f"unknown rate-limit profile '{name}'; choose one of {', '.join(PROFILES)}")
