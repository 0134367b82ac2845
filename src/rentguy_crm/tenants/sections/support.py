"""The `support` section of the tenant config: teams, the RACI per activity (playbook section 1), working hours,
SLA targets per priority and the escalation settings (playbook section 3). Data, so routing changes without code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rentguy_crm.kit.durations import parse_duration

# The playbook's six activities (section 1), in its order.
ACTIVITIES: tuple[str, ...] = (
    "first_line_triage",             # Eerste-lijns ticket triage
    "lead_capture_issue",            # Lead capture issues
    "automation_failure",            # Automation failures
    "dashboard_metrics_incident",    # Dashboard/Metrics incident
    "data_correction",               # Data correction
    "security_compliance_question",  # Security/compliance vragen
)
Activity = Literal["first_line_triage", "lead_capture_issue", "automation_failure", "dashboard_metrics_incident",
                   "data_correction", "security_compliance_question"]
Priority = Literal["P1", "P2", "P3"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_TEAM_KEY = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SupportTeam(_Strict):
    """A team: its members (user e-mail addresses until staff users exist) and where it is told things."""

    name: str | None = None
    members: list[str] = Field(default_factory=list, description="User e-mail addresses")
    slack_channel: str | None = Field(default=None, description='e.g. "#mrdj-ops"')
    email: str | None = Field(default=None, description="The team's shared mailbox")

    @field_validator("members")
    @classmethod
    def _emails(cls, members: list[str]) -> list[str]:
        bad = [m for m in members if "@" not in m]
        if bad:
            raise ValueError(f"members are e-mail addresses; not one: {', '.join(bad)}")
        return members


class RaciRow(_Strict):
    """One activity's row: R (queue), A (escalation target), C (asked), I (told on open and close)."""

    responsible: list[str] = Field(min_length=1)
    accountable: str
    consulted: list[str] = Field(default_factory=list)
    informed: list[str] = Field(default_factory=list)

    def teams(self) -> set[str]:
        return {*self.responsible, self.accountable, *self.consulted, *self.informed}


class WorkingHours(_Strict):
    """When the SLA clock runs. Spans per weekday as "HH:MM-HH:MM" (several = a split day; none = closed)."""

    timezone: str | None = Field(default=None, description="IANA zone; default the tenant's timezone")
    days: dict[Weekday, list[str]] = Field(default_factory=lambda: {
        d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
    holidays_country: str | None = Field(default="NL", description="ISO country for the `holidays` library")
    holidays_subdivision: str | None = None
    closed_days: list[dt.date] = Field(default_factory=list, description="Extra closed days (company days off)")

    @field_validator("days")
    @classmethod
    def _spans(cls, days: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in days.items():
            for span in spans:
                match = _SPAN.match(span)
                if not match or span[:5] >= span[6:]:
                    raise ValueError(f"{day}: '{span}' is not a span like 09:00-17:00 (start before end)")
        return days


class SlaTarget(_Strict):
    first_response: str = Field(description="Working time, e.g. 8h")
    resolution: str = Field(description="Working time, e.g. 40h")

    @field_validator("first_response", "resolution")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value, unit_required=True)
        return value

    def first_response_delta(self) -> dt.timedelta:
        return parse_duration(self.first_response, unit_required=True)

    def resolution_delta(self) -> dt.timedelta:
        return parse_duration(self.resolution, unit_required=True)


def _default_targets() -> dict[Priority, SlaTarget]:
    return {"P1": SlaTarget(first_response="30m", resolution="4h"),
            "P2": SlaTarget(first_response="2h", resolution="16h"),
            "P3": SlaTarget(first_response="8h", resolution="40h")}


class JiraSettings(_Strict):
    """Where retro issues and bugs go. Keys and field ids are the site's, so they live here, never in code."""

    retro_project: str | None = None
    retro_issue_type: str = "Task"
    bug_project: str | None = None
    bug_issue_type: str = "Bug"
    labels: list[str] = Field(default_factory=lambda: ["crm-incident"])
    fields: dict[str, str] = Field(default_factory=dict, description="Extra field ids, e.g. customfield_10010")


class EscalationSettings(_Strict):
    """Section 3: P1 pages this schedule, P2 opens a bridge with these teams, P3 goes to the help desk."""

    pager_schedule: str | None = Field(default=None, description="Opsgenie schedule id/name of engineering on-call")
    bridge_teams: list[str] = Field(default_factory=lambda: ["operations", "engineering"])
    runbook_url: str | None = Field(default=None, description='Link to a runbook, "{key}" is filled in')
    helpdesk_fallback_email: str | None = Field(default=None, description="Requester e-mail when none is known")
    jira: JiraSettings = Field(default_factory=JiraSettings)
    customer_success: SupportTeam | None = Field(default=None, description="Told about structural problems")


class SupportSettings(_Strict):
    teams: dict[str, SupportTeam] = Field(default_factory=dict)
    raci: dict[Activity, RaciRow] = Field(default_factory=dict)
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    sla: dict[Priority, SlaTarget] = Field(default_factory=_default_targets)
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="Share of a target that warns the R team")
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)

    @field_validator("teams")
    @classmethod
    def _team_keys(cls, teams: dict[str, SupportTeam]) -> dict[str, SupportTeam]:
        bad = [k for k in teams if not re.match(_TEAM_KEY, k)]
        if bad:
            raise ValueError(f"team keys are lower-case words; not valid: {', '.join(bad)}")
        return teams

    @model_validator(mode="after")
    def _raci_names_known_teams(self) -> SupportSettings:
        for activity, row in self.raci.items():
            unknown = sorted(row.teams() - set(self.teams))
            if unknown:
                raise ValueError(f"raci.{activity} names team(s) not under support.teams: {', '.join(unknown)}")
        unknown = sorted(set(self.escalation.bridge_teams) - set(self.teams)) if self.teams else []
        if unknown:
            raise ValueError(f"escalation.bridge_teams names unknown team(s): {', '.join(unknown)}")
        return self

    def row(self, activity: str) -> RaciRow | None:
        return self.raci.get(activity)  # type: ignore[call-overload]

    def target(self, priority: str) -> SlaTarget:
        return self.sla.get(priority) or _default_targets()[priority]  # type: ignore[index,call-overload]
