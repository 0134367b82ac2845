"""Secret references in configuration: the config names where a secret lives (env var or file), never the value."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class SecretRef(BaseModel):
    """`{"secret_env": "NAME"}` or `{"secret_file": "/run/secrets/x"}`; resolved when used, not at start-up."""

    model_config = ConfigDict(extra="forbid")

    secret_env: str | None = None
    secret_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if bool(self.secret_env) == bool(self.secret_file):
            raise ValueError("give exactly one of secret_env or secret_file")
        return self

    def describe(self) -> str:
        return f"environment variable {self.secret_env}" if self.secret_env else f"file {self.secret_file}"

    def resolve(self) -> SecretStr | None:
        """The secret, or None when its source is missing or empty."""
        if self.secret_env:
            value = os.environ.get(self.secret_env, "")
        else:
            path = Path(self.secret_file or "")
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError:
                return None
        return SecretStr(value) if value else None
