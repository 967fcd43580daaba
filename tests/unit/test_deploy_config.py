"""docker-compose.yml and deploy/asterisk/*.conf agree with each other and with our settings.

No Docker engine runs here, so the compose file is checked by parsing it: the ports, AMI
user and rights, FastAGI address, recording spool and durable-record paths must line up, or a
real deployment would fail in ways no unit test would notice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from contact_center.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
ASTERISK = ROOT / "deploy" / "asterisk"


def parse_asterisk_conf(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of an Asterisk .conf file as ordered (key, value) pairs; comments dropped."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^\[([^\]]+)\](\(.*\))?$", line)
        if m:
            current = m.group(1)
            sections.setdefault(current, [])
            continue
        m = re.match(r"^([^=]+?)\s*=>?\s*(.*)$", line)
        assert m, f"{path.name}: unparsable line {raw!r}"
        sections.setdefault(current, []).append((m.group(1).strip(), m.group(2).strip()))
    return sections


def value(section: list[tuple[str, str]], key: str) -> str:
    found = [v for k, v in section if k == key]
    assert found, f"missing {key}"
    return found[-1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def service_env(compose: dict[str, Any], name: str) -> dict[str, str]:
    env = compose["services"][name]["environment"]
    return {k: str(v) for k, v in env.items()}


def test_all_parts_of_a_real_deployment_are_present(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"asterisk", "postgres", "redis", "web", "connector", "worker"} <= set(services)
    for name, svc in services.items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, f"{name}: pin the image"
        if name != "migrate":
            assert "healthcheck" in svc, f"{name}: no health check"
    assert services["asterisk"]["image"].startswith("andrius/asterisk:22.")


def test_service_settings_load_from_the_compose_environment(compose: dict[str, Any]) -> None:
    env = service_env(compose, "connector")
    resolved = {k: re.sub(r"\$\{[^}]+\}", "x", v) for k, v in env.items()}
    settings = load_settings(environ=resolved)
    assert settings.bus.backend == "redis"
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.web.secure_cookies is True


def test_no_secret_value_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, val in (svc.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD", key):
                assert str(val).startswith("${"), f"{name}.{key} holds a literal secret"
            if "://" in str(val) and "@" in str(val):
                credentials = str(val).split("://", 1)[1].split("@", 1)[0]
                assert ":" not in credentials or "${" in credentials, f"{name}.{key}"


def test_ami_user_port_and_least_privilege_match(compose: dict[str, Any]) -> None:
    env = service_env(compose, "connector")
    manager = parse_asterisk_conf(ASTERISK / "manager.conf")
    assert value(manager["general"], "port") == env["CC_AMI_PORT"]
    assert value(manager["general"], "timestampevents") == "yes"
    user = manager[env["CC_AMI_USERNAME"]]
    rights = set(value(user, "write").replace(" ", "").split(","))
    assert {"call", "originate", "agent"} == rights
    assert not {"system", "config", "command", "all"} & rights
    assert "all" not in set(value(user, "read").replace(" ", "").split(","))
    # AMI is reachable on the compose network only, never published.
    published = " ".join(str(p) for p in compose["services"]["asterisk"].get("ports", []))
    assert "5038" not in published
    assert env["CC_AMI_HOST"] == "asterisk"


def test_dialplan_reaches_our_fastagi_server(compose: dict[str, Any]) -> None:
    env = service_env(compose, "connector")
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    agi = value(ext["globals"], "CC_AGI")
    m = re.fullmatch(r"agi://([^:/]+):(\d+)", agi)
    assert m, agi
    host, port = m.groups()
    connector = compose["services"]["connector"]
    assert host in connector["networks"]["default"]["aliases"]
    assert port == env["CC_AGI_PORT"]
    assert env["CC_AGI_HOST"] == "0.0.0.0"
    agi_lines = [v for sec in ext.values() for k, v in sec if "AGI(" in v]
    assert agi_lines and all("AGI(${CC_AGI}/" in v for v in agi_lines)


def test_recordings_are_written_where_the_workers_read_them(compose: dict[str, Any]) -> None:
    spool = service_env(compose, "worker")["CC_RECORDING_SPOOL_DIR"]
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    mixmonitors = [v for sec in ext.values() for _k, v in sec if "MixMonitor(" in v]
    assert mixmonitors
    for line in mixmonitors:
        assert f"MixMonitor({spool}/" in line
        # the file name comes from the call's uniqueid, never from caller input
        assert "${UNIQUEID}" in line and "CALLERID" not in line
    mounts = {
        name: [str(v) for v in compose["services"][name].get("volumes", [])]
        for name in ("asterisk", "worker")
    }
    assert f"recordings:{spool}" in mounts["asterisk"]
    assert f"recordings:{spool}" in mounts["worker"]


def test_durable_records_for_resync_are_shared_with_the_connector(compose: dict[str, Any]) -> None:
    env = service_env(compose, "connector")
    cdr = parse_asterisk_conf(ASTERISK / "cdr.conf")
    assert value(cdr["csv"], "loguniqueid") == "yes"
    assert value(cdr["csv"], "newcdrcolumns") == "yes"
    logger = parse_asterisk_conf(ASTERISK / "logger.conf")
    assert value(logger["general"], "queue_log") == "yes"
    assert env["CC_AMI_CDR_CSV_PATH"] == "/var/log/asterisk/cdr-csv/Master.csv"
    assert env["CC_AMI_QUEUE_LOG_PATH"] == "/var/log/asterisk/" + value(
        logger["general"], "queue_log_name"
    )
    assert "asterisk-logs:/var/log/asterisk" in compose["services"]["asterisk"]["volumes"]
    assert "asterisk-logs:/var/log/asterisk:ro" in compose["services"]["connector"]["volumes"]


def test_every_asterisk_config_file_is_mounted(compose: dict[str, Any]) -> None:
    volumes = " ".join(str(v) for v in compose["services"]["asterisk"]["volumes"])
    for conf in ASTERISK.glob("*.conf"):
        assert f"./deploy/asterisk/{conf.name}:/etc/asterisk/{conf.name}:ro" in volumes


def test_originate_never_targets_an_application() -> None:
    # CVE-2024-42365: our actions originate to Context/Exten/Priority only; the contexts the
    # service uses must exist in the dialplan.
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    for context in ("cc-originate", "transfer-targets", "supervisor", "conference", "to-queue"):
        assert context in ext, context
