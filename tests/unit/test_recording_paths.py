"""Recording files resolve inside the spool only: traversal, encodings and symlinks refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contact_center.recording.errors import RecordingMissing, UnsafePath
from contact_center.recording.paths import (
    check_name,
    file_name_from_asterisk,
    resolve_in_spool,
)

TRAVERSALS = [
    "../etc/passwd",
    "..",
    "../../x.wav",
    "a/../../x.wav",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "x.wav\x00.mp3",
    ".hidden.wav",
    "a b.wav",
    "",
    "x" * 300,
]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        resolve_in_spool(tmp_path, name)


def test_asterisk_names_are_reduced_to_the_file_name() -> None:
    full = "/var/spool/asterisk/monitor/20261122-104833-1795344512.1.wav"

    assert "20261122-104833-1795344512.1.wav" == file_name_from_asterisk(full)
    assert "20261122-104833-1795344512.1.wav" == check_name("20261122-104833-1795344512.1.wav")


def test_a_file_in_the_spool_resolves(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"x")

    assert (tmp_path / "a.wav").resolve() == resolve_in_spool(tmp_path, "a.wav")


def test_missing_file_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(RecordingMissing):
        resolve_in_spool(tmp_path, "nope.wav")


def test_symlink_leaving_the_spool_is_refused(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"secret")
    os.symlink(secret, spool / "link.wav")

    with pytest.raises(UnsafePath):
        resolve_in_spool(spool, "link.wav")


def test_symlink_inside_the_spool_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "real.wav").write_bytes(b"x")
    os.symlink(tmp_path / "real.wav", tmp_path / "alias.wav")

    assert (tmp_path / "real.wav").resolve() == resolve_in_spool(tmp_path, "alias.wav")
