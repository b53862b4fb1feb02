"""``meterhub replay`` repairs the store after a key fix, and never duplicates."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterhub.adapters.codecs import MeterDecoder
from meterhub.adapters.journal import Journal
from meterhub.adapters.simulator import SimulatedMeter
from meterhub.model import RawFrame, Rejection
from tests.e2e.site_process import stored_seqs

RIGHT = "000102030405060708090A0B0C0D0E0F"
WRONG = "F0E0D0C0B0A090807060504030201000"
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def config(tmp_path: Path, key: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n'
                    f'[[meters]]\nid = "house"\nformat = "mbus"\nport = "/dev/null"\nkey = "{key}"\n')  # fmt: skip
    return path


async def journal_frames(tmp_path: Path, count: int) -> None:
    """What a site with the wrong key would have journaled: raw frames, before decoding."""
    meter = SimulatedMeter("kaifa_flat", "181220000001", bytes.fromhex(RIGHT), seed=3, start=T0)
    framer = MeterDecoder("mbus")
    async with Journal(tmp_path / "data" / "journal") as journal:
        for i in range(count):
            ts = T0 + timedelta(seconds=5 * i)
            for payload in framer.frame(meter.telegram(ts)):
                assert isinstance(payload, bytes)
                journal.append(RawFrame(meter_id="house", transport="serial", received_at=ts,
                                        payload=payload))  # fmt: skip
        await journal.flush()


def replay(cfg: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "meterhub.cli", "replay", "-c", str(cfg), *args],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_replay_after_a_key_fix_fills_the_store_once(tmp_path: Path) -> None:
    await journal_frames(tmp_path, 30)
    url = f"sqlite:///{tmp_path / 'data' / 'meterhub.db'}"
    out = replay(config(tmp_path, WRONG))
    assert "replayed 30 frames, 0 readings decoded, 0 rows new" in out
    out = replay(config(tmp_path, RIGHT))
    assert "replayed 30 frames, 30 readings decoded" in out
    rows, seqs, _ = await stored_seqs(url)
    assert seqs == 30
    assert f"{rows} rows new" in out
    # replaying again changes nothing
    assert "0 rows new" in replay(config(tmp_path, RIGHT))
    assert (await stored_seqs(url))[0] == rows


async def test_replay_span_by_time_and_meter(tmp_path: Path) -> None:
    await journal_frames(tmp_path, 30)
    cfg = config(tmp_path, RIGHT)
    out = replay(cfg, "--from", (T0 + timedelta(seconds=50)).isoformat(),
                 "--to", (T0 + timedelta(seconds=100)).isoformat())  # fmt: skip
    assert "replayed 10 frames, 10 readings decoded" in out
    assert "replayed 10 frames" in replay(cfg, "--meter", "house", "--to",
                                          (T0 + timedelta(seconds=50)).isoformat())  # fmt: skip


def _refused(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "meterhub.cli", "replay", "-c", str(cfg), *args],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr  # usage + one line
    return result


async def test_replay_refuses_what_can_never_replay_anything(tmp_path: Path) -> None:
    await journal_frames(tmp_path, 3)
    cfg = config(tmp_path, RIGHT)
    later, t0 = (T0 + timedelta(hours=1)).isoformat(), T0.isoformat()
    for args, code, says in [
        (["--from", "yesterday"], 2, "argument --from: expected an ISO 8601 time"),
        (["--to", "2026-13-01"], 2, "argument --to: expected an ISO 8601 time"),
        (["--meter", "nope"], 2, "--meter 'nope' is not a configured meter; configured: house"),
        (["--from", later, "--to", t0], 2, "is not before --to"),
        (["--from", t0, "--to", t0], 2, "the span is empty"),
        # a span the journal has nothing in: exit 1 naming the span and what it holds
        (["--from", later], 1, (f"no journaled frames in {later} .. the end for any meter; "
                                f"the journal holds 3 frames received since {t0}")),
    ]:  # fmt: skip
        result = _refused(cfg, *args)
        assert result.returncode == code, (args, result.stderr)
        assert says in result.stderr, (args, result.stderr)


def test_replay_refuses_while_the_site_holds_the_journal(tmp_path: Path) -> None:
    import fcntl
    import os

    journal_dir = tmp_path / "data" / "journal"
    journal_dir.mkdir(parents=True)
    fd = os.open(journal_dir / "journal.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = subprocess.run([sys.executable, "-m", "meterhub.cli", "replay", "-c",
                                 str(config(tmp_path, RIGHT))],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    finally:
        os.close(fd)
    assert result.returncode == 1
    assert "meterhub: error: " in result.stderr
    assert "Traceback" not in result.stderr


async def test_replay_overwrite_repairs_wrong_values(tmp_path: Path) -> None:
    await journal_frames(tmp_path, 10)
    cfg = config(tmp_path, RIGHT)
    replay(cfg)
    db = tmp_path / "data" / "meterhub.db"
    with sqlite3.connect(db) as con:  # a wrong value, as a broken profile would store
        good = con.execute("SELECT value FROM readings WHERE journal_seq = 3 AND "
                           "metric = 'voltage_l1_v'").fetchone()[0]  # fmt: skip
        con.execute("UPDATE readings SET value = -1 WHERE journal_seq = 3")
    assert "0 rows new" in replay(cfg)  # a plain replay keeps stored rows
    out = replay(cfg, "--overwrite")
    assert "replayed 10 frames, 10 readings decoded" in out
    with sqlite3.connect(db) as con:
        repaired = con.execute("SELECT value FROM readings WHERE journal_seq = 3 AND "
                               "metric = 'voltage_l1_v'").fetchone()[0]  # fmt: skip
        assert con.execute("SELECT count(*) FROM readings WHERE value = -1").fetchone()[0] == 0
    assert repaired == good


async def test_replay_frames_rejected_records_again_and_recovers_what_decodes(
    tmp_path: Path,
) -> None:
    """Bytes an older framer skipped are in the journal: a replay with today's framer
    finds the telegrams among them, and counts the rest as still rejected."""
    meter = SimulatedMeter("kaifa_flat", "181220000001", bytes.fromhex(RIGHT), seed=3, start=T0)
    async with Journal(tmp_path / "data" / "journal") as journal:
        for i in range(4):
            ts = T0 + timedelta(seconds=5 * i)
            skipped = b"\x00\xff" + meter.telegram(ts) if i % 2 else b"\x00\x01noise"
            journal.append(RawFrame(meter_id="house", transport="serial", received_at=ts,
                                    payload=skipped, format="mbus", rejected=Rejection(
                                        reason="unsupported", detail="no frame found",
                                        offset=100 * i)))  # fmt: skip
        await journal.flush()
    out = replay(config(tmp_path, RIGHT))
    assert "replayed 4 frames (4 rejected when received, 2 decode now), 2 readings" in out
    _, seqs, _ = await stored_seqs(f"sqlite:///{tmp_path / 'data' / 'meterhub.db'}")
    assert seqs == 2
