"""`contact-center ivr check` on a set of broken menu files: exact file:line: reason lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contact_center.cli import main
from contact_center.testing import silent_prompts
from tests.conftest import FIXTURES

BROKEN = FIXTURES / "ivr_broken"
SHIPPED = Path(__file__).resolve().parents[2] / "ivr_menus"

EXPECTED = """\
{d}/duplicate.yaml:5: duplicate key 'hello'
{d}/loop.yaml:3: loop without input: hello -> mark -> again -> hello
{d}/missing_prompt.yaml:5: missing prompt file prompts/en/no-such-prompt.wav
{d}/missing_target.yaml:7: missing target 'sales'
{d}/missing_target.yaml:8: missing target 'good:nowhere'
{d}/syntax.yaml:6: YAML syntax error: expected ',' or ']', but got ':' \
(while parsing a flow sequence started at line 5)
{d}/unknown_type.yaml:4: unknown node type 'ply' (expected one of: play, menu, collect, \
identify, say, language, hours, set, queue, transfer, callback, announce, hangup, goto, sub, \
return)
{d}/unreachable.yaml:7: unreachable node 'forgotten'
{d}/unsafe.yaml:5: unsafe path '../../../etc/passwd': prompts must stay inside prompts/
{d}/unsafe.yaml:9: unsafe path '/var/lib/asterisk/sounds/en/beep': prompts must stay inside \
prompts/
1 menu file(s) usable: good; 10 problem(s)
"""


def test_ivr_check_names_file_line_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert 1 == main(["ivr", "check", str(BROKEN)])
    assert EXPECTED.format(d=BROKEN) == capsys.readouterr().out


def test_ivr_check_passes_on_the_shipped_menus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    silent_prompts(tmp_path)
    assert 0 == main(["ivr", "check", str(tmp_path)])
    assert "3 menu file(s) usable: bank, common, shop; 0 problem(s)\n" == capsys.readouterr().out
