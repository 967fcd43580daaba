"""The simulator's extensions.conf reader: contexts, priorities, labels, includes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.sim.dialplan import parser, patterns
from contact_center.sim.dialplan.parser import DialplanError

ROOT = Path(__file__).resolve().parents[2]
RIG = ROOT / "tests/fixtures/asterisk-config/extensions.conf"
RIG_MORE = ROOT / "tests/fixtures/asterisk-config-more/extensions-more.conf"
SHIPPED = ROOT / "deploy/asterisk/extensions.conf"


def test_priorities_n_same_and_labels() -> None:
    config = parser.parse_text(
        "[ctx]\n"
        "exten => s,1,NoOp(first) ; a comment\n"
        " same => n(menu),Background(hello-world)\n"
        " same => n,Goto(s,menu)\n"
        "exten => s,n,Hangup()\n"
    )
    ext = config.contexts["ctx"].extensions[0]

    assert {1: "NoOp", 2: "BackGround", 3: "Goto", 4: "Hangup"} == {
        p: s.app for p, s in ext.steps.items()
    }
    assert {"menu": 2} == ext.labels
    assert "first" == ext.steps[1].args
    assert "s,menu" == ext.steps[3].args


def test_escaped_semicolon_and_globals_value_comment() -> None:
    config = parser.parse_text("[globals]\nRING = 60   ; never\n[c]\nexten => 1,1,NoOp(a\\;b)\n")

    assert {"RING": "60"} == config.globals
    assert "a;b" == config.contexts["c"].extensions[0].steps[1].args


def test_repeated_contexts_are_merged() -> None:
    config = parser.parse_text("[in]\nexten => 1,1,NoOp()\n[other]\n[in]\nexten => 2,1,NoOp()\n")

    assert ["1", "2"] == [e.name for e in config.contexts["in"].extensions]


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.conf").write_text("[in]\nexten => 2,1,Hangup()\n")
    main = tmp_path / "extensions.conf"
    main.write_text("[in]\nexten => 1,1,Answer()\n#include sub/more.conf\n")

    config = parser.load(main)

    assert ["1", "2"] == [e.name for e in config.contexts["in"].extensions]


def test_the_rig_and_its_additions_load() -> None:
    config = parser.load(RIG, RIG_MORE)

    assert "1" == config.globals["RING_101"]
    assert {"inbound", "ivr-main", "to-queue", "agents", "callersim", "cc-originate"} <= set(
        config.contexts
    )
    assert config.contexts["inbound"].find("4951110016") is not None


def test_the_shipped_dialplan_loads() -> None:
    config = parser.load(SHIPPED)

    trunk = config.contexts["from-trunk"].find("4951110003")
    assert trunk is not None
    assert "done" in trunk.labels
    assert "agi://contact-center:4573" == config.globals["CC_AGI"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[c]\nexten => 1,1,Festival(hi)\n", "x.conf:2: application Festival() is not supported"),
        ("[c]\nexten => 1,1,NoOp(${SHELL(ls)})\n", "x.conf:2: function SHELL() is not supported"),
        ("[c]\nexten => 1,hint,PJSIP/1\n", "x.conf:2: priority 'hint' is not supported"),
        ("[c]\ninclude => other\n", "x.conf:2: 'include =>' is not supported"),
        ("[c]\n\nsame => n,NoOp()\n", "x.conf:3: 'same =>' without an extension"),
        ("[c]\nexten => 1,1,NoOp()\nexten => 1,1,Hangup()\n", "x.conf:3: 1 priority 1 already"),
        ("[general]\nautofallthrough = no\n", "x.conf:2: [general] autofallthrough = no"),
        ("[c](!)\n", "x.conf:1: '[c](!)': templates"),
        ("#exec /bin/true\n", "x.conf:1: #exec is not supported"),
        ("[c]\nexten => _1[23,1,NoOp()\n", "x.conf:2: unclosed ["),
        ("[c]\nexten => 1/123,1,NoOp()\n", "x.conf:2: caller ID matching"),
        ("[c]\nexten => 1,1,ExecIf(1?Festival(x))\n", "x.conf:2: application Festival()"),
    ],
)
def test_what_it_cannot_run_is_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DialplanError) as caught:
        parser.parse_text(text, "x.conf")

    assert str(caught.value).startswith(message), str(caught.value)


def test_an_include_error_names_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "more.conf").write_text("[c]\n\n\nexten => 1,1,Bogus()\n")
    main = tmp_path / "extensions.conf"
    main.write_text("#include more.conf\n")

    with pytest.raises(DialplanError, match=r"more\.conf:4: application Bogus\(\)"):
        parser.load(main)


def test_pattern_matching() -> None:
    assert patterns.matches("_1XX", "101")
    assert not patterns.matches("_1XX", "1011")
    assert not patterns.matches("_1XX", "201")
    assert patterns.matches("_+X.", "+74951234567")
    assert not patterns.matches("_+X.", "+")
    assert patterns.matches("_[a-z].", "support")
    assert not patterns.matches("_[a-z].", "s")  # '.' needs at least one more character
    assert patterns.matches("_X.", "79161112233")
    assert not patterns.matches("_X.", "+7916")
    assert patterns.matches("_8XXX", "8000")
    assert patterns.matches("_NXX-XXXX", "2345678")
    assert patterns.matches("_1!", "1")
    assert patterns.matches("+74951234567", "+74951234567")
    assert patterns.can_match_more("_1XX", "1")
    assert not patterns.can_match_more("_1XX", "101")
    assert not patterns.can_match_more("1", "1")


def test_sort_order_is_asterisks_ext_cmp() -> None:
    names = ["_X.", "_[a-z].", "_1XX", "s", "_+X.", "_1.", "_12X", "_1!", "101", "_ZXX", "_NXX"]

    ordered = sorted(names, key=patterns.sort_key)

    # literals first (by character), then patterns: a smaller character set first at the
    # first position that differs, '.' after any set, '!' after '.'
    assert [
        "101",
        "s",
        "_+X.",
        "_12X",
        "_1XX",
        "_1.",
        "_1!",
        "_NXX",
        "_ZXX",
        "_X.",
        "_[a-z].",
    ] == ordered


def test_the_first_match_in_sort_order_wins() -> None:
    config = parser.parse_text(
        "[c]\nexten => _X.,1,NoOp(any)\nexten => _1XX,1,NoOp(op)\nexten => 101,1,NoOp(lit)\n"
    )
    ctx = config.contexts["c"]

    def found(number: str) -> str:
        ext = ctx.find(number)
        return ext.name if ext else ""

    assert ("101", "_1XX", "_X.") == (found("101"), found("102"), found("5555"))
