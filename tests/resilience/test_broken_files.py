"""Broken files a user hands the service: IVR menus, routing rules, tariffs, customer CSVs.

Each goes through what a user runs — the ``contact-center`` command line, the service loading
its files — and must give an error naming the file, the line (or row) and the reason, while
the rest keeps working: the other menus serve calls, the previous routing rules stay in use,
the tariff plan in use is unchanged, the good customer rows are imported."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from contact_center.calls import events as ev
from contact_center.cli import main
from contact_center.config import AgiSettings
from contact_center.demo import free_port
from contact_center.ivr.service import IvrService
from contact_center.routing.rules import RoutingConfigError, load_rules
from contact_center.service import Service
from contact_center.sim.agi import AgiCallResult, run_fastagi
from contact_center.sim.pbx import SimPbx
from contact_center.testing import silent_prompts
from tests.conftest import wait_for
from tests.e2e.service_support import ROOT, rig_settings
from tests.resilience.rig import MANUAL, sim_config

# --- IVR menus --------------------------------------------------------------------------------

FRONT = """\
title: Front desk
languages: [en]
start: hello
prompts:
  front/hello: {en: "Hello."}
nodes:
  hello: {type: play, prompt: front/hello, next: "lib:support"}
"""
LIB = """\
title: Shared nodes
languages: [en]
prompts:
  lib/wait: {en: "Please wait."}
nodes:
  support: {type: queue, queue: support, prompt: lib/wait}
"""
SHOP = """\
title: Shop
languages: [en]
start: hello
prompts:
  shop/hello: {en: "Tea and things."}
nodes:
  hello: {type: play, prompt: shop/hello, next: orders}
  orders: {type: queue, queue: orders}
"""
BROKEN = """\
title: Broken
languages: [en]
start: hello
nodes: {hello: {type: play, prompt: [x}
"""
TYPO = """\
title: Typo
languages: [en]
start: hello
prompts:
  typo/hello: {en: "Hi."}
nodes:
  hello: {type: play, prompt: typo/hello, next: nowhere}
"""


def write(path: Path, text: str) -> None:
    """Write and move the mtime on, so a watcher polling mtimes sees every version."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))


def menus_dir(root: Path) -> Path:
    """front, lib (a library front uses), shop — with silent prompts — plus two broken files."""
    menus = root / "menus"
    menus.mkdir()
    files = {"front": FRONT, "lib": LIB, "shop": SHOP, "broken": BROKEN, "typo": TYPO}
    for name, text in files.items():
        write(menus / f"{name}.yaml", text)
    silent_prompts(menus)
    return menus


async def call(port: int, menu: str) -> AgiCallResult:
    """One call through FastAGI, as Asterisk's ``AGI(agi://…/ivr,<menu>)`` makes it."""
    result = await run_fastagi(f"agi://127.0.0.1:{port}/ivr", [menu], timeout=10)
    assert "SUCCESS" == result.status, result.transcript
    return result


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.fixture
async def ivr(tmp_path: Path) -> AsyncIterator[IvrService]:
    async def sink(event: ev.DomainEvent) -> None:
        pass

    settings = AgiSettings(port=0, menus_dir=str(menus_dir(tmp_path)), default_menu="front")
    async with IvrService(settings, sink=sink, reload_interval=0.05) as service:
        yield service


async def test_broken_ivr_menus_are_named_by_line_and_the_other_menus_keep_serving(
    ivr: IvrService,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Property: `ivr check` and the running IVR name each broken menu file as file:line:
    reason; the good menus still answer calls, a call for a broken menu gets the default
    menu; a menu (or the library others use) broken while in service keeps its last good
    version, and a good edit afterwards is taken."""
    menus = tmp_path / "menus"
    assert 1 == main(["ivr", "check", str(menus)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{menus}/broken.yaml:4: YAML syntax error"), out
    assert f"{menus}/typo.yaml:7: missing target 'nowhere'" == out[1]
    assert "3 menu file(s) usable: front, lib, shop; 2 problem(s)" == out[-1]

    # the running IVR found the same problems when it started, and logged them
    assert out[:2] == [str(e) for e in ivr.library.errors]
    started = [r.getMessage() for r in caplog.get_records("setup")]
    assert [f"IVR menu: {line}" for line in out[:2]] == [m for m in started if "IVR menu:" in m]
    assert ("support", "orders") == (
        (await call(ivr.port, "front")).variables["CC_QUEUE"],
        (await call(ivr.port, "shop")).variables["CC_QUEUE"],
    )
    fallback = await call(ivr.port, "broken")  # not loaded: the default menu answers
    assert ("support", ["cc/front/hello", "cc/lib/wait"]) == (
        fallback.variables["CC_QUEUE"],
        fallback.played,
    )

    # broken while in service: the last good version stays
    write(menus / "shop.yaml", SHOP.replace("queue: orders}", "queue: returns") + "  x: [\n")
    write(menus / "lib.yaml", LIB.replace("type: queue", "type: qeue"))
    await wait_for(lambda: logged(caplog, f"{menus}/shop.yaml:"), timeout=5)
    await wait_for(lambda: logged(caplog, f"{menus}/lib.yaml:6: unknown node type 'qeue'"), 5)
    assert ("support", "orders") == (
        (await call(ivr.port, "front")).variables["CC_QUEUE"],
        (await call(ivr.port, "shop")).variables["CC_QUEUE"],
    )

    # fixed: the new version is taken
    write(menus / "shop.yaml", SHOP.replace("queue: orders}", "queue: returns}"))
    await wait_for(lambda: "shop.yaml" not in " ".join(map(str, ivr.library.errors)), 5)
    assert "returns" == (await call(ivr.port, "shop")).variables["CC_QUEUE"]


# --- routing rules ---------------------------------------------------------------------------

RULES_BROKEN_AT_START = """\
default_queue: support
rules:
  - name: [unclosed
"""
RULES_GOOD = """\
default_queue: support
queues:
  support: {}
  sales: {}
rules:
  - name: everyone to sales
    when: {}
    queue: sales
    priority: 3
"""
RULES_BROKEN_LATER = RULES_GOOD.replace("when: {}", "when: {colour: blue}")


async def test_broken_routing_rules_are_reported_and_the_previous_rules_stay_in_use(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: the service (role all) reads the routing rules file and re-reads it when it
    changes. A file that does not load is logged as file:line: reason and changes nothing:
    at start the IVR menus choose the queue alone; later the previous rules stay in use.
    Broken IVR menus beside the good ones do not stop them either. (**Was**: the service
    never applied the rules file at all.)"""
    caplog.set_level(logging.INFO)
    menus = menus_dir(tmp_path)
    rules = tmp_path / "routing.yaml"
    write(rules, RULES_BROKEN_AT_START)
    agi_port = free_port()
    async with SimPbx(sim_config(tmp_path, MANUAL, agi_port)) as pbx:
        base = rig_settings(tmp_path, sqlite_url)
        settings = replace(
            base,
            ami=replace(base.ami, port=pbx.port, username="cc", secret="cc-test-secret"),
            agi=replace(
                base.agi,
                port=agi_port,
                menus_dir=str(menus),
                routing_rules=str(rules),
                default_menu="front",
            ),
        )
        async with Service(settings, "all") as service:
            port = service.components["ivr"].port
            assert logged(caplog, f"{rules}:4: YAML syntax: expected ',' or ']'")
            assert logged(caplog, "(while parsing a flow sequence started at line 3)")
            first = await call(port, "front")  # no rules yet: the menu's queue
            assert ("support", "0") == (first.variables["CC_QUEUE"], first.variables["CC_PRIORITY"])

            write(rules, RULES_GOOD)
            routed = await call(port, "front")
            assert ("sales", "3") == (routed.variables["CC_QUEUE"], routed.variables["CC_PRIORITY"])

            write(rules, RULES_BROKEN_LATER)
            kept = await call(port, "front")
            assert logged(caplog, f"{rules}:6: unknown condition 'colour'")
            assert logged(caplog, "keeping the previous rules")
            assert ("sales", "3") == (kept.variables["CC_QUEUE"], kept.variables["CC_PRIORITY"])
    print(f"\nrouting: {rules.name} broken at start and later; rules in use kept; menus served")


ROUTING_MISTAKES = [
    ("default_queue: s\nrules:\n  - {name: a, when: [x]}\n", 3, "'when' must be a mapping"),
    (
        "default_queue: s\nqueues:\n  s: {overflow: {to: s, after_seconds: soon}}\n",
        3,
        "overflow after_seconds must be a whole number, got 'soon'",
    ),
    ("default_queue: s\nsticky: [1]\n", 1, "'sticky' must be a mapping"),
    ("default_queue: s\nsticky: {max_age_days: x}\n", 2, "sticky max_age_days must be a whole"),
    ("default_queue: s\nrules: 5\n", 1, "'rules' must be a list"),
    (
        'default_queue: s\nqueues:\n  s:\n    hours: {timezone: UTC, open: {mon: "09:00-18:00"},'
        " holidays: 5}\n",
        4,
        "'holidays' must be a list",
    ),
    ("default_queue: s\nname: caf\xe9\n", 2, "not UTF-8 text (byte 0xe9)"),
]


@pytest.mark.parametrize(("text", "line", "reason"), ROUTING_MISTAKES)
def test_routing_file_mistakes_name_the_line_instead_of_crashing(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    """Property (regression): each of these raised TypeError, ValueError, AttributeError or
    UnicodeDecodeError, which the service would not report as a rules problem."""
    path = tmp_path / "routing.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(RoutingConfigError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), caught.value
    assert reason in str(caught.value)


# --- the command line: tariffs and customers ---------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An upgraded SQLite database the ``contact-center`` commands use (CC_DATABASE_URL)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("CC_DATABASE_URL", url)
    assert 0 == main(["db", "upgrade"])
    return url


def quote(capsys: pytest.CaptureFixture[str], plan: str = "outbound") -> dict[str, object]:
    capsys.readouterr()
    args = ["--number", "+74951234567", "--start", "2026-03-03T12:00", "--seconds", "125"]
    assert 0 == main(["tariffs", "quote", plan, *args])
    return dict(json.loads(capsys.readouterr().out))


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_broken_tariff_files_are_all_named_and_the_plans_in_use_stay(
    tmp_path: Path, cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Property: `tariffs import` of several files names every broken one (file:line:
    reason) and imports nothing; the plan already in use prices calls exactly as before."""
    shipped = ROOT / "tariffs"
    assert 0 == main(["tariffs", "import", str(shipped / "outbound.yaml")])
    before = quote(capsys)

    text = (shipped / "outbound.yaml").read_text(encoding="utf-8")
    edited = tmp_path / "outbound.yaml"  # a new version: one price changed, one mistake
    edited.write_text(
        text.replace('per_minute: "1.00"', 'per_minute: "9.99"').replace("30/6", "30"), "utf-8"
    )
    extra = tmp_path / "extra.yaml"
    extra.write_text("name: extra\ncurrency: RUB\nrates: 5\n", encoding="utf-8")
    files = [str(shipped / "inbound.yaml"), str(edited), str(extra)]
    assert 1 == main(["tariffs", "import", *files])
    err = capsys.readouterr().err
    assert [
        f"error: {edited}:{line_of(text, '30/6')}: increment must look like 60/60 or 30/6, got 30",
        f"error: {extra}:3: rates must be a list",
        "nothing imported: 2 file(s) with errors",
    ] == err.splitlines()

    assert before == quote(capsys)  # the old Moscow price, not 9.99
    assert 1 == main(["tariffs", "quote", "inbound", "--number", "1", "--start", "2026-03-03",
                      "--seconds", "1"])  # fmt: skip
    assert "no tariff plan named 'inbound'" in capsys.readouterr().err  # all or nothing


TARIFF_MISTAKES = [
    ('bands: 5\nrates:\n  - {prefix: "7", per_minute: "1"}\n', 3, "bands must be a list"),
    ('holidays: 5\nrates:\n  - {prefix: "7", per_minute: "1"}\n', 3, "holidays must be a list"),
    ("rates: 5\n", 3, "rates must be a list"),
    (
        'rounding: {places: two}\nrates:\n  - {prefix: "7", per_minute: "1"}\n',
        3,
        "rounding places must be a whole number, got 'two'",
    ),
    (
        'rounding: [2]\nrates:\n  - {prefix: "7", per_minute: "1"}\n',
        3,
        "rounding must be a mapping like {places: 2, mode: half_up}",
    ),
    ('description: caf\xe9\nrates:\n  - {prefix: "7", per_minute: "1"}\n', 3, "not UTF-8 text"),
]


@pytest.mark.parametrize(("text", "line", "reason"), TARIFF_MISTAKES)
def test_tariff_file_mistakes_name_the_line_instead_of_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, reason: str
) -> None:
    """Property (regression): each of these ended `tariffs import` with a Python traceback
    (TypeError, ValueError, AttributeError, UnicodeDecodeError)."""
    path = tmp_path / "plan.yaml"
    path.write_bytes(("name: p\ncurrency: RUB\n" + text).encode("latin-1"))
    assert 1 == main(["tariffs", "import", "--check", str(path)])
    assert capsys.readouterr().err.startswith(f"error: {path}:{line}: {reason}")


CUSTOMERS = [
    b"name,phone,segment",
    "Иван Петров,+7 495 123-45-67,VIP".encode(),  # row 2
    b",+74951234570,",  # 3: no name
    b"Nobody,,",  # 4: no phone
    b"Desk,101,",  # 5: an extension
    b"Bad \xff\xfe name,+74951234571,",  # 6: not UTF-8 (the rest of the file is)
    "Ольга Смирнова,+74957654321,".encode(),  # 7
    b"X" * 201 + b",+74951234572,",  # 8: name too long
    b"Petr,+74951234573,",  # 9
    b'"Unclosed,+74951234574,',  # 10: a quote never closed
]


def test_broken_customer_rows_are_named_and_the_good_rows_imported(
    tmp_path: Path, cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Property: `customers import` rejects each broken row with its row number and reason
    (on stderr and in the --rejects file, original bytes kept), imports every good row, and
    they are found by `customers lookup`. (**Was**: one byte that is not UTF-8 refused the
    whole file as "cannot read the header"; past the first 64 KiB it stopped the import and
    lost the rows read since the last commit.)"""
    path, rejects = tmp_path / "customers.csv", tmp_path / "rejects.csv"
    path.write_bytes(b"\r\n".join(CUSTOMERS) + b"\r\n")
    command = ["customers", "import", str(path), "--no-progress", "--rejects", str(rejects)]
    command.append("--merge-by-phone")  # a file without ids
    assert 0 == main(command)
    out, err = capsys.readouterr()
    assert [
        "row 3: missing name",
        "row 4: no phone number",
        "row 5: phone '101' is an internal extension",
        "row 6: not UTF-8 text (byte 0xff in column 1)",
        "row 8: name longer than 200 characters",
        "row 10: a quote opened at line 10 is never closed",
    ] == err.splitlines()
    report = json.loads(out)
    assert (9, 3, 6) == (report["rows"], report["inserted"], report["rejected"])
    assert b"\r\n6,not UTF-8 text (byte 0xff in column 1),Bad \xff\xfe name," in (
        rejects.read_bytes()
    )

    assert 0 == main(["customers", "lookup", "+74957654321"])
    assert ["Ольга Смирнова"] == [
        c["name"] for c in json.loads(capsys.readouterr().out)["customers"]
    ]


def test_customer_file_in_another_encoding_is_refused_whole_with_its_line(
    tmp_path: Path, cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Property: a file saved as Latin-1 (no UTF-8 beyond ASCII in it) is refused before
    anything is written, naming the line and byte, rather than imported half."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,phone\nPetr,+74951234573\nJosé,+79161234567\n".encode("latin-1"))
    assert 1 == main(["customers", "import", str(path), "--no-progress"])
    assert (
        f"error: {path}: line 3: not UTF-8 text (byte 0xe9); save the file as UTF-8\n"
        == capsys.readouterr().err
    )
    assert 1 == main(["customers", "lookup", "+74951234573"])  # nothing imported
    assert "no customer with number +74951234573" in capsys.readouterr().err
