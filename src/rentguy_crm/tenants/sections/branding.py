"""The `branding` section of a tenant's config: the name, logo and colours its staff web app and messages show."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

COLOUR = r"^#[0-9a-fA-F]{6}$"


class Branding(BaseModel):
    """Optional; a tenant without it gets the suite's own look. Colours are `#rrggbb`."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=100,
                                     description="Name in the web app's header; default the tenant's name")
    primary_color: str = Field(default="#1F4E79", pattern=COLOUR, description="Header, links and buttons")
    secondary_color: str | None = Field(default=None, pattern=COLOUR, description="Accents; default the primary")
    logo_url: str | None = Field(default=None, max_length=2000,
                                 description="Logo for messages (any https URL) and the web app (a path on this "
                                             "site, e.g. /static/app/logo.svg: pages load nothing from elsewhere)")
    website: str | None = None

    @field_validator("logo_url")
    @classmethod
    def _no_script(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://", "/")):
            raise ValueError("logo_url must be an http(s) URL or a path on this site starting with '/'")
        return value

    @property
    def accent_color(self) -> str:
        return self.secondary_color or self.primary_color

    @property
    def web_logo(self) -> str | None:
        """The logo the web app may show under its Content-Security-Policy (img-src 'self')."""
        if self.logo_url and self.logo_url.startswith("/") and not self.logo_url.startswith("//"):
            return self.logo_url
        return None


def branding_of(config: dict[str, object] | None) -> Branding:
    """A provisioned tenant's branding (its stored config), with the defaults for what it leaves out."""
    raw = (config or {}).get("branding")
    return Branding.model_validate(raw) if isinstance(raw, dict) else Branding()
