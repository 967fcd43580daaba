"""The on-demand recording feature code (deploy/asterisk/features.conf) lines up with the
dialplan, the recording spool and the compose mounts."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy_config import ASTERISK, ROOT, parse_asterisk_conf, service_env

FEATURE = re.compile(r"^(?P<dtmf>[0-9*#]+),(?P<on>self|peer)(/\w+)?,(?P<app>\w+)\((?P<args>.*)\)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def features() -> dict[str, re.Match[str]]:
    conf = parse_asterisk_conf(ASTERISK / "features.conf")
    found = {}
    for name, raw in conf["applicationmap"]:
        m = FEATURE.match(raw)
        assert m, f"unparsable applicationmap entry {name}: {raw!r}"
        found[name] = m
    return found


def test_feature_code_records_into_the_spool_under_a_uniqueid_name(
    compose: dict[str, Any],
) -> None:
    spool = service_env(compose, "worker")["CC_RECORDING_SPOOL_DIR"]
    recorders = {n: m for n, m in features().items() if m["app"] == "MixMonitor"}

    assert ["ccrecord"] == list(recorders)
    feature = recorders["ccrecord"]
    file_name = feature["args"].rsplit(",", 1)[0]
    assert file_name.startswith(f"{spool}/")
    # Only the call's own identity and the clock go into the name: nothing a caller controls.
    assert {"${UNIQUEID}", "${EPOCH}"} == set(re.findall(r"\$\{[A-Z]+\}", file_name))
    assert re.search(r"\$\{STRFTIME\(\$\{EPOCH\},,[%YmdHMS-]+\)\}", file_name)
    assert file_name.endswith(".wav")
    assert "self" == feature["on"]


def test_feature_code_is_enabled_on_operator_phones_only() -> None:
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    enabling = {
        context: value
        for context, lines in ext.items()
        for _key, value in lines
        if "DYNAMIC_FEATURES" in value
    }

    assert {"operators": "_1XX,1,Set(__DYNAMIC_FEATURES=ccrecord)"} == enabling


def test_featuremap_sets_only_the_attended_transfer_code() -> None:
    conf = parse_asterisk_conf(ASTERISK / "features.conf")

    # AMI Atxfer needs `atxfer` (Asterisk 22 has no default for it, issue 17); blind transfer
    # keeps Asterisk's defaults, and the recording code does not collide with it.
    assert ["atxfer"] == [key for key, _value in conf["featuremap"]]
    assert dict(conf["featuremap"])["atxfer"] != features()["ccrecord"]["dtmf"]


def test_features_conf_is_mounted_read_only(compose: dict[str, Any]) -> None:
    volumes = [str(v) for v in compose["services"]["asterisk"]["volumes"]]

    assert "./deploy/asterisk/features.conf:/etc/asterisk/features.conf:ro" in volumes
