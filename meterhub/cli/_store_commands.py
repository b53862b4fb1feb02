"""``meterhub replay`` and ``meterhub migrate``: working on the journal and the store."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import anyio

from meterhub._meters import load_directory, load_profiles, pipeline_factory
from meterhub._mqtt import device_rules
from meterhub._plugins import load_site_plugins
from meterhub.adapters.journal import Journal
from meterhub.adapters.stores import ReadingRow, open_store, rows_from_reading
from meterhub.model import DeviceNews, Reading
from meterhub.settings import Settings, load_settings

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
    """An argparse type: argparse reports the error with the option's name and exits 2."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"expected an ISO 8601 time such as 2026-11-01 or 2026-11-01T06:00Z, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc
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
    """Re-decode the chosen span into the store with a progress line on stderr.

    Exits 2 for a span that can hold nothing (an unknown meter, ``--from`` not before
    ``--to``), 1 when the journal has no frame in the span.

    Raises:
        UsageError: the span can hold nothing.
    """
    settings = _settings(args)
    if args.start is not None and args.end is not None and args.start >= args.end:
        raise UsageError(f"--from {args.start.isoformat()} is not before --to "
                         f"{args.end.isoformat()}: the span is empty")  # fmt: skip
    configured = [meter.id for meter in settings.meters]
    # an MQTT device is known from what it sent, not from the configuration
    if args.meter is not None and args.meter not in configured and not settings.mqtt.enabled:
        raise UsageError(f"--meter {args.meter!r} is not a configured meter; configured: "
                         + (", ".join(configured) or "none"))  # fmt: skip
    span = _Span(args.meter, args.start, args.end)
    done = anyio.run(_replay, settings, span, args.overwrite)
    if done.frames == 0:
        print(f"meterhub: no journaled frames in {span.describe()}; the journal holds "
              f"{done.held}", file=sys.stderr)  # fmt: skip
        return 1
    outcome = "rows written" if args.overwrite else "rows new"
    rejected = ""
    if done.rejected:
        # bytes the framer skipped when they arrived, framed again now
        rejected = f" ({done.rejected} rejected when received, {done.recovered} decode now)"
    print(f"replayed {done.frames} frames{rejected}, {done.readings} readings decoded, "
          f"{done.inserted} {outcome}")  # fmt: skip
    return 0


class _Replayed(NamedTuple):
    frames: int
    readings: int
    inserted: int
    held: str
    rejected: int
    recovered: int


class UsageError(Exception):
    """A command line that can never do anything: exit 2 with the message."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Span:
    meter: str | None
    start: datetime | None
    end: datetime | None

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the start"
        end = self.end.isoformat() if self.end else "the end"
        who = f"meter {self.meter}" if self.meter else "any meter"
        return f"{start} .. {end} for {who}"


async def _replay(settings: Settings, span: _Span, overwrite: bool) -> _Replayed:
    profiles = load_profiles(settings)
    async with (
        open_store(settings.store_url()) as store,
        Journal(Path(settings.data_dir) / "journal") as journal,
    ):
        await store.migrate()
        directory = await load_directory(store)
        # the pipeline of the live path: same decoding, de-duplication, validation, enrichment
        plugins = load_site_plugins(settings)
        pipeline = pipeline_factory(settings, profiles, lambda: directory,
                                    device_rules(settings), plugins.decoders)()
        unknown: set[str] = set()
        progress = _Progress(journal.last_seq)
        frames = readings = inserted = rejected = recovered = 0
        rows: list[ReadingRow] = []
        for seq, frame in journal.read_span(span.start, span.end, span.meter):
            frames += 1
            rejected += frame.rejected is not None
            outcome = pipeline.run(frame, seq)
            # an MQTT device's record may hold several readings (a batch) or none
            found = (outcome.readings if isinstance(outcome, DeviceNews)
                     else [outcome] if isinstance(outcome, Reading) else [])  # fmt: skip
            if found:
                readings += len(found)
                recovered += frame.rejected is not None
                for reading in found:
                    rows.extend(rows_from_reading(reading, seq))
            elif not pipeline.knows(frame.meter_id, frame.format) and frame.meter_id not in unknown:
                unknown.add(frame.meter_id)
                sys.stderr.write(f"\nskipping frames of {frame.meter_id}: not a configured meter\n")
            if len(rows) >= BATCH:
                inserted += await store.write_readings(rows, overwrite=overwrite)
                rows = []
            progress.show(seq, frames)
        if rows:
            inserted += await store.write_readings(rows, overwrite=overwrite)
        progress.done(frames)
        held = "no frames" if frames else _journal_range(journal)
    return _Replayed(frames, readings, inserted, held, rejected, recovered)


def _journal_range(journal: Journal) -> str:
    """What the journal holds, for an empty span's error (reads its first record only)."""
    first = next(iter(journal.read_span()), None)
    if first is None:
        return "no frames"
    return (
        f"{journal.last_seq - first[0] + 1} frames received since "
        f"{first[1].received_at.isoformat()}"
    )


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
