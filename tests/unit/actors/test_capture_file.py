"""The capture file: capped with one older file kept, and never a reason for the input to stop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from meterhub.adapters.codecs import Telegram, iter_decode, parse_capture_text
from meterhub.adapters.inputs import CaptureFile
from tests.unit.actors.test_input_actor import frames_of, vector

if TYPE_CHECKING:
    from pathlib import Path

AT = datetime(2026, 12, 4, 10, tzinfo=UTC)


def test_a_full_capture_moves_aside_and_both_files_still_decode(tmp_path: Path) -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    telegram = frames_of(noe)
    path = tmp_path / "captures" / "noe.hex"
    capture = CaptureFile(path, "noe", "mbus", limit=2 * len(telegram))
    for _ in range(4):
        capture.write(telegram, AT)
    capture.close()
    older = path.with_name("noe.hex.1")
    assert older.exists()
    key = bytes.fromhex(noe["key_hex"])
    for kept in (path, older):
        text = kept.read_text()
        assert text.startswith("# meterhub capture of meter noe (format mbus)")
        decoded = list(iter_decode(parse_capture_text(text), key=key))
        assert decoded, kept
        assert all(isinstance(t, Telegram) for t in decoded), decoded
        assert {t.values["energy_import_wh"] for t in decoded if isinstance(t, Telegram)} == {12937}


def test_a_capture_that_cannot_be_written_stops_quietly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the captures folder should be")
    capture = CaptureFile(blocker / "noe.hex", "noe", "mbus")
    capture.write(b"\x68\x01", AT)  # no exception: the meter's input goes on
    capture.write(b"\x68\x02", AT)
    assert blocker.read_text() == "a file where the captures folder should be"
