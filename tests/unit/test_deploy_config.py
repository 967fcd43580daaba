"""docker-compose.yml and deploy/asterisk/*.conf agree with each other and with our settings.

No Docker engine runs here, so the compose file is checked by parsing it: the ports, AMI
user and rights, FastAGI address, recording spool and durable-record paths must line up, or a
real deployment would fail in ways no unit test would notice.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from contact_center.config import load_settings
from tests.conftest import FIXTURES
from tests.unit import asterisk_conf

ROOT = Path(__file__).resolve().parents[2]
ASTERISK = ROOT / "deploy" / "asterisk"


def parse_asterisk_conf(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of an Asterisk .conf file as (key, value) pairs, templates applied; sections
    of the same name are merged in file order (read with :mod:`tests.unit.asterisk_conf`)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for section in asterisk_conf.parse(path).sections:
        sections.setdefault(section.name, []).extend((e.key, e.value) for e in section.entries)
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
    assert {"call", "originate", "agent", "reporting"} == rights
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


def test_every_agi_in_the_dialplan_has_a_fallback_for_the_service_away() -> None:
    """Each AGI() reads AGISTATUS before any Hangup() and can go on to a queue or a mailbox
    (res_agi: FAILURE when our FastAGI server cannot be reached), so a caller is not hung up
    because the service is away; the fallback queue and every queue's mailbox exist."""
    steps = asterisk_conf.dialplan(ASTERISK / "extensions.conf")
    agis = [i for i, s in enumerate(steps) if s.app == "AGI"]
    assert len(agis) >= 2
    for i in agis:
        agi = steps[i]
        after = []
        for step in steps[i + 1 :]:
            if (step.context, step.exten) != (agi.context, agi.exten) or step.app == "Hangup":
                break
            after.append(step)
        where = f"{agi.file}:{agi.line}"
        assert any(s.app == "GotoIf" and "${AGISTATUS}" in s.args for s in after), where
        onward = [s.args.split(",")[0] for s in after if s.app == "Goto"]
        assert {"to-queue", "voicemail"} & set(onward), where
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    queues = {s.name for s in asterisk_conf.parse(ASTERISK / "queues.conf").sections} - {
        "general",
        "queue-template",
    }
    assert value(ext["globals"], "CC_FALLBACK_QUEUE") in queues
    mailboxes = {k for k, _ in parse_asterisk_conf(ASTERISK / "voicemail.conf")["contact-center"]}
    assert queues <= mailboxes


def test_every_queue_runs_the_strategy_its_own_section_names() -> None:
    # app_queue.c (reload_single_queue) takes a static queue's strategy from the first
    # `strategy` line of its section — a template's comes before the queue's own — and
    # skips the others without a word: a queue that names its strategy under a template
    # that sets one runs the template's (a real Asterisk 22.10.1 showed `sales` and `vip`
    # on rrmemory). Each queue must hold exactly one strategy line, in its own section.
    queues = [s for s in asterisk_conf.parse(ASTERISK / "queues.conf").sections]
    run = [s for s in queues if not s.template and s.name != "general"]
    assert {s.name for s in run} >= {"support", "sales", "vip", "billing"}
    for section in run:
        lines = [f"{e.file}:{e.line}" for e in section.entries if e.key == "strategy"]
        assert len(lines) == 1, f"[{section.name}] strategy at {lines}: Asterisk uses the first"
        assert [e.key for e in section.own].count("strategy") == 1, section.name


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


def test_what_the_configuration_uses_is_configured_by_files_we_ship() -> None:
    # A real Asterisk 22.10.1 given only our files (no sample configs, as an image may
    # come) logged "Configuration file amd.conf missing." / "app_amd declined to load" — no
    # AMD() for [cc-campaign] — and "No music on hold classes configured, disabling music on
    # hold" for queues whose callers wait on `musicclass = default`.
    apps = {s.app for s in asterisk_conf.dialplan(ASTERISK / "extensions.conf")}
    assert "AMD" in apps
    amd = asterisk_conf.parse(ASTERISK / "amd.conf").one("general")
    assert int(amd.get("total_analysis_time") or 0) > 0
    classes = {s.name for s in asterisk_conf.parse(ASTERISK / "musiconhold.conf").sections}
    queues = asterisk_conf.parse(ASTERISK / "queues.conf").sections
    used = {v for s in queues for v in s.values("musicclass")}
    assert used and used <= classes
    moh = asterisk_conf.parse(ASTERISK / "musiconhold.conf").one("default")
    assert (moh.get("mode"), moh.get("directory")) == ("files", "moh")


def test_originate_never_targets_an_application() -> None:
    # CVE-2024-42365: our actions originate to Context/Exten/Priority only; the contexts the
    # service uses must exist in the dialplan.
    ext = parse_asterisk_conf(ASTERISK / "extensions.conf")
    for context in ("cc-originate", "transfer-targets", "supervisor", "conference", "to-queue"):
        assert context in ext, context


# --- 1. AMI rights: every action the code sends is granted, and no more ----------------------

PACKAGE = ROOT / "contact_center"
# The code paths that talk to a real Asterisk; the simulator and the test helpers play
# Asterisk or a test client and are not the service.
NOT_THE_SERVICE = (PACKAGE / "sim", PACKAGE / "testing.py")
SENT_ACTION = re.compile(r"\b(?:_send|_request|send_action)\(\s*\"(\w+)\"")


def actions_sent_by_the_code() -> dict[str, list[str]]:
    """Action name -> where it is sent, from every module of the service."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == p or p in path.parents for p in NOT_THE_SERVICE):
            continue
        for m in SENT_ACTION.finditer(path.read_text()):
            found.setdefault(m.group(1), []).append(str(path.relative_to(ROOT)))
    return found


def manager_user(compose: dict[str, Any]) -> asterisk_conf.Section:
    conf = asterisk_conf.parse(ASTERISK / "manager.conf")
    return conf.one(service_env(compose, "connector")["CC_AMI_USERNAME"])


def classes(section: asterisk_conf.Section, key: str) -> set[str]:
    value = section.get(key)
    assert value is not None, f"manager.conf: no {key}"
    return {c.strip() for c in value.split(",") if c.strip()}


def test_the_scan_finds_the_actions_of_every_layer() -> None:
    sent = actions_sent_by_the_code()
    # one from each place that sends: the connection, the typed actions, the rights check
    assert {"Login", "Originate", "CoreShowChannels", "MixMonitorMute", "ListCommands"} <= set(sent)


def test_every_ami_action_the_code_sends_has_its_asterisk_write_class_on_record() -> None:
    from contact_center.ami.rights import ACTION_CLASSES

    unknown = sorted(set(actions_sent_by_the_code()) - set(ACTION_CLASSES))
    assert [] == unknown, "add these to contact_center/ami/rights.py with their source"


def test_manager_conf_grants_every_action_the_code_sends(compose: dict[str, Any]) -> None:
    from contact_center.ami.rights import ACTION_CLASSES, check

    write = classes(manager_user(compose), "write")
    refused = {
        action: sorted(ACTION_CLASSES[action])
        for action in actions_sent_by_the_code()
        if ACTION_CLASSES[action] and not ACTION_CLASSES[action] & write
    }
    assert {} == refused
    # the startup check sees the same: Asterisk would list every needed action
    granted = frozenset(a.lower() for a, cls in ACTION_CLASSES.items() if not cls or cls & write)
    assert check(granted).ok


def test_manager_conf_write_is_the_least_that_grants_them(compose: dict[str, Any]) -> None:
    from contact_center.ami.rights import ACTION_CLASSES, least_class

    write = classes(manager_user(compose), "write")
    needed = {
        least_class(ACTION_CLASSES[a]) for a in actions_sent_by_the_code() if ACTION_CLASSES[a]
    }
    assert needed == write
    # never: config/command run anything; system includes the AMI MixMonitor (shell
    # post-commands) and Originate to an Application's cousins
    assert not {"system", "config", "command", "all"} & write


def test_read_classes_are_exactly_those_of_the_events_the_service_consumes(
    compose: dict[str, Any],
) -> None:
    from contact_center.ami.rights import EVENT_CLASSES, LIST_ITEM_EVENTS
    from contact_center.ami.tracker import TRACKED_EVENTS

    consumed = (TRACKED_EVENTS | {"OriginateResponse"}) - LIST_ITEM_EVENTS
    unknown = sorted(consumed - set(EVENT_CLASSES))
    assert [] == unknown, "add these to EVENT_CLASSES in contact_center/ami/rights.py"
    read = classes(manager_user(compose), "read")
    assert {EVENT_CLASSES[e] for e in consumed} == read
    # FullyBooted is class system: without it every connect waited 2 s for nothing
    assert "system" in read


# --- 6. the event filter: what the tracker needs passes, the firehose does not ---------------


def manager_filters(compose: dict[str, Any]) -> list[asterisk_conf.EventFilter]:
    user = manager_user(compose)
    return [
        asterisk_conf.event_filter(e.key, e.value)
        for e in user.entries
        if e.key.startswith("eventfilter")
    ]


def capture_events(name: str) -> list[tuple[str, str]]:
    """(event name, raw text) of every broadcast event of one capture (no list items)."""
    events = []
    for line in (FIXTURES / name).read_text().splitlines():
        record = json.loads(line)
        if record.get("proto") != "ami" or record.get("dir") != "in":
            continue
        for message in record["data"].split("\r\n\r\n"):
            if message.startswith("Event: ") and "\r\nActionID: " not in message:
                events.append((message.split("\r\n", 1)[0][7:], message + "\r\n"))
    return events


def test_every_event_filter_line_is_one_asterisk_22_accepts(compose: dict[str, Any]) -> None:
    user = manager_user(compose)
    lines = [e for e in user.entries if e.key.startswith("eventfilter")]
    assert lines
    for entry in lines:
        asterisk_conf.event_filter(entry.key, entry.value)  # raises where Asterisk refuses


@pytest.mark.parametrize("capture", ["02-inbound-ivr-queue-answered.jsonl", "08-fastagi.jsonl",
                                     "21-callback-and-click-to-call.jsonl",
                                     "17-transfer-chain.jsonl", "06-conference.jsonl",
                                     "22-operator-states.jsonl"])  # fmt: skip
def test_every_event_the_tracker_consumes_passes_the_filter(
    compose: dict[str, Any], capture: str
) -> None:
    from contact_center.ami.tracker import TRACKER_FILTER

    filters = manager_filters(compose)
    wanted = [(n, t) for n, t in capture_events(capture) if TRACKER_FILTER.wants(n, t)]
    assert wanted
    dropped = [
        (n, t.split("\r\n")[1:4]) for n, t in wanted if not asterisk_conf.should_send(filters, n, t)
    ]
    assert [] == dropped


def test_each_consumed_event_passes_the_filter_by_name(compose: dict[str, Any]) -> None:
    from contact_center.ami.rights import LIST_ITEM_EVENTS
    from contact_center.ami.tracker import TRACKED_EVENTS, TRACKER_FILTER

    filters = manager_filters(compose)
    for name in sorted((TRACKED_EVENTS | {"OriginateResponse"}) - LIST_ITEM_EVENTS):
        header, values = TRACKER_FILTER.only_if.get(name, ("Channel", frozenset({"PJSIP/1"})))
        for value in sorted(values):
            text = f"Event: {name}\r\nPrivilege: call,all\r\n{header}: {value}\r\n"
            assert asterisk_conf.should_send(filters, name, text), (name, header, value)


def test_varset_and_the_rest_of_the_firehose_stay_in_asterisk(compose: dict[str, Any]) -> None:
    filters = manager_filters(compose)
    events = capture_events("27-live-pjsip-deploy.jsonl") + capture_events(
        "02-inbound-ivr-queue-answered.jsonl"
    )
    varsets = [t for n, t in events if n == "VarSet"]
    assert len(varsets) > 1000
    passed = [t for t in varsets if asterisk_conf.should_send(filters, "VarSet", t)]
    assert any("\r\nVariable: MIXMONITOR_FILENAME\r\n" in t for t in passed)
    # the recording's name and our own Originate's CC_* tags, nothing else
    from contact_center.ami.tracker import TRACKER_FILTER

    _header, wanted = TRACKER_FILTER.only_if["VarSet"]
    assert len(wanted) < 10
    named = [t.split("\r\nVariable: ", 1)[1].split("\r\n", 1)[0] for t in passed]
    assert set(named) <= wanted
    assert len(passed) < len(varsets) / 20
    for noise in ("RTCPSent", "DeviceStateChange", "Cdr", "CEL", "NewConnectedLine"):
        sample = [t for n, t in events if n == noise]
        assert sample, noise
        assert not any(asterisk_conf.should_send(filters, noise, t) for t in sample), noise
    sent = [n for n, t in events if asterisk_conf.should_send(filters, n, t)]
    assert len(sent) < len(events) / 3


# --- 2. every transfer the console offers works with the shipped features.conf -----------------

# Console transfer command -> the features.conf [featuremap] code Asterisk needs for the AMI
# action routing sends (None: the action needs none). Source: main/manager.c action_atxfer
# ("No attended transfer feature code found" when ast_get_builtin_feature(chan, "atxfer")
# is empty — and main/features_config.c DEFAULT_FEATUREMAP_ATXFER is ""); action_blind_transfer
# calls ast_bridge_transfer_blind directly.
FEATURE_CODE_FOR_COMMAND = {"blind_transfer": None, "attended_transfer": "atxfer"}


def test_every_transfer_the_console_offers_has_its_feature_code() -> None:
    from contact_center.web.console import TRANSFER_MODES

    assert set(TRANSFER_MODES.values()) == set(FEATURE_CODE_FOR_COMMAND)
    featuremap = asterisk_conf.parse(ASTERISK / "features.conf").named("featuremap")
    assert featuremap, "features.conf has no [featuremap]"
    codes = {e.key: e.value for s in featuremap for e in s.entries}
    for command, feature in FEATURE_CODE_FOR_COMMAND.items():
        if feature is not None:
            assert re.fullmatch(r"[0-9*#]{1,11}", codes.get(feature, "")), (command, feature)


def test_the_console_steers_a_consultation_with_the_shipped_codes() -> None:
    """Cancel and swap press features.conf's [general] atxferabort / atxferswap (what
    main/bridge_basic.c listens to during a consultation); the simulator reads the same
    file, so what our tests drive is what Asterisk gets."""
    from contact_center.routing.control import CONSULTATION_CODES
    from contact_center.sim.features import load_features

    general = asterisk_conf.parse(ASTERISK / "features.conf").named("general")
    codes = {e.key: e.value for s in general for e in s.entries}
    assert CONSULTATION_CODES == {"cancel": codes["atxferabort"], "swap": codes["atxferswap"]}
    during = [codes[k] for k in ("atxferabort", "atxfercomplete", "atxferthreeway", "atxferswap")]
    for a in during:  # none is a prefix of another: each fires only when meant
        assert re.fullmatch(r"[0-9*#]{1,11}", a), a
        assert not [b for b in during if b != a and b.startswith(a)], (a, during)
    sim = load_features(ASTERISK / "features.conf")
    assert (sim.abort, sim.swap, sim.complete) == (
        codes["atxferabort"], codes["atxferswap"], codes["atxfercomplete"],
    )  # fmt: skip
    featuremap = asterisk_conf.parse(ASTERISK / "features.conf").named("featuremap")
    assert sim.atxfer == {e.key: e.value for s in featuremap for e in s.entries}["atxfer"]


def test_feature_codes_do_not_collide() -> None:
    conf = asterisk_conf.parse(ASTERISK / "features.conf")
    codes = [e.value for s in conf.named("featuremap") for e in s.entries]
    codes += [e.value.split(",", 1)[0] for s in conf.named("applicationmap") for e in s.entries]
    # a code that is a prefix of another would fire before the longer one is dialled
    for a in codes:
        assert not [b for b in codes if b != a and b.startswith(a)], (a, codes)


# --- 4. the provider's INVITE matches the trunk endpoint ------------------------------------


def test_pjsip_conf_parses_and_every_section_has_a_known_type() -> None:
    conf = asterisk_conf.parse(ASTERISK / "pjsip.conf")
    for section in conf.sections:
        if not section.template:
            assert section.get("type") in {"transport", "endpoint", "auth", "aor", "identify"}, (
                section.name,
                section.line,
            )
    # the operator phone 101 is endpoint + auth + aor of one name, built from templates
    assert {"endpoint", "auth", "aor"} == {s.get("type") for s in conf.named("101")}


def test_the_trunk_is_identified_by_the_providers_address() -> None:
    conf = asterisk_conf.parse(ASTERISK / "pjsip.conf")
    trunks = [s for s in conf.of_type("endpoint") if s.get("context") == "from-trunk"]
    assert ["trunk"] == [s.name for s in trunks]
    identifies = [s for s in conf.of_type("identify") if s.get("endpoint") == "trunk"]
    assert identifies, "no identify: a provider INVITE gets 'No matching endpoint found'"
    matches = {m.strip() for s in identifies for v in s.values("match") for m in v.split(",")}
    assert matches and all(matches)
    # the address we send calls to is one we accept calls from
    (aor,) = [s for s in conf.of_type("aor") if s.name == trunks[0].get("aors")]
    contact_host = re.fullmatch(r"sip:([^:;>]+)(:\d+)?", aor.get("contact") or "")
    assert contact_host and contact_host.group(1) in {m.split("/")[0] for m in matches}
    # the trunk is not challenged: no inbound auth on it
    assert trunks[0].get("auth") is None


# --- 3. prompts: where the IVR writes them is where Asterisk looks them up -------------------

ASTERISK_SOUNDS = "/var/lib/asterisk/sounds"  # astdatadir (/var/lib/asterisk) + "sounds"


def host_path_of(compose: dict[str, Any], service: str, container_path: str) -> str | None:
    """The host path (relative to the repository) a bind mount gives ``container_path``."""
    best: tuple[int, str] | None = None
    for spec in compose["services"][service].get("volumes", []):
        source, target = str(spec).split(":")[:2]
        if not source.startswith("./"):
            continue
        if container_path == target or container_path.startswith(target + "/"):
            rest = container_path[len(target) :]
            if best is None or len(target) > best[0]:
                best = (len(target), source[2:] + rest)
    return best[1] if best else None


def test_every_prompt_the_ivr_plays_is_where_asterisk_looks(compose: dict[str, Any]) -> None:
    from contact_center.ivr.cli import declared_prompts
    from contact_center.ivr.runner import CALLBACK_OFFER_PROMPT, PROMPT_PREFIX

    prompts = declared_prompts(ROOT / "ivr_menus")
    assert {lang for lang, _name in prompts} == {"en", "ru"}
    assert ("en", CALLBACK_OFFER_PROMPT) in prompts
    for lang, name in prompts:
        # STREAM FILE cc/<name>: main/file.c fileexists_core tries sounds/<language>/<file>
        looked_up = f"{ASTERISK_SOUNDS}/{lang}/{PROMPT_PREFIX}/{name}.wav"
        # contact-center ivr prompts writes ivr_menus/prompts/<language>/<name>.wav
        assert f"ivr_menus/prompts/{lang}/{name}.wav" == host_path_of(
            compose, "asterisk", looked_up
        ), looked_up
    for spec in compose["services"]["asterisk"]["volumes"]:
        if "ivr_menus/prompts" in str(spec):
            assert str(spec).endswith(":ro")


# --- 8. everything the service writes survives a container restart ----------------------------


def image_env() -> dict[str, str]:
    env = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        m = re.match(r"ENV\s+(\w+)=(\S+)", line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def role_settings(compose: dict[str, Any], service: str) -> Any:
    env = {**image_env(), **service_env(compose, service)}
    resolved = {k: re.sub(r"\$\{[^}]+\}", "x", v) for k, v in env.items()}
    return load_settings(environ=resolved)


def written_paths(compose: dict[str, Any], service: str) -> dict[str, str]:
    """What each role writes, derived from the objects that write it."""
    from contact_center.ami.connector import AmiConnector

    settings = role_settings(compose, service)
    paths: dict[str, str] = {}
    if service == "connector":

        async def sink(_event: Any) -> None:
            return None

        async def offsets_path() -> str:
            connector = AmiConnector(
                settings.ami, settings.general.server_id, sink, state_dir=settings.general.data_dir
            )
            return str(connector.resyncer.offsets.path)

        import asyncio

        paths["AMI resync offsets"] = asyncio.run(offsets_path())
    if service == "worker":
        paths["history spill"] = settings.billing.history_spill_dir or str(
            Path(settings.general.data_dir) / "history-spill"
        )
        paths["recordings (processed files)"] = settings.recording.spool_dir
    return paths


def volume_of(compose: dict[str, Any], service: str, path: str) -> str | None:
    """The named volume (read-write) that holds ``path`` in ``service``, if any."""
    named = set(compose.get("volumes") or {})
    for spec in compose["services"][service].get("volumes", []):
        parts = str(spec).split(":")
        source, target, mode = parts[0], parts[1], (parts[2] if len(parts) > 2 else "rw")
        if source in named and mode != "ro" and (path == target or path.startswith(target + "/")):
            return source
    return None


@pytest.mark.parametrize("service", ["connector", "worker"])
def test_every_path_the_service_writes_is_on_a_volume(
    compose: dict[str, Any], service: str
) -> None:
    paths = written_paths(compose, service)
    assert paths
    lost = {what: path for what, path in paths.items() if volume_of(compose, service, path) is None}
    assert {} == lost


def test_the_web_role_reads_the_recordings_it_serves(compose: dict[str, Any]) -> None:
    spool = role_settings(compose, "web").recording.spool_dir
    mounts = [str(v) for v in compose["services"]["web"].get("volumes", [])]
    assert f"recordings:{spool}:ro" in mounts


def test_the_image_creates_the_data_dir_for_its_user() -> None:
    # A new named volume copies the image's folder and its owner: without the folder in the
    # image the volume is root's and the service (uid 1000) cannot write its offsets.
    data_dir = image_env()["CC_GENERAL_DATA_DIR"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(
        rf"mkdir -p {re.escape(data_dir)}\b.*chown cc:cc {re.escape(data_dir)}", dockerfile
    )


# --- modules: everything the configuration uses is loaded ----------------------------------

# Dialplan application -> the module that registers it in Asterisk 22.10.1 (None: the core,
# main/pbx_builtins.c or main/pbx_variables.c). Sources: res/res_agi.c app "AGI",
# apps/app_dial.c, app_queue.c, app_mixmonitor.c, app_stack.c ("Return"), app_voicemail.c,
# app_confbridge.c, app_chanspy.c (each file's <application name=…> and register call).
APP_MODULE: dict[str, str | None] = {
    "NoOp": None,
    "Set": None,
    "Answer": None,
    "Goto": None,
    "GotoIf": None,
    "Hangup": None,
    "AGI": "res_agi.so",
    "Dial": "app_dial.so",
    "Queue": "app_queue.so",
    "MixMonitor": "app_mixmonitor.so",
    "Return": "app_stack.so",
    "VoiceMail": "app_voicemail.so",
    "ConfBridge": "app_confbridge.so",
    "ChanSpy": "app_chanspy.so",
    "AMD": "app_amd.so",  # campaigns: answering-machine detection
    "Playback": "app_playback.so",
}
# What the other files need: PJSIP phones and trunk (chan_pjsip, res_pjsip), the trunk's
# identify by address (res_pjsip_endpoint_identifier_ip), Master.csv (cdr_csv), the queue
# announcements' music on hold (res_musiconhold).
CONFIG_MODULES = (
    "chan_pjsip.so",
    "res_pjsip.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "cdr_csv.so",
    "res_musiconhold.so",
)


def test_every_module_the_configuration_uses_is_loaded() -> None:
    steps = asterisk_conf.dialplan(ASTERISK / "extensions.conf")
    apps = {s.app for s in steps}
    assert {"Queue", "AGI", "MixMonitor"} <= apps
    unknown = sorted(apps - set(APP_MODULE))
    assert [] == unknown, "add the module that provides these to APP_MODULE"
    modules = asterisk_conf.parse(ASTERISK / "modules.conf").one("modules")
    assert "yes" == modules.get("autoload")
    noload = set(modules.values("noload"))
    needed = {APP_MODULE[a] for a in apps} - {None} | set(CONFIG_MODULES)
    assert set() == needed & noload
    assert not [m for m in modules.values("load") if m not in needed]  # nothing odd forced in


# --- docs/deployment.md says what the files say -----------------------------------------------


def test_the_deployment_doc_rights_table_is_the_code_and_the_file(compose: dict[str, Any]) -> None:
    from contact_center.ami.rights import ACTION_CLASSES, least_class

    doc = (ROOT / "docs" / "deployment.md").read_text()
    section = doc.split("## AMI user and rights", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([A-Z]\w+) \| ([a-z, ]+) \| ([a-z]+) \|", section, re.M)
    table = {a: (set(c.split(", ")), g) for a, c, g in rows}
    expected = {a: (set(c), least_class(c)) for a, c in ACTION_CLASSES.items() if c}
    assert expected == table
    user = manager_user(compose)
    assert f"`write = {user.get('write')}`" in doc
    assert f"`read = {user.get('read')}`" in doc


def test_the_deployment_doc_names_only_tests_that_exist() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", doc))
    assert named
    defined = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        defined |= set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.M))
    assert set() == named - defined
    for path in re.findall(r"`(tests/[\w/]+\.py)`", doc):
        assert (ROOT / path).exists(), path
    assert "docs/deployment.md" in (ROOT / "README.md").read_text()


def test_every_secret_file_a_config_includes_is_written_by_the_entrypoint() -> None:
    entrypoint = (ASTERISK / "entrypoint.sh").read_text()
    written = set(re.findall(r"> (/tmp/cc-secrets/[\w.]+)", entrypoint))
    included = {
        path
        for conf in ASTERISK.glob("*.conf")
        for section in asterisk_conf.parse(conf).sections
        for path in section.includes
    }
    assert included and included == written
