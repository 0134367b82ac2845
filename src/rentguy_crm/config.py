"""One settings object for the whole suite, read from `CRM_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rentguy_crm.kit.clock import clock_file_allowed

# Only development mode may run with this; anything else must be given a real secret.
DEV_SECRET = "dev-insecure-secret-change-me"

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class InsecureSettingsError(RuntimeError):
    """Raised when a non-development environment is started with a default or empty secret.

    Not a ValueError on purpose: pydantic would fold that into a ValidationError and the clear message
    (and the CLI's exit code 2) would be lost in a traceback.
    """


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=None, extra="ignore")

    env: Literal["dev", "test", "staging", "prod"] = "dev"
    # Empty: the embedded default, a SQLite file in the var dir (`<CRM_VAR_DIR>/crm.db`).
    database_url: str = ""
    # Postgres connections each process keeps open, and how many more it may open for a burst. Connections above
    # the pool size are closed when handed back, so a burst that outlasts them opens and closes one per request
    # (bench/README.md, "Where the time goes"): size the pool for the concurrency a process really sees.
    # 20 + 10: at most 30 per process as before (two API processes and the workers: 90 < max_connections 100),
    # but 20 of them kept instead of 10.
    database_pool_size: int = Field(default=20, ge=1, le=500)
    database_max_overflow: int = Field(default=10, ge=0, le=500)
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, description="Largest request body any route accepts")
    ratelimit_storage_url: str = "memory://"
    trusted_proxies: list[str] = Field(default_factory=list)
    var_dir: Path = PROJECT_ROOT / "var"
    tenants_dir: Path = PROJECT_ROOT / "configs" / "tenants"
    sso_entra_authority: str = Field(default="https://login.microsoftonline.com",
                                     description="Where Entra ID discovery is read; tests point it at a local provider")
    sso_graph_base_url: str = Field(default="https://graph.microsoft.com",
                                    description="Microsoft Graph, read for group overage; tests point it at a fake")
    clock_file: Path | None = Field(default=None, description="Tests only: read 'now' from this file (kit.clock)")
    # HashiCorp Vault for `vault:path#key` secret references (docs/secrets.md). Unset: such references fail with a
    # clear message on the feature that needs them; nothing else is affected.
    vault_addr: str | None = Field(default=None, description="e.g. https://vault.rentguy.nl:8200")
    vault_token: SecretStr | None = Field(default=None, description="Token auth; or AppRole with the two below")
    vault_role_id: str | None = None
    vault_secret_id: SecretStr | None = None
    vault_approle_mount: str = "approle"
    vault_mount: str = Field(default="secret", description="Mount point of the KV version 2 engine")
    vault_namespace: str | None = Field(default=None, description="Vault Enterprise / HCP namespace")
    vault_cache_seconds: float = Field(default=60, ge=0, le=3600, description="How long a read secret is reused")
    vault_timeout_seconds: float = Field(default=5, gt=0, le=60)

    @model_validator(mode="after")
    def _embedded_database_in_the_var_dir(self) -> Settings:
        if not self.database_url.strip():
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir.resolve() / 'crm.db'}"
        return self

    @model_validator(mode="after")
    def _refuse_clock_file_outside_tests(self) -> Settings:
        if self.clock_file is not None and not clock_file_allowed(self.env):
            raise InsecureSettingsError(
                f"CRM_CLOCK_FILE moves the clock for tests and is refused when CRM_ENV={self.env}; "
                "unset CRM_CLOCK_FILE (it is accepted only with CRM_ENV=dev or test).")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "dev":
            return self
        secret = self.secret_key.get_secret_value()
        if not secret.strip() or secret == DEV_SECRET:
            raise InsecureSettingsError(
                f"CRM_SECRET_KEY is empty or the development default, which is refused when CRM_ENV={self.env}. "
                "Set CRM_SECRET_KEY to a long random value (for example: python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if len(secret) < 32:
            raise InsecureSettingsError("CRM_SECRET_KEY must be at least 32 characters outside development mode.")
        return self

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
