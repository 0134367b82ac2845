"""Lead assignment by event type, and how priority and team follow when a lead's event type changes.

Every door that changes a lead's event type (the CRM API, a website re-post by `external_id`) uses this, so
assignment is recomputed when its input changes and only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rentguy_crm.crm.models import Lead
from rentguy_crm.tenants.config import Assignment, TenantConfig

SALES_ROLE = "sales"


def follow_event_type(lead: Lead, previous_event_type: str | None, assignment: Assignment,
                      *, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The lead's event type changed from `previous_event_type`: priority and team move to the new type's
    rule, except where they no longer hold what the old rule gave (someone chose them) or are in `keep`
    (set by the same request). Returns the columns it changed."""
    if lead.event_type == previous_event_type:
        return {}
    old, new = assignment.for_event_type(previous_event_type), assignment.for_event_type(lead.event_type)
    changed: dict[str, Any] = {}
    if "priority" not in keep and lead.priority == old.priority and lead.priority != new.priority:
        changed["priority"] = lead.priority = new.priority
    if "team" not in keep and lead.team == old.team and lead.team != new.team:
        changed["team"] = lead.team = new.team
    return changed


def task_teams(config: TenantConfig) -> list[str]:
    """Every team a task can be given to: the lead-assignment teams and the support desk's teams."""
    rules = [*config.assignment.rules, config.assignment.default]
    return sorted({rule.team for rule in rules} | set(config.support.teams))


def teams_of(config: TenantConfig, email: str | None, roles: Sequence[str]) -> list[str]:
    """A person's teams: the desk's teams that list their e-mail address or bear the name of one of their roles,
    and for sales the lead-assignment teams (new leads are given to sales teams by event type)."""
    address = (email or "").lower()
    mine = {key for key, team in config.support.teams.items()
            if key in roles or (address and address in (m.lower() for m in team.members))}
    if SALES_ROLE in roles:
        mine |= {rule.team for rule in [*config.assignment.rules, config.assignment.default]}
    return sorted(mine)
