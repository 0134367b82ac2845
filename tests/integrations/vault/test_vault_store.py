"""`vault:` references through the real hvac client against a fake of Vault's HTTP API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from rentguy_crm.app import create_app
from rentguy_crm.config import Settings
from rentguy_crm.errors import AppError
from rentguy_crm.integrations import vault
from rentguy_crm.kit import clock, secrets
from tests.integrations.vault.fake import VaultFake
from tests.vendor_fakes import free_port

REF = "vault:crm/mrdj/azure#client_secret"


@pytest.fixture
def fake() -> Iterator[VaultFake]:
    server = VaultFake()
    server.seed("crm/mrdj/azure", {"client_secret": "first-secret-value", "client_id": "abc"})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def now() -> Iterator[list[dt.datetime]]:
    moment = [dt.datetime(2025, 3, 15, 10, 0, tzinfo=dt.UTC)]
    clock.set_clock(lambda: moment[0])
    yield moment
    clock.set_clock(None)


def install(**settings: object) -> vault.VaultSecretStore:
    store = vault.install(Settings(**settings))  # type: ignore[arg-type]
    assert store is not None
    return store


@pytest.fixture(autouse=True)
def no_vault_afterwards() -> Iterator[None]:
    yield
    secrets.register_backend("vault", None)


def test_token_auth_reads_the_kv2_field(fake: VaultFake, now: list[dt.datetime]) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"
    assert fake.calls[0].headers["x-vault-token"] == "root-token"


def test_a_read_secret_is_reused_until_the_cache_expires(fake: VaultFake, now: list[dt.datetime]) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"), vault_cache_seconds=60)
    secrets.resolve(REF)
    secrets.resolve("vault:crm/mrdj/azure#client_id")
    assert fake.reads("crm/mrdj/azure") == 1
    now[0] += dt.timedelta(seconds=61)
    secrets.resolve(REF)
    assert fake.reads("crm/mrdj/azure") == 2


def test_invalidate_makes_a_rotated_secret_used_without_restart(fake: VaultFake, now: list[dt.datetime]) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"), vault_cache_seconds=600)
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"
    fake.seed("crm/mrdj/azure", {"client_secret": "rotated-secret-value", "client_id": "abc"})
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"  # still cached
    secrets.invalidate(REF)
    assert secrets.resolve(REF).get_secret_value() == "rotated-secret-value"


def test_approle_logs_in_and_uses_the_issued_token(fake: VaultFake, now: list[dt.datetime]) -> None:
    fake.approle["role-1"] = "secret-id-1"
    install(vault_addr=fake.url, vault_role_id="role-1", vault_secret_id=SecretStr("secret-id-1"))
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"
    login, read = fake.calls[0], fake.calls[1]
    assert login.path == "/v1/auth/approle/login"
    assert read.headers["x-vault-token"].startswith("hvs.")


def test_approle_logs_in_again_when_its_token_is_refused(fake: VaultFake, now: list[dt.datetime]) -> None:
    fake.approle["role-1"] = "secret-id-1"
    install(vault_addr=fake.url, vault_role_id="role-1", vault_secret_id=SecretStr("secret-id-1"),
            vault_cache_seconds=0)
    secrets.resolve(REF)
    fake.tokens = {"root-token"}  # the issued token expired
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"
    assert fake.count("POST", lambda p: p.endswith("/approle/login")) == 2


@pytest.mark.parametrize(("arrange", "words"), [
    (lambda f: f.denied_paths.add("crm/mrdj/azure"), "permission denied"),
    (lambda f: f.versions.pop("crm/mrdj/azure"), "crm secrets put vault:crm/mrdj/azure#client_secret"),
    (lambda f: setattr(f, "sealed", True), "sealed"),
])
def test_vault_refusals_name_the_reference_and_never_the_value(fake: VaultFake, now: list[dt.datetime],
                                                               arrange: object, words: str) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    arrange(fake)  # type: ignore[operator]
    with pytest.raises(vault.SecretStoreUnavailable) as caught:
        secrets.resolve(REF)
    message = str(caught.value)
    assert REF in message and words in message
    assert "first-secret-value" not in message
    assert isinstance(caught.value, AppError) and caught.value.status == 503


def test_unreachable_vault_is_a_clear_error(now: list[dt.datetime]) -> None:
    install(vault_addr=f"http://127.0.0.1:{free_port()}", vault_token=SecretStr("root-token"))
    with pytest.raises(secrets.SecretUnavailable, match="unreachable"):
        secrets.resolve(REF)


def test_a_missing_field_is_named(fake: VaultFake, now: list[dt.datetime]) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    with pytest.raises(vault.SecretStoreUnavailable, match="no non-empty field 'nope'"):
        secrets.resolve("vault:crm/mrdj/azure#nope")


def test_without_vault_settings_a_vault_reference_says_it_is_not_configured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert vault.install(Settings(vault_addr=None)) is None
    with pytest.raises(secrets.SecretUnavailable, match="not configured"):
        secrets.resolve(REF)
    monkeypatch.setenv("CRM_TEST_OTHER_SECRET", "from-env")
    assert secrets.resolve("env:CRM_TEST_OTHER_SECRET").get_secret_value() == "from-env"


def test_put_keeps_the_other_fields_and_writes_a_new_version(fake: VaultFake, now: list[dt.datetime]) -> None:
    store = install(vault_addr=fake.url, vault_token=SecretStr("root-token"), vault_cache_seconds=600)
    secrets.resolve(REF)
    version = store.put(REF, SecretStr("new-secret"))
    assert version == 2
    assert fake.data("crm/mrdj/azure") == {"client_secret": "new-secret", "client_id": "abc"}
    assert secrets.resolve(REF).get_secret_value() == "new-secret"


def test_put_creates_a_secret_that_did_not_exist(fake: VaultFake, now: list[dt.datetime]) -> None:
    store = install(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    assert store.put("vault:crm/mrdj/graph#client_secret", SecretStr("s3")) == 1
    assert fake.data("crm/mrdj/graph") == {"client_secret": "s3"}


def test_a_malformed_vault_reference_is_refused_before_any_request(fake: VaultFake) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    with pytest.raises(secrets.SecretUnavailable, match="vault:<path>#<key>"):
        secrets.resolve("vault:no-key-here")
    assert fake.calls == []


def test_a_failed_read_is_remembered_briefly_then_tried_again(fake: VaultFake, now: list[dt.datetime]) -> None:
    install(vault_addr=fake.url, vault_token=SecretStr("root-token"), vault_cache_seconds=60)
    fake.sealed = True
    for _ in range(3):
        with pytest.raises(vault.SecretStoreUnavailable, match="sealed"):
            secrets.resolve(REF)
    assert len(fake.calls) == 1
    fake.sealed = False
    now[0] += dt.timedelta(seconds=11)
    assert secrets.resolve(REF).get_secret_value() == "first-secret-value"


def test_the_suite_starts_without_asking_vault(fake: VaultFake) -> None:
    fake.sealed = True
    settings = Settings(vault_addr=fake.url, vault_token=SecretStr("root-token"))
    create_app(settings)  # registers the Vault reader; nothing is read until a feature needs a secret
    assert isinstance(secrets.backend("vault"), vault.VaultSecretStore)
    assert fake.calls == []
