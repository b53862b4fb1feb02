"""``capture = true``: a meter's raw stream in a file a user can send, decodable as it is."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING

import msgspec

from tests.e2e.site_process import SiteProcess, free_port
from tests.unit.actors.test_input_actor import frames_of, vector
from tests.unit.actors.test_unprofiled_meters import mbus_frames, positional_list

if TYPE_CHECKING:
    from pathlib import Path

KEY = "000102030405060708090A0B0C0D0E0F"


def decode(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "meterhub.cli", "decode", *args],
                          input=stdin, capture_output=True, timeout=60, check=False)  # fmt: skip


def _chunks(capture: Path) -> int:
    return capture.read_text().count(" bytes\n") if capture.exists() else 0


def test_a_captured_meter_stream_decodes_with_its_key_and_holds_no_key(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text("\n".join([
        f'data_dir = "{tmp_path / "data"}"', "[api]", f'listen = "127.0.0.1:{free_port()}"',
        'auth = "open-on-loopback"', "[demo]", "heartbeat_interval = 3600",
        "[[meters]]", 'id = "kitchen"', 'transport = "simulator"', f'key = "{KEY}"',
        "capture = true", 'simulator = { kind = "kaifa_flat", interval = 0.1 }',
        "[[meters]]", 'id = "plain"', 'transport = "simulator"',
        'simulator = { kind = "dsmr5", interval = 0.1 }',
    ]) + "\n")  # fmt: skip
    capture = tmp_path / "data" / "captures" / "kitchen.hex"
    site = SiteProcess(config, tmp_path / "site.log")
    try:
        end = time.monotonic() + 40
        while time.monotonic() < end and _chunks(capture) < 5:
            time.sleep(0.1)  # polling the other process's file
    finally:
        assert site.stop() == 0, site.text()
    text = capture.read_text()
    assert text.startswith("# meterhub capture of meter kitchen")
    assert KEY not in text.upper()
    # only the meter that asked for it is captured
    assert sorted(p.name for p in capture.parent.iterdir()) == ["kitchen.hex"]
    result = decode(str(capture), "--key", KEY)
    assert result.returncode == 0, result.stderr
    telegrams = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert len(telegrams) >= 4
    assert all(t["values"]["energy_import_wh"] > 0 for t in telegrams)
    # without the key the same file says what is missing
    keyless = decode(str(capture))
    assert keyless.returncode == 1
    assert b'"no_key"' in keyless.stderr


def test_decode_exits_non_zero_for_an_unmapped_list_unless_showing_objects() -> None:
    capture = mbus_frames(positional_list(1000, 50)).hex().encode()
    result = decode("-", stdin=capture)
    assert result.returncode == 1
    (telegram,) = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert telegram["unmapped"] is True
    assert b"meterhub profile draft" in result.stderr
    raw = decode("--objects", "-", stdin=capture)
    assert raw.returncode == 0, raw.stderr
    (shown,) = [msgspec.json.decode(line) for line in raw.stdout.splitlines()]
    assert [o["raw"] for o in shown["objects"]][1:3] == [1000, 0]


def test_decode_of_a_mapped_capture_stays_zero() -> None:
    noe = vector("mbus_netznoe_doc_kaifa_ma309m")
    result = decode("--key", noe["key_hex"], "-", stdin=frames_of(noe).hex().encode())
    assert result.returncode == 0, result.stderr
    assert b"unmapped" not in result.stdout
