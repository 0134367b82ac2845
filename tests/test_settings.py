"""Settings: outside dev, a default or empty secret is refused with a clear message, also by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rentguy_crm.cli import app as cli
from rentguy_crm.config import DEV_SECRET, InsecureSettingsError, Settings, reset_settings_cache


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings are cached per process; drop the cache around tests that change the environment."""
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.mark.parametrize("env", ["test", "staging", "prod"])
@pytest.mark.parametrize("secret", ["", "   ", DEV_SECRET])
def test_default_or_empty_secret_is_refused_outside_development(env: str, secret: str) -> None:
    with pytest.raises(InsecureSettingsError, match=f"CRM_SECRET_KEY .* refused when CRM_ENV={env}"):
        Settings(env=env, secret_key=secret)  # type: ignore[arg-type]


def test_short_secret_is_refused_outside_development() -> None:
    with pytest.raises(InsecureSettingsError, match="at least 32 characters"):
        Settings(env="prod", secret_key="short")  # type: ignore[arg-type]


def test_development_mode_runs_with_the_default_secret() -> None:
    assert Settings(env="dev", secret_key=DEV_SECRET).secret_key.get_secret_value() == DEV_SECRET  # type: ignore[arg-type]


def test_production_with_a_real_secret_is_accepted() -> None:
    assert Settings(env="prod", secret_key="x" * 48).env == "prod"  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", DEV_SECRET])
def test_cli_exits_2_with_the_message(fresh_settings: None, monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.setenv("CRM_SECRET_KEY", secret)
    result = CliRunner().invoke(cli, ["tenants", "list"])
    assert result.exit_code == 2
    assert "CRM_SECRET_KEY" in result.output
    assert "CRM_ENV=prod" in " ".join(result.output.split())


def test_the_embedded_database_lives_in_the_var_dir(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url="")
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'crm.db'}"


def test_a_given_database_url_is_kept(tmp_path: Path) -> None:
    url = "postgresql+psycopg://crm@127.0.0.1:5432/crm"
    assert Settings(var_dir=tmp_path, database_url=url).database_url == url


def test_the_embedded_databases_folder_is_made_when_missing(tmp_path: Path) -> None:
    from rentguy_crm.db import resolve_database_url

    url = Settings(var_dir=tmp_path / "new" / "var", database_url="").database_url
    assert resolve_database_url(url) == url
    assert (tmp_path / "new" / "var").is_dir()
