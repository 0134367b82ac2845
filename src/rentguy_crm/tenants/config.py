"""The tenant provisioning document (`configs/tenants/<slug>.json`) as typed, validated settings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator

from rentguy_crm.kit.secrets import SecretRef, SecretSource
from rentguy_crm.tenants.sections.branding import Branding
from rentguy_crm.tenants.sections.calendar import CalendarSettings
from rentguy_crm.tenants.sections.channels import ChannelsConfig
from rentguy_crm.tenants.sections.privacy import PrivacySettings
from rentguy_crm.tenants.sections.reports import ReportsSettings
from rentguy_crm.tenants.sections.sso import SsoSettings
from rentguy_crm.tenants.sections.support import SupportSettings

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
KEY = re.compile(r"^[a-z0-9_]{1,64}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(Strict):
    role: str
    name: str
    email: EmailStr


class Stage(Strict):
    key: str = Field(pattern=KEY.pattern)
    name: str
    automation_flow: str | None = None
    outcome: Literal["won", "lost"] | None = None


class PipelineConfig(Strict):
    key: str = Field(pattern=KEY.pattern)
    name: str
    vertical: str
    event_types: list[str] = Field(default_factory=list)
    stages: list[Stage] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _unique_stage_keys(cls, stages: list[Stage]) -> list[Stage]:
        keys = [s.key for s in stages]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"stage keys must be unique within a pipeline; repeated: {', '.join(dupes)}")
        return stages


class AssignmentRule(Strict):
    event_types: list[str] = Field(min_length=1)
    priority: Literal["low", "normal", "medium", "high"]
    team: str
    pipeline: str | None = None


class Assignment(Strict):
    rules: list[AssignmentRule] = Field(default_factory=list)
    default: AssignmentRule = AssignmentRule(event_types=["*"], priority="normal", team="general")

    def for_event_type(self, event_type: str | None) -> AssignmentRule:
        for rule in self.rules:
            if event_type in rule.event_types:
                return rule
        return self.default


CAPTCHA_VERIFY_URLS = {
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}


class CaptchaSettings(SecretSource):
    """Which siteverify service checks `captcha_token`, and what to do when it cannot be reached."""

    provider: Literal["hcaptcha", "turnstile", "recaptcha"]
    policy: Literal["fail_open", "fail_closed"] = "fail_open"
    verify_url: str | None = None  # only to point at a local fake or a proxy
    timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    @property
    def url(self) -> str:
        return self.verify_url or CAPTCHA_VERIFY_URLS[self.provider]


class TypeformSettings(SecretSource):
    """The fallback form: webhook secret reference and the mapping of Typeform field `ref`s to lead fields."""

    fields: dict[str, str] = Field(default_factory=dict)
    source: str = "typeform"


class IntakeSettings(Strict):
    allowed_origins: list[str] = Field(default_factory=list)
    double_click_window_seconds: int = Field(default=600, ge=0, le=86400)
    consent_text_version: str | None = None
    captcha: CaptchaSettings | None = None
    typeform: TypeformSettings | None = None


class RateLimitProfileLimits(Strict):
    """Limits in the `limits` notation, e.g. "10/5 minutes"; several separated by ';'."""

    per_ip: str
    per_tenant: str


class RateLimitSettings(Strict):
    default_profile: Literal["strict", "standard", "relaxed"] = "standard"
    profiles: dict[Literal["strict", "standard", "relaxed"], RateLimitProfileLimits] = Field(default_factory=dict)


class Monitoring(Strict):
    """Operations alerting of the tenant (observability): where the suite's own watchdog posts."""

    watchdog: bool = Field(default=True, description="Check workflow failure rates every minute without Prometheus")
    alerting: Literal["auto", "watchdog", "alertmanager"] = Field(
        default="auto",
        description="Who posts failure-rate alerts to the ops channel, so each incident gives one message: "
                    "'alertmanager' (Prometheus watches; the watchdog stands down), 'watchdog' (no Prometheus), or "
                    "'auto' (the watchdog stands down while Alertmanager's webhooks reach the suite, e.g. the "
                    "CrmAlertingHeartbeat every 5 minutes, and takes over when they stop)")
    ops_channel: str = Field(default="#ops", description="Slack channel of the tenant's operations team")
    slack_webhook_url: SecretRef | None = Field(
        default=None, description="Secret reference (env:NAME or file:/path) to the ops channel's incoming webhook, "
                                  "used when the tenant has no channels.slack section")


class MollieSettings(Strict):
    """Mollie payments: the API key the payment webhook fetches payments with (a secret reference, resolved when a
    webhook arrives, so a missing key answers that webhook with a clear 503 and never stops the suite starting) and
    the `metadata` field of a payment that names the deal it pays."""

    api_key: SecretRef = Field(description="Secret reference (env:NAME or file:/path) to the live_ or test_ API key")
    api_endpoint: str | None = Field(default=None, description="Only to point at a local fake or a proxy")
    deal_metadata_field: str = Field(default="deal_id", pattern=KEY.pattern,
                                     description='Payment metadata field holding the deal id, e.g. {"deal_id": 42}')
    timeout_seconds: float = Field(default=10, gt=0, le=12)


class PaymentSettings(Strict):
    mollie: MollieSettings | None = None


class TemplateSharing(Strict):
    """Which other tenants may clone this tenant's live templates (`crm templates clone --from-tenant`)."""

    shareable_with: list[str] = Field(default_factory=list, description="Tenant slugs allowed to clone from us")

    @field_validator("shareable_with")
    @classmethod
    def _slugs(cls, slugs: list[str]) -> list[str]:
        bad = [s for s in slugs if not SLUG.match(s)]
        if bad:
            raise ValueError(f"shareable_with lists tenant slugs; not valid: {', '.join(bad)}")
        return slugs


class TenantConfig(Strict):
    """What `crm tenants provision` applies. Sections owned by later features are kept as given."""

    slug: str = Field(pattern=SLUG.pattern)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    timezone: str = "Europe/Amsterdam"
    locale: Literal["nl", "en"] = "nl"
    languages: list[Literal["nl", "en"]] = Field(default_factory=lambda: ["nl", "en"])  # type: ignore[arg-type]
    branding: Branding = Field(default_factory=Branding)  # name, logo, colours of the web app and messages
    contacts: list[Contact] = Field(default_factory=list)
    pipelines: list[PipelineConfig] = Field(min_length=1)
    assignment: Assignment = Assignment()
    rate_limit: RateLimitSettings = RateLimitSettings()
    intake: IntakeSettings = IntakeSettings()
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)  # delivery channels; see docs/templates.md
    integrations: dict[str, Any] = Field(default_factory=dict)
    sso: SsoSettings | None = None  # staff single sign-on; see docs/identity.md
    monitoring: Monitoring = Monitoring()
    payments: PaymentSettings = PaymentSettings()
    templates: TemplateSharing = TemplateSharing()
    calendar: CalendarSettings = CalendarSettings()  # shared Outlook calendar of gigs; see docs/calendar.md
    privacy: PrivacySettings = PrivacySettings()
    support: SupportSettings = Field(default_factory=SupportSettings)  # tickets, RACI, SLA: docs/support.md
    reports: ReportsSettings | None = None  # weekly Automation SLA and monthly retro; see docs/reports.md

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{value}' (use an IANA name such as Europe/Amsterdam)") from None
        return value

    @field_validator("aliases")
    @classmethod
    def _alias_format(cls, aliases: list[str]) -> list[str]:
        bad = [a for a in aliases if not SLUG.match(a)]
        if bad:
            raise ValueError(f"aliases must be lower-case slugs; not valid: {', '.join(bad)}")
        return aliases

    @model_validator(mode="after")
    def _cross_checks(self) -> TenantConfig:
        keys = [p.key for p in self.pipelines]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"pipeline keys must be unique; repeated: {', '.join(dupes)}")
        for rule in [*self.assignment.rules, self.assignment.default]:
            if rule.pipeline and rule.pipeline not in keys:
                raise ValueError(f"assignment rule names pipeline '{rule.pipeline}', which is not defined")
        stage_keys = {stage.key for pipeline in self.pipelines for stage in pipeline.stages}
        unknown = [key for key in self.calendar.stages if key not in stage_keys]
        if self.calendar.enabled and unknown:
            raise ValueError(f"calendar.stages names stage(s) no pipeline has: {', '.join(unknown)}")
        if self.slug in self.aliases:
            raise ValueError("an alias must differ from the slug")
        return self

    def contact(self, role: str) -> Contact | None:
        return next((c for c in self.contacts if c.role == role), None)

    def pipeline_for_event_type(self, event_type: str | None) -> PipelineConfig:
        for pipeline in self.pipelines:
            if event_type and event_type in pipeline.event_types:
                return pipeline
        general = next((p for p in self.pipelines if "*" in p.event_types), None)
        return general or self.pipelines[0]


class TenantConfigError(ValueError):
    """A provisioning file with a mistake: names the file, the field and the problem."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}: {field}: {message}" for field, message in problems)
        super().__init__(f"{path} has {len(problems)} problem(s):\n{lines}")


def parse_config(raw: dict[str, Any], source: str = "<config>") -> TenantConfig:
    try:
        return TenantConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in err["loc"]) or "(top level)", err["msg"]) for err in exc.errors()]
        raise TenantConfigError(source, problems) from None


def load_config(path: Path | str) -> TenantConfig:
    path = Path(path)
    if not path.exists():
        raise TenantConfigError(str(path), [("(file)", "file not found")])
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TenantConfigError(str(path), [(f"line {exc.lineno} column {exc.colno}", exc.msg)]) from None
    if not isinstance(raw, dict):
        raise TenantConfigError(str(path), [("(top level)", "must be a JSON object")])
    return parse_config(raw, str(path))
