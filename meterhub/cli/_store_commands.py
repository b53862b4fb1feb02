"""``meterhub replay`` and ``meterhub migrate``: working on the journal and the store."""

from __future__ import annotations

import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from meterhub._meters import load_directory, load_profiles, pipeline_factory
from meterhub.adapters.journal import Journal
from meterhub.adapters.stores import ReadingRow, open_store, rows_from_reading
from meterhub.model import Reading
from meterhub.platform import ConfigError
from meterhub.settings import Settings, load_settings

if TYPE_CHECKING:
    import argparse

BATCH = 5000


def add_parsers(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register ``replay`` and ``migrate``."""
    replay = commands.add_parser(
        "replay",
        help="decode a span of the journal again into the store (backfill, repair)",
        description="Re-decodes journaled raw frames with the current keys and profiles and "
        "writes the readings to the store; rows already stored are kept (writes are "
        "idempotent) unless --overwrite replaces them. Stop the site first: the journal "
        "is locked while it runs.",
    )
    _site_args(replay)
    replay.add_argument("--meter", help="only this meter id")
    replay.add_argument("--from", dest="start", type=_time, help="ISO 8601 time, e.g. 2026-11-01")
    replay.add_argument("--to", dest="end", type=_time, help="ISO 8601 time (exclusive)")
    replay.add_argument("--overwrite", action="store_true",
                        help="replace stored values too (repair after a profile fix)")  # fmt: skip
    replay.set_defaults(func=run_replay)
    migrate = commands.add_parser("migrate", help="create or upgrade the store's schema")
    _site_args(migrate)
    migrate.set_defaults(func=run_migrate)


def _site_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    parser.add_argument("--data-dir", help="folder of the journal and the store")


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError("--from/--to", "", f"expected an ISO 8601 time, got {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, tuple[str, object]] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = ("--data-dir", args.data_dir)
    return load_settings(args.config, overrides)


def run_migrate(args: argparse.Namespace) -> int:
    """Apply the store's migrations and print the schema version."""
    settings = _settings(args)

    async def migrate() -> int:
        async with open_store(settings.store_url()) as store:
            return await store.migrate()

    version = anyio.run(migrate)
    print(f"store schema at version {version}")
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """Re-decode the chosen span into the store with a progress line on stderr."""
    settings = _settings(args)
    done = anyio.run(_replay, settings, _Span(args.meter, args.start, args.end), args.overwrite)
    outcome = "rows written" if args.overwrite else "rows new"
    print(f"replayed {done[0]} frames, {done[1]} readings decoded, {done[2]} {outcome}")
    return 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Span:
    meter: str | None
    start: datetime | None
    end: datetime | None


async def _replay(settings: Settings, span: _Span, overwrite: bool) -> tuple[int, int, int]:
    profiles = load_profiles(settings)
    async with open_store(settings.store_url()) as store, Journal(
        Path(settings.data_dir) / "journal"
    ) as journal:
        await store.migrate()
        directory = await load_directory(store)
        # the pipeline of the live path: same decoding, de-duplication, validation, enrichment
        pipeline = pipeline_factory(settings, profiles, lambda: directory)()
        unknown: set[str] = set()
        progress = _Progress(journal.last_seq)
        frames = readings = inserted = 0
        rows: list[ReadingRow] = []
        for seq, frame in journal.read_span(span.start, span.end, span.meter):
            frames += 1
            outcome = pipeline.run(frame, seq)
            if isinstance(outcome, Reading):
                readings += 1
                rows.extend(rows_from_reading(outcome, seq))
            elif not pipeline.knows(frame.meter_id) and frame.meter_id not in unknown:
                unknown.add(frame.meter_id)
                sys.stderr.write(f"\nskipping frames of {frame.meter_id}: not a configured meter\n")
            if len(rows) >= BATCH:
                inserted += await store.write_readings(rows, overwrite=overwrite)
                rows = []
            progress.show(seq, frames)
        if rows:
            inserted += await store.write_readings(rows, overwrite=overwrite)
        progress.done(frames)
    return frames, readings, inserted


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.shown = 0.0

    def show(self, seq: int, frames: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.1:  # noqa: PLR2004 (ten redraws a second)
            return
        self.shown = now
        share = seq / self.total
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\rreplay [{bar:<30}] {share:4.0%} seq {seq}/{self.total}, "
                         f"{frames} frames in span")  # fmt: skip
        sys.stderr.flush()

    def done(self, frames: int) -> None:
        sys.stderr.write(f"\rreplay [{'#' * 30}] 100% {frames} frames in span\n")
        sys.stderr.flush()
