"""Production mode (issue 21, item 7): ``serve`` refuses default secrets, insecure cookies
behind a non-local bind and a public /metrics, in one line; the compose file passes it and
starts nothing without its secrets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contact_center.config import load_settings, production_problems

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_on_a_public_bind_name_every_problem() -> None:
    settings = load_settings(environ={"CC_WEB_HOST": "0.0.0.0"})
    assert [
        "the AMI secret is empty (set CC_AMI_SECRET)",
        "session cookies are not Secure while the web binds 0.0.0.0"
        " (set CC_WEB_SECURE_COOKIES=true behind TLS)",
        "/metrics would be public on 0.0.0.0 (set CC_WEB_METRICS_TOKEN)",
    ] == production_problems(settings, "all")
    # each role is held to what it runs: the web role holds no AMI secret
    assert 2 == len(production_problems(settings, "web"))
    assert 2 == len(production_problems(settings, "connector"))


def test_a_well_known_secret_is_no_secret() -> None:
    settings = load_settings(environ={"CC_AMI_SECRET": "Change-Me"})
    assert ["the AMI secret is a well-known default (set CC_AMI_SECRET)"] == (
        production_problems(settings, "connector")
    )


def test_a_local_bind_with_a_real_secret_is_fine() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        env = {"CC_WEB_HOST": host, "CC_AMI_SECRET": "a-real-secret"}
        assert [] == production_problems(load_settings(environ=env), "all")


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("service", ["web", "connector", "worker"])
def test_the_compose_deployment_passes_production_mode(service: str) -> None:
    compose = _compose()
    env = compose["services"][service]["environment"]
    resolved = {k: re.sub(r"\$\{[^}]+\}", "a-real-value", str(v)) for k, v in env.items()}
    role = compose["services"][service]["command"][-1]
    assert [] == production_problems(load_settings(environ=resolved), role)


def test_compose_requires_every_secret_and_has_no_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"\$\{(\w*(?:SECRET|PASSWORD|TOKEN)\w*)([^}]*)\}", text)
    assert {"AMI_SECRET", "POSTGRES_PASSWORD", "OPERATOR_PHONE_SECRET", "CC_WEB_METRICS_TOKEN"} == {
        name for name, _ in secrets
    }
    assert all(rest.startswith(":?") for _, rest in secrets), secrets
    assert "CC_WEB_SECRET_KEY" not in text  # read by nothing: not asked for


def test_serve_refuses_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")} | {
        "CC_WEB_HOST": "0.0.0.0",
        "CC_AMI_SECRET": "change-me",
    }
    done = subprocess.run(
        [sys.executable, "-m", "contact_center.cli", "serve", "--role", "connector"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert 2 == done.returncode
    assert (
        "serve: refusing to start in production mode: the AMI secret is a well-known default"
        " (set CC_AMI_SECRET); /metrics would be public on 0.0.0.0 (set CC_WEB_METRICS_TOKEN)"
        " (or run `serve --development` on a trusted machine)\n"
    ) == done.stderr
    assert "Traceback" not in done.stdout


def test_serve_explains_a_bad_setting_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")} | {
        "CC_WEB_PORT": "eighty"
    }
    done = subprocess.run(
        [sys.executable, "-m", "contact_center.cli", "serve"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (2, "serve: environment CC_WEB_PORT: web.port: expected an integer, got 'eighty'\n") == (
        done.returncode,
        done.stderr,
    )
