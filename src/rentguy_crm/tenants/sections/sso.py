"""The `sso` section of a tenant config: the tenant's OpenID Connect provider (Microsoft Entra ID or another
OIDC provider), its client registration and how provider groups or app roles become our roles.

Entra v2 endpoints: https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rentguy_crm.kit.secrets import SecretRef

# Our roles (auth.permissions.ROLES); repeated here because this layer may not import auth.
ROLE_NAMES = ("sales", "operations", "engineering", "support", "admin")
Role = Literal["sales", "operations", "engineering", "support", "admin"]
ENTRA_AUTHORITY = "https://login.microsoftonline.com"


class SsoSettings(BaseModel):
    """One OIDC client registration per tenant. The client secret is a secret reference, never a value."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["entra", "oidc"] = Field(default="entra", description="'entra' (Microsoft Entra ID v2) or "
                                                                           "any OpenID Connect provider ('oidc')")
    directory_id: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Entra directory (tenant) id; also the value the tenant claim must carry")
    issuer: str | None = Field(default=None, description="Issuer URL for provider 'oidc' (discovery is read from "
                                                        "<issuer>/.well-known/openid-configuration)")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretRef = Field(description="Secret reference: env:NAME, file:/path or vault:path#key")
    redirect_uri: str = Field(pattern=r"^https?://[^\s]+$", description="The callback registered at the provider: "
                                                                       "<base URL>/api/v1/auth/sso/callback")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    tenant_claim: str = Field(default="tid", min_length=1,
                              description="ID token claim naming the person's directory; must equal directory_id")
    group_roles: dict[str, list[Role]] = Field(
        default_factory=dict, description="Provider group object id -> our roles")
    app_roles: dict[str, list[Role]] = Field(
        default_factory=dict, description="App role value (the 'roles' claim) -> our roles")
    idle_timeout_minutes: int = Field(default=10, ge=1, le=24 * 60)
    absolute_timeout_hours: int = Field(default=12, ge=1, le=7 * 24)
    end_provider_session: bool = Field(default=True, description="Sign-out also ends the provider session when "
                                                                "the provider offers an end_session_endpoint")
    break_glass_channel: str | None = Field(default=None, description="Chat channel of the security officer; "
                                                                    "break-glass sign-in links are announced there")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, scopes: list[str]) -> list[str]:
        if "openid" not in scopes:
            raise ValueError("scopes must include 'openid'")
        return scopes

    @model_validator(mode="after")
    def _provider_fields(self) -> SsoSettings:
        if self.provider == "entra" and not self.directory_id:
            raise ValueError("provider 'entra' needs directory_id (the Entra tenant id)")
        if self.provider == "oidc" and not self.issuer:
            raise ValueError("provider 'oidc' needs issuer")
        if not self.group_roles and not self.app_roles:
            raise ValueError("give group_roles or app_roles: without a mapping nobody can sign in")
        return self

    def discovery_url(self, entra_authority: str = ENTRA_AUTHORITY) -> str:
        """Where the provider's metadata lives (OpenID Connect Discovery 1.0 §4)."""
        if self.provider == "entra":
            return f"{entra_authority.rstrip('/')}/{self.directory_id}/v2.0/.well-known/openid-configuration"
        return f"{(self.issuer or '').rstrip('/')}/.well-known/openid-configuration"

    def roles_for(self, groups: list[str], app_roles: list[str]) -> list[str]:
        """Our roles for a person's provider groups and app roles, sorted; empty when nothing is mapped."""
        granted: set[str] = set()
        for group in groups:
            granted.update(self.group_roles.get(group, []))
        for role in app_roles:
            granted.update(self.app_roles.get(role, []))
        return sorted(granted)
