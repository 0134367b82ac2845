"""The `reports` section of a tenant's config: who receives the weekly "Automation SLA" and the monthly retro,
and when (playbook §4, "Rapportage")."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ReportRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Shown in the To: header, e.g. Bart")
    email: EmailStr


class ReportsSettings(BaseModel):
    """Delivery of the tenant's reports. Times are wall-clock times in `timezone` (default: the tenant's own)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Send the scheduled reports (the archive and CLI work anyway)")
    recipients: list[ReportRecipient] = Field(default_factory=list,
                                              description="Bart and the operations team; empty: nothing is sent")
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        default="mon", description="Day the weekly Automation SLA of the past ISO week is sent")
    weekly_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")
    retro_time: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                            description="HH:MM on the first working day of the month")
    holiday_country: str | None = Field(default="NL", pattern=r"^[A-Z]{2}$",
                                        description="Public holidays that are not working days (ISO 3166 code); "
                                                    "null: every Monday to Friday is a working day")
    timezone: str | None = Field(default=None, description="IANA zone; default the tenant's timezone")
    language: Literal["nl", "en"] = "nl"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{value}' (use an IANA name such as Europe/Amsterdam)") from None
        return value

    @property
    def weekday_index(self) -> int:
        """Monday is 0, as `datetime.date.weekday()`."""
        return WEEKDAYS.index(self.weekly_day)

    @staticmethod
    def clock_time(value: str) -> dt.time:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
