"""Secret references: configuration names where a secret lives (`env:NAME`, `file:/path`, `vault:path#key`),
never the value. Values come back as `SecretStr`; error messages name the reference, never the value.

This module parses references and reads `env:` and `file:` itself. Other schemes (`vault:`) are read by a backend
that a higher layer registers at start-up (`register_backend`), so this module knows no vendor."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr

REFERENCE_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+|vault:.+)$"
VAULT_PATTERN = re.compile(r"^vault:(?P<path>[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*)#(?P<key>[A-Za-z0-9_.\-]+)$")


class _SecretReferenceMarker:
    """Marks a field as holding a secret reference, so `references_in` finds every one of them in a config."""

    def __repr__(self) -> str:
        return "SecretReference"


SECRET_REFERENCE = _SecretReferenceMarker()
SecretRef = Annotated[str, Field(pattern=REFERENCE_PATTERN,
                                 description="env:NAME, file:/absolute/path or vault:path#key"), SECRET_REFERENCE]


class SecretUnavailable(ValueError):
    """A reference that cannot be resolved here; the message says which and why, without any value."""


@dataclass(frozen=True, slots=True)
class VaultReference:
    """`vault:<path>#<key>`: the secret at `<path>` under the configured KV v2 mount, field `<key>` of its data."""

    path: str
    key: str

    def __str__(self) -> str:
        return f"vault:{self.path}#{self.key}"


def parse_vault(reference: str) -> VaultReference:
    """`vault:crm/mrdj/azure#client_secret` -> VaultReference("crm/mrdj/azure", "client_secret").

    Raises SecretUnavailable when the reference is not of that form (path segments of letters, digits, `_.-`)."""
    match = VAULT_PATTERN.match(reference)
    if match is None:
        raise SecretUnavailable(f"secret {reference}: a Vault reference is written vault:<path>#<key>, "
                                "e.g. vault:crm/mrdj/azure#client_secret")
    return VaultReference(match["path"], match["key"])


class SecretBackend(Protocol):
    """Reads references of one scheme. Both methods raise SecretUnavailable (or a subclass) naming the reference."""

    def resolve(self, reference: str) -> SecretStr: ...

    def invalidate(self, reference: str | None = None) -> None: ...


_backends: dict[str, SecretBackend] = {}


def register_backend(scheme: str, backend: SecretBackend | None) -> None:
    """Install (or with None remove) the reader of `scheme:` references, e.g. the Vault client for `vault`."""
    if backend is None:
        _backends.pop(scheme, None)
    else:
        _backends[scheme] = backend


def backend(scheme: str) -> SecretBackend | None:
    """The registered reader of `scheme:` references, if any."""
    return _backends.get(scheme)


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
    parse_vault(reference)
    reader = _backends.get(scheme)
    if reader is None:
        raise SecretUnavailable(f"secret {reference}: the Vault secret source is not configured in this "
                                "installation (set CRM_VAULT_ADDR and a token or AppRole; see docs/secrets.md)")
    return reader.resolve(reference)


def invalidate(reference: str | None = None) -> None:
    """Forget a cached value (all with None), e.g. after a provider answered `invalid_client`: the next `resolve`
    reads the secret store again, so a rotated secret is used without a restart. `env:`/`file:` are never cached."""
    if reference is None:
        for each in _backends.values():
            each.invalidate(None)
        return
    reader = _backends.get(reference.partition(":")[0])
    if reader is not None:
        reader.invalidate(reference)


def _marks_reference(annotation: Any) -> bool:
    if annotation is SECRET_REFERENCE:
        return True
    metadata = getattr(annotation, "__metadata__", ())
    if any(m is SECRET_REFERENCE for m in metadata):
        return True
    return any(_marks_reference(arg) for arg in get_args(annotation))


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        for key, item in value.items():
            for sub, found in _strings(item):
                yield f".{key}{sub}", found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            for sub, found in _strings(item):
                yield f".{index}{sub}", found


def references_in(model: BaseModel, prefix: str = "") -> list[tuple[str, str]]:
    """Every secret reference in a config model, as (dotted field path, reference), walking nested models, lists
    and dicts. A field counts when it is declared with `SecretRef` (alone, optional, or inside a dict or list)."""
    found: list[tuple[str, str]] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if value is None:
            continue
        if any(m is SECRET_REFERENCE for m in info.metadata) or _marks_reference(info.annotation):
            found.extend((f"{path}{sub}", ref) for sub, ref in _strings(value))
            continue
        found.extend(_models_in(value, path))
    return found


def _models_in(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, BaseModel):
        return references_in(value, f"{path}.")
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _models_in(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [hit for index, item in enumerate(value) for hit in _models_in(item, f"{path}.{index}")]
    return []


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
