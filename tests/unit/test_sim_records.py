"""Durable records the simulator writes like Asterisk: queue_log, Master.csv, WAV."""

from __future__ import annotations

import csv
import wave
from pathlib import Path

from contact_center.sim.records import CdrCsv, CdrRecord, QueueLog, Recording


def record(**overrides: object) -> CdrRecord:
    values: dict[str, object] = dict(
        source="+74951234567", destination="support", destination_context="to-queue",
        caller_id='"Ivan Petrov" <+74951234567>', channel="Local/4951110001@inbound-00000000;2",
        destination_channel="Local/101@agents-00000001;1", last_application="Queue",
        last_data="support,tT,,,300", start=1795344512.0, answer=1795344512.5,
        end=1795344520.9, disposition="ANSWERED", uniqueid="1795344512.1",
        linkedid="1795344512.0", userfield="queue:support", ivr_choice="2", sequence=7,
    )  # fmt: skip
    values.update(overrides)
    return CdrRecord(**values)  # type: ignore[arg-type]


def test_master_csv_row_has_the_cdr_csv_columns(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    CdrCsv(str(path)).write(record())

    (row,) = list(csv.reader(path.open()))

    assert 21 == len(row)
    assert ["", "+74951234567", "support", "to-queue"] == row[:4]
    assert ["2026-11-22 10:48:32", "2026-11-22 10:48:32", "2026-11-22 10:48:40"] == row[9:12]
    assert ["8", "8", "ANSWERED", "DOCUMENTATION", "1795344512.1"] == row[12:17]
    assert ["1795344512.0", "7"] == row[19:]
    assert '"+74951234567",' in path.read_text()  # strings quoted, numbers not
    assert ",8,8," in path.read_text()


def test_rows_over_1024_bytes_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    CdrCsv(str(path)).write(record(userfield="x" * 2000))

    assert not path.exists() or "" == path.read_text()


def test_queue_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    log = QueueLog(str(path))
    log.write("MANAGER", "support", "Operator 101", "ADDMEMBER", "")
    log.write("1795344512.1", "support", "NONE", "ENTERQUEUE", "", "+74951234567", "1")

    lines = [line.split("|", 1)[1] for line in path.read_text().splitlines()]

    assert ["MANAGER|support|Operator 101|ADDMEMBER|",
            "1795344512.1|support|NONE|ENTERQUEUE||+74951234567|1"] == lines  # fmt: skip


def test_recording_holds_the_bridged_seconds(tmp_path: Path) -> None:
    rec = Recording(tmp_path / "a.wav")
    assert 44 == (tmp_path / "a.wav").stat().st_size  # header only until bridged

    rec.bridge_started(100.0)
    rec.close(102.5)

    with wave.open(str(tmp_path / "a.wav")) as wav:
        assert (1, 2, 8000, 20000) == (
            wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
        )  # fmt: skip
