"""Menu loading and validation, and the pure AGI wire helpers."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contact_center.ivr.agi import AgiReply, parse_reply
from contact_center.ivr.menus import MenuError, MenuLibrary, load_yaml_with_lines
from contact_center.ivr.session import quote
from contact_center.sim.agi import parse_agi_args

MAIN = """\
start: hello
nodes:
  hello:
    type: play
    prompt: hello
    next: {target}
"""
LIB = """\
nodes:
  bye:
    type: hangup
"""


def make_dir(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "prompts" / "en").mkdir(parents=True, exist_ok=True)
    with wave.open(str(tmp_path / "prompts" / "en" / "hello.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0")
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def test_yaml_lines_point_at_keys_and_values() -> None:
    data = load_yaml_with_lines("a: 1\nnodes:\n  x:\n    type: play\n")
    assert (1, 2) == (data.key_lines["a"], data.key_lines["nodes"])
    assert 3 == data["nodes"].key_lines["x"]
    assert 4 == data["nodes"]["x"].value_lines["type"]


def test_shared_node_by_reference_is_reachable(tmp_path: Path) -> None:
    library = MenuLibrary(make_dir(tmp_path, main=MAIN.format(target="lib:bye"), lib=LIB))
    assert [] == library.reload()
    menu, node = library.current.resolve("main", "lib:bye")
    assert ("lib", "hangup") == (menu.name, node.type)


def test_broken_file_does_not_take_down_the_others(tmp_path: Path) -> None:
    directory = make_dir(
        tmp_path,
        main=MAIN.format(target="bye2"),
        other=MAIN.format(target="bye") + "  bye:\n    type: hangup\n",
    )
    library = MenuLibrary(directory)
    errors = library.reload()
    assert [MenuError(str(directory / "main.yaml"), 6, "missing target 'bye2'")] == errors
    assert ["other"] == sorted(library.names())


def test_failed_reload_keeps_the_previous_version(tmp_path: Path) -> None:
    directory = make_dir(tmp_path, main=MAIN.format(target="lib:bye"), lib=LIB)
    library = MenuLibrary(directory)
    assert [] == library.reload()
    before = library.current.menus["main"]
    (directory / "main.yaml").write_text("start: [oops\n")
    errors = library.reload()
    assert [str(directory / "main.yaml")] == [e.path for e in errors]
    assert before is library.current.menus["main"]
    (directory / "main.yaml").write_text(MAIN.format(target="lib:missing"))
    assert ["missing target 'lib:missing'"] == [e.reason for e in library.reload()]
    assert before is library.current.menus["main"]
    assert ["lib", "main"] == sorted(library.names())


def test_loop_through_an_input_node_is_fine_but_not_without(tmp_path: Path) -> None:
    with_input = """\
start: ask
nodes:
  ask:
    type: menu
    prompt: hello
    options: {"1": again}
    on_invalid: ask
  again:
    type: goto
    target: ask
"""
    library = MenuLibrary(make_dir(tmp_path, main=with_input))
    assert [] == library.reload()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1 (4951110003)", AgiReply(200, "1", "4951110003")),
        ("200 result= (timeout)", AgiReply(200, "", "timeout")),
        ("200 result=12 (timeout)", AgiReply(200, "12", "timeout")),
        ("200 result=49 endpos=7360", AgiReply(200, "49", "", 7360)),
        ("200 result=-1 endpos=0", AgiReply(200, "-1", "", 0)),
        (
            '200 result=1 ("Ivan Petrov" <+74951234567>)',
            AgiReply(200, "1", '"Ivan Petrov" <+74951234567>'),
        ),
        ("511 Command Not Permitted on a dead channel or intercept routine", AgiReply(511)),
        ("510 Invalid or unknown command", AgiReply(510)),
    ],
)
def test_parse_reply(line: str, expected: AgiReply) -> None:
    got = parse_reply(line)
    assert (expected.code, expected.result, expected.data, expected.endpos) == (
        got.code,
        got.result,
        got.data,
        got.endpos,
    )


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n")), max_size=5))
def test_quoted_arguments_read_back_as_asterisk_parses_them(words: list[str]) -> None:
    line = " ".join(["SET", "VARIABLE", *[quote(w) for w in words]])
    assert ["SET", "VARIABLE", *words] == parse_agi_args(line)


def test_quote_refuses_newlines() -> None:
    with pytest.raises(ValueError, match="newline"):
        quote("x\nHANGUP")
