"""Nothing accepted is lost: the real site process under load, stopped in every way.

Each test runs ``meterhub run`` with 40 simulated Kaifa meters sending 20 telegrams a
second each (800 telegrams, about 9,000 values a second), then compares the store with
the journal: every journaled frame must be stored exactly once, with its journal seq.
"""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import anyio

from tests.e2e.site_process import (
    SiteProcess,
    journal_contents,
    rows_per_seq,
    stored_seqs,
    wait_until,
    write_config,
)
from tests.pg import PgServer


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'meterhub.db'}"


async def assert_everything_stored(config: Path, url: str) -> None:
    journal = await journal_contents(config)
    telegrams = journal.telegrams()
    stored_rows, stored_seqs_count, cursor = await stored_seqs(url)
    assert journal.records > 0
    assert cursor == journal.records  # the writer's cursor reached the end of the journal
    # every journaled telegram is in the store, and each exactly once
    assert stored_seqs_count == len(telegrams)
    if stored_rows != sum(telegrams.values()):  # name the frames that differ, then fail
        per_seq = await rows_per_seq(url)
        diff = [(seq, d, per_seq.get(seq)) for seq, d in journal.decoded.items()
                if per_seq.get(seq) not in (d[2], None)]  # fmt: skip
        raise AssertionError(f"{stored_rows} rows stored, {sum(telegrams.values())} expected;"
                             f" differing frames: {diff[:10]}")  # fmt: skip


async def test_clean_stop_under_load_stores_everything(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    config = write_config(tmp_path, store_url=url)
    site = SiteProcess(config, tmp_path / "site.log")
    await wait_until(lambda: _has_rows(url, 2000), 60, "2,000 stored rows")
    assert site.stop(signal.SIGTERM) == 0, site.text()
    assert "stopped cleanly" in site.text()
    await assert_everything_stored(config, url)


async def test_kill_9_under_load_then_restart_recovers_everything(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    # the writer commits every 3 s, the journal every 50 ms: killed a second after a
    # commit, the site leaves about 800 frames on disk that the store does not have
    config = write_config(tmp_path, store_url=url, writer_flush_s=3.0)
    site = SiteProcess(config, tmp_path / "site.log")
    await wait_until(lambda: _has_rows(url, 2000), 60, "2,000 stored rows")
    await anyio.sleep(1.0)
    site.stop(signal.SIGKILL)
    records_before = (await journal_contents(config)).records
    _, _, cursor_before = await stored_seqs(url)
    assert cursor_before < records_before  # the kill left frames journaled but unstored

    again = SiteProcess(config, tmp_path / "site2.log")
    await wait_until(lambda: _cursor_at_least(url, records_before), 60, "catch-up")
    assert again.stop(signal.SIGTERM) == 0, again.text()
    assert "catching up from the journal" in again.text()
    await assert_everything_stored(config, url)


async def test_postgres_down_for_a_minute_under_load(tmp_path: Path, pg_server: PgServer,
                                                     pg_dsn: str) -> None:  # fmt: skip
    config = write_config(tmp_path, store_url=pg_dsn)
    site = SiteProcess(config, tmp_path / "site.log")
    await wait_until(lambda: _has_rows(pg_dsn, 2000), 60, "2,000 stored rows")
    pg_server.stop()
    try:
        await wait_until(lambda: _log_has(site, "not ready: store"), 30, "readiness to say so")
        await anyio.sleep(60)  # the scenario itself: a minute of load with the store away
    finally:
        pg_server.start()
    await wait_until(lambda: _log_has(site, "store recovered"), 60, "the store to come back")
    assert site.stop(signal.SIGTERM) == 0, site.text()
    await assert_everything_stored(config, pg_dsn)


def _small_disk() -> None:
    # runs in the child: files may not grow past 2 MB, and exceeding that is an error
    # (EFBIG) rather than a fatal signal, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, resource.RLIM_INFINITY))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


async def test_full_journal_disk_is_reported_clearly(tmp_path: Path, pg_dsn: str) -> None:
    config = write_config(tmp_path, store_url=pg_dsn)
    site = SiteProcess(config, tmp_path / "site.log", preexec_fn=_small_disk)
    await wait_until(lambda: _log_has(site, "not ready: journal"), 60, "readiness to say so")
    text = site.text()
    assert "disk full while writing segment" in text
    code = site.stop(signal.SIGTERM)
    text = site.text()
    assert "Traceback" not in text
    # what could not reach the disk is named on the way out, never silently dropped
    assert code == 0 or "meterhub: error: " in text


async def _has_rows(url: str, n: int) -> bool:
    try:
        rows, _, _ = await stored_seqs(url)
    except Exception:  # the database is not created yet
        return False
    return rows >= n


async def _cursor_at_least(url: str, seq: int) -> bool:
    _, _, cursor = await stored_seqs(url)
    return cursor >= seq


async def _log_has(site: SiteProcess, text: str) -> bool:
    return text in site.text()
