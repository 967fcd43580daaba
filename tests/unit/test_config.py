"""Configuration layering: defaults → TOML file → environment → command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contact_center.config import ConfigError, load_settings


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cc.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_give_an_embedded_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(environ={"CC_GENERAL_DATA_DIR": str(tmp_path)})

    assert f"sqlite+aiosqlite:///{tmp_path.resolve()}/contact_center.sqlite3" == (
        settings.database_url
    )
    assert ("RU", 5038, False) == (
        settings.general.default_region,
        settings.ami.port,
        settings.web.secure_cookies,
    )


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
[general]
default_region = "GB"
default_area_code = "20"
lookup_suffix_digits = 7
[database]
url = "postgresql+asyncpg://from-file/db"
[ami]
port = 5039
""",
    )
    environ = {
        "CC_DATABASE_URL": "postgresql+asyncpg://from-env/db",
        "CC_GENERAL_LOOKUP_SUFFIX_DIGITS": "9",
        "CC_WEB_SECURE_COOKIES": "yes",
    }
    overrides = {"general": {"lookup_suffix_digits": 10, "default_area_code": None}}

    settings = load_settings(path, environ=environ, overrides=overrides)

    assert {
        "region (file)": "GB",
        "area code (file; a None override is ignored)": "20",
        "suffix digits (command line over env over file)": 10,
        "database (env over file)": "postgresql+asyncpg://from-env/db",
        "ami port (file, as int)": 5039,
        "secure cookies (env, as bool)": True,
    } == {
        "region (file)": settings.general.default_region,
        "area code (file; a None override is ignored)": settings.general.default_area_code,
        "suffix digits (command line over env over file)": settings.general.lookup_suffix_digits,
        "database (env over file)": settings.database_url,
        "ami port (file, as int)": settings.ami.port,
        "secure cookies (env, as bool)": settings.web.secure_cookies,
    }


def test_config_file_named_by_environment_and_secrets_from_files(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[ami]\nusername = "monitor"\n')
    secret = tmp_path / "ami_secret"
    secret.write_text("s3cret\n", encoding="utf-8")

    settings = load_settings(environ={"CC_CONFIG": str(path), "CC_AMI_SECRET_FILE": str(secret)})

    assert ("monitor", "s3cret") == (settings.ami.username, settings.ami.secret)
    assert "***" == settings.redacted()["ami"]["secret"]


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.general.default_region = "US"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        ("[nope]\nx = 1\n", {}, r"cc\.toml: unknown section \[nope\]"),
        ("[general]\nregion = 'RU'\n", {}, r"cc\.toml: unknown key general\.region"),
        ("general = 3\n", {}, r"cc\.toml: \[general\] must be a table"),
        ("[general\n", {}, r"cc\.toml: "),
        ("", {"CC_AMI_PORT": "fifty"}, r"ami\.port: expected an integer, got 'fifty'"),
        ("", {"CC_WEB_SECURE_COOKIES": "maybe"}, r"web\.secure_cookies: expected a boolean"),
        ("", {"CC_AMI_PING_INTERVAL": "often"}, r"ami\.ping_interval: expected a number"),
        ("[ami]\nport = 50.5\n", {}, r"ami\.port: expected an integer, got 50\.5"),
        ("[ami]\nport = true\n", {}, r"ami\.port: expected an integer, got True"),
        ("", {"CC_AMI_SECRET_FILE": "/nonexistent/secret"}, r"CC_AMI_SECRET_FILE: "),
    ],
)
def test_bad_values_give_errors_naming_the_setting(
    tmp_path: Path, toml: str, environ: dict[str, str], message: str
) -> None:
    path = write_toml(tmp_path, toml)

    with pytest.raises(ConfigError, match=message):
        load_settings(path, environ=environ)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_unknown_command_line_override_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"command line: unknown key web\.colour"):
        load_settings(environ={}, overrides={"web": {"colour": "blue"}})
