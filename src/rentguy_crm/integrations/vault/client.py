"""Reads and writes `vault:path#key` references through Vault's KV v2 engine with the hvac client.

Contract (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2): `GET /v1/<mount>/data/<path>` answers
`{"data": {"data": {<key>: <value>}, "metadata": {"version": n}}}`; `POST` of `{"options": {"cas": n}, "data": …}`
writes a new version. Auth is a token (`X-Vault-Token`) or AppRole (`POST /v1/auth/approle/login`,
https://developer.hashicorp.com/vault/api-docs/auth/approle). A read secret is reused for `CRM_VAULT_CACHE_SECONDS`;
`invalidate(ref)` forgets it at once (a provider answered `invalid_client`: the secret was rotated).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import hvac
import requests
import structlog
from hvac import exceptions as vault_errors
from pydantic import SecretStr

from rentguy_crm.config import Settings
from rentguy_crm.errors import ServiceUnavailable
from rentguy_crm.kit import clock, secrets
from rentguy_crm.kit.secrets import SecretUnavailable, VaultReference

log = structlog.get_logger(__name__)

FAILURE_MEMORY = dt.timedelta(seconds=10)


class SecretStoreUnavailable(ServiceUnavailable, SecretUnavailable):
    """A `vault:` reference that could not be read or written: Vault unreachable, sealed, refusing (403) or without
    the secret (404). The message names the reference and what to do, never a value. HTTP 503 when it reaches a
    route; a `SecretUnavailable` for code that already handles missing secrets."""

    code, title = "secret-unavailable", "Secret unavailable"

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"secret {reference}: {reason}")
        self.reference = reference
        self.reason = reason


def _reason(exc: Exception, ref: VaultReference, mount: str) -> str:
    if isinstance(exc, vault_errors.VaultDown):
        return "Vault is sealed or in maintenance (503); unseal it or ask the platform team, then retry"
    if isinstance(exc, vault_errors.Forbidden | vault_errors.Unauthorized):
        return (f"Vault refused access to {mount}/data/{ref.path} (permission denied); check the token or AppRole "
                "policy (read on that path)")
    if isinstance(exc, vault_errors.InvalidPath):
        return f"Vault has no secret at {mount}/data/{ref.path}; write it with: crm secrets put {ref}"
    if isinstance(exc, requests.exceptions.Timeout):
        return "Vault did not answer in time; check CRM_VAULT_ADDR and the network"
    if isinstance(exc, requests.exceptions.RequestException):
        return "Vault is unreachable at CRM_VAULT_ADDR; check the address and the network"
    return f"Vault answered with an error ({type(exc).__name__})"


class VaultSecretStore:
    """`kit.secrets` backend for the `vault` scheme. Thread-safe; one per process (see `install`)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.vault_addr:
            raise ValueError("CRM_VAULT_ADDR is not set")
        self.settings = settings
        self.mount = settings.vault_mount
        self.ttl = dt.timedelta(seconds=settings.vault_cache_seconds)
        self._client: hvac.Client | None = None
        self._cache: dict[str, tuple[dt.datetime, dict[str, Any]]] = {}
        # A failed read is remembered briefly, so a feature called often while Vault is down fails at once
        # instead of waiting for the timeout every time.
        self._failures: dict[str, tuple[dt.datetime, SecretStoreUnavailable]] = {}
        self._lock = threading.Lock()

    # -- auth ---------------------------------------------------------------------------------------------------

    @property
    def _token(self) -> str | None:
        """The configured token; an empty `CRM_VAULT_TOKEN=` line counts as none (AppRole is used)."""
        token = self.settings.vault_token
        return (token.get_secret_value().strip() if token is not None else "") or None

    def _new_client(self, ref: VaultReference) -> hvac.Client:
        s = self.settings
        token = self._token
        client = hvac.Client(url=s.vault_addr, token=token, namespace=s.vault_namespace or None,
                             timeout=s.vault_timeout_seconds)
        if token is None:
            if not (s.vault_role_id and s.vault_secret_id and s.vault_secret_id.get_secret_value().strip()):
                raise SecretStoreUnavailable(str(ref), "Vault auth is not configured: set CRM_VAULT_TOKEN, or "
                                                       "CRM_VAULT_ROLE_ID and CRM_VAULT_SECRET_ID for AppRole")
            client.auth.approle.login(role_id=s.vault_role_id, secret_id=s.vault_secret_id.get_secret_value(),
                                      mount_point=s.vault_approle_mount)
        return client

    def _call(self, ref: VaultReference, action: Any) -> Any:
        """Run `action(client)`; with AppRole a refused token (expired) logs in again once."""
        for attempt in (1, 2):
            try:
                if self._client is None:
                    self._client = self._new_client(ref)
                return action(self._client)
            except (vault_errors.Forbidden, vault_errors.Unauthorized) as exc:
                self._client = None
                if attempt == 2 or self._token is not None:
                    raise SecretStoreUnavailable(str(ref), _reason(exc, ref, self.mount)) from None
            except (vault_errors.VaultError, requests.exceptions.RequestException) as exc:
                self._client = None
                log.warning("vault_request_failed", reference=str(ref), error=type(exc).__name__)
                raise SecretStoreUnavailable(str(ref), _reason(exc, ref, self.mount)) from None
        raise AssertionError("unreachable")

    # -- read -----------------------------------------------------------------------------------------------------

    def _read(self, ref: VaultReference) -> dict[str, Any]:
        response = self._call(ref, lambda c: c.secrets.kv.v2.read_secret_version(
            path=ref.path, mount_point=self.mount, raise_on_deleted_version=True))
        data = ((response or {}).get("data") or {}).get("data")
        return dict(data) if isinstance(data, dict) else {}

    def resolve(self, reference: str) -> SecretStr:
        """The value of `vault:path#key`, from the cache while it is fresh. Raises SecretStoreUnavailable."""
        ref = secrets.parse_vault(reference)
        now = clock.now()
        with self._lock:
            cached = self._cache.get(ref.path)
            failed = self._failures.get(ref.path)
            if cached is not None and cached[0] > now:
                data = cached[1]
            elif failed is not None and failed[0] > now:
                raise SecretStoreUnavailable(reference, failed[1].reason)
            else:
                try:
                    data = self._read(ref)
                except SecretStoreUnavailable as exc:
                    self._failures[ref.path] = (now + min(self.ttl, FAILURE_MEMORY), exc)
                    raise
                self._failures.pop(ref.path, None)
                self._cache[ref.path] = (now + self.ttl, data)
        value = data.get(ref.key)
        if not isinstance(value, str) or not value.strip():
            raise SecretStoreUnavailable(reference, f"the Vault secret {self.mount}/data/{ref.path} has no "
                                                    f"non-empty field '{ref.key}'")
        return SecretStr(value.strip())

    def invalidate(self, reference: str | None = None) -> None:
        with self._lock:
            if reference is None:
                self._cache.clear()
                self._failures.clear()
            else:
                path = secrets.parse_vault(reference).path
                self._cache.pop(path, None)
                self._failures.pop(path, None)

    # -- write ----------------------------------------------------------------------------------------------------

    def put(self, reference: str, value: SecretStr) -> int:
        """Set field `key` of the secret at `path`, keeping its other fields; returns the new version.

        Check-and-set on the version read, so a concurrent writer is refused rather than overwritten."""
        ref = secrets.parse_vault(reference)
        with self._lock:
            def read(c: hvac.Client) -> tuple[dict[str, Any], int]:
                try:
                    response = c.secrets.kv.v2.read_secret_version(path=ref.path, mount_point=self.mount,
                                                                   raise_on_deleted_version=False)
                except vault_errors.InvalidPath:
                    return {}, 0
                body = response.get("data") or {}
                return dict(body.get("data") or {}), int((body.get("metadata") or {}).get("version") or 0)

            data, version = self._call(ref, read)
            data[ref.key] = value.get_secret_value()
            written = self._call(ref, lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=ref.path, secret=data, cas=version, mount_point=self.mount))
            self._cache.pop(ref.path, None)
            self._failures.pop(ref.path, None)
        log.info("vault_secret_written", reference=str(ref))
        return int(((written or {}).get("data") or {}).get("version") or version + 1)


def install(settings: Settings) -> VaultSecretStore | None:
    """Register Vault as the reader of `vault:` references when CRM_VAULT_ADDR is set (called at start-up by the
    CLI and the app). Connects lazily: the suite starts without Vault."""
    if not settings.vault_addr:
        secrets.register_backend("vault", None)
        return None
    store = VaultSecretStore(settings)
    secrets.register_backend("vault", store)
    return store


def store(reference: str = "vault:") -> VaultSecretStore:
    """The registered store, for writing `reference` (`crm secrets put`)."""
    backend = secrets.backend("vault")
    if not isinstance(backend, VaultSecretStore):
        raise SecretStoreUnavailable(reference, "Vault is not configured: set CRM_VAULT_ADDR and CRM_VAULT_TOKEN "
                                                "(or CRM_VAULT_ROLE_ID and CRM_VAULT_SECRET_ID)")
    return backend
