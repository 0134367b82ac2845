"""Secret references: configuration names where a secret lives (`env:NAME`, `file:/path`, `vault:path#key`),
never the value. Values come back as `SecretStr`; error messages name the reference, never the value."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

REFERENCE_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+|vault:.+)$"
SecretRef = Annotated[str, Field(pattern=REFERENCE_PATTERN,
                                 description="env:NAME, file:/absolute/path or vault:path#key")]


class SecretUnavailable(ValueError):
    """A reference that cannot be resolved here; the message says which and why, without any value."""


def resolve(reference: str) -> SecretStr:
    if not re.match(REFERENCE_PATTERN, reference):
        raise SecretUnavailable("a secret must be given as a reference (env:NAME, file:/path or vault:...), "
                                "not as a literal value in the tenant config")
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if value is None or not value.strip():
            raise SecretUnavailable(f"secret {reference}: the environment variable {target} is not set")
        return SecretStr(value.strip())
    if scheme == "file":
        path = Path(target)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretUnavailable(f"secret {reference}: cannot read the file ({exc.strerror})") from None
        if not value:
            raise SecretUnavailable(f"secret {reference}: the file is empty")
        return SecretStr(value)
    raise SecretUnavailable(f"secret {reference}: the Vault secret source is not configured in this installation; "
                            "use env: or file: references for now")


class SecretSource(BaseModel):
    """A config section that needs one secret: `{"secret": "env:NAME"}`; resolved when used, not at start-up."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretRef

    def describe(self) -> str:
        return f"secret {self.secret}"

    def resolve(self) -> SecretStr | None:
        """The secret, or None when its source is missing or empty (the caller says what that means)."""
        try:
            return resolve(self.secret)
        except SecretUnavailable:
            return None
