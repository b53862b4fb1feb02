"""Operator metrics at ``/metrics``: per meter, the journal, the store writer.

What an operator puts in Grafana and alerts on. Counters are read from the live state
(the meters' health, the journal's statistics) only when metrics are collected, so a
telegram costs no OpenTelemetry call; the journal's flushes and the store's writes are a
few per second, and are recorded into histograms as they happen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

from meterhub.model import MeterState

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from meterhub.actors._live_board import LiveBoard
    from meterhub.adapters.journal import JournalStatistics
    from meterhub.model import MeterStatus
    from meterhub.platform import Telemetry

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROWS_BUCKETS = (10, 100, 1000, 5000, 10_000, 25_000, 50_000, 100_000, 200_000)


class JournalView:
    """What the metrics read of the journal."""

    def __init__(
        self, statistics: Callable[[], JournalStatistics], cursors: Callable[[], Mapping[str, int]]
    ) -> None:
        self.statistics = statistics
        self.cursors = cursors


class OperatorMetrics:
    """Registers the site's operator instruments on ``telemetry``'s meter."""

    def __init__(self, telemetry: Telemetry, board: LiveBoard, journal: JournalView) -> None:
        self._observation = Observation
        self._board = board
        self._journal = journal
        meter = telemetry.meter
        per_meter: list[tuple[str, str, Callable[[MeterStatus], float]]] = [
            ("meterhub.meter.telegrams.received", "frames its input delivered, each journaled",
             lambda s: s.received),
            ("meterhub.meter.telegrams.decoded", "frames that became readings",
             lambda s: s.readings),
            ("meterhub.meter.telegrams.duplicate", "frames dropped as repeats",
             lambda s: s.duplicates),
        ]  # fmt: skip
        for name, description, read in per_meter:
            meter.create_observable_counter(name, [self._per_meter(read)], "{telegram}",
                                            description)  # fmt: skip
        meter.create_observable_counter(
            "meterhub.meter.telegrams.rejected",
            [self._rejected],
            "{telegram}",
            "frames rejected, by reason (checksum, truncated, wrong_key...)",
        )
        meter.create_observable_gauge(
            "meterhub.meter.state",
            [self._states],
            "1",
            "1 for the state each meter is in, 0 for the others",
        )
        meter.create_observable_gauge(
            "meterhub.meter.last_reading_age",
            [self._ages],
            "s",
            "seconds since each meter's last reading",
        )
        journal_counters: list[tuple[str, str, str, Callable[[JournalStatistics], float]]] = [
            ("meterhub.journal.appended", "{record}", "records appended since start",
             lambda j: j.appended),
            ("meterhub.journal.flushed", "{record}", "records written to disk since start",
             lambda j: j.flushed),
        ]  # fmt: skip
        for name, unit, description, read_j in journal_counters:
            meter.create_observable_counter(name, [self._journal_value(read_j)], unit, description)
        meter.create_observable_gauge("meterhub.journal.size", [self._journal_value(
            lambda j: j.bytes)], "By", "bytes held by the journal's segments")  # fmt: skip
        meter.create_observable_gauge("meterhub.journal.buffered", [self._journal_value(
            lambda j: j.buffered)], "{record}", "records appended, not yet on disk")  # fmt: skip
        meter.create_observable_gauge(
            "meterhub.journal.sink_lag",
            [self._lags],
            "{record}",
            "records each durable sink's cursor is behind the journal",
        )
        self._flush_seconds = meter.create_histogram(
            "meterhub.journal.flush.duration",
            "s",
            "time of one group commit to disk",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._flush_bytes = meter.create_counter(
            "meterhub.journal.flushed.bytes", "By", "bytes written to the journal's segments"
        )
        self._write_seconds = meter.create_histogram(
            "meterhub.store.write.duration",
            "s",
            "time of one store commit of readings",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._write_rows = meter.create_histogram(
            "meterhub.store.batch.rows",
            "{row}",
            "rows in one store commit",
            explicit_bucket_boundaries_advisory=_ROWS_BUCKETS,
        )

    def observe_flush(self, seconds: float, written: int) -> None:
        """One journal group commit."""
        self._flush_seconds.record(seconds)
        if written:
            self._flush_bytes.add(written)

    def observe_write(self, seconds: float, rows: int) -> None:
        """One store commit of readings."""
        self._write_seconds.record(seconds)
        self._write_rows.record(rows)

    def _statuses(self) -> list[MeterStatus]:
        return self._board.statuses()

    def _per_meter(
        self, read: Callable[[MeterStatus], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [self._observation(read(s), {"meter": s.meter_id}) for s in self._statuses()]

        return observe

    def _rejected(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [self._observation(count, {"meter": s.meter_id, "reason": reason})
                for s in self._statuses() for reason, count in s.errors.items()]  # fmt: skip

    def _states(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [self._observation(1 if s.state is state else 0,
                                  {"meter": s.meter_id, "state": state.value})
                for s in self._statuses() for state in MeterState]  # fmt: skip

    def _ages(self, _options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for meter_id in self._board.meters():
            age = self._board.reading_age(meter_id)
            if age is not None:
                out.append(self._observation(age, {"meter": meter_id}))
        return out

    def _journal_value(
        self, read: Callable[[JournalStatistics], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [self._observation(read(self._journal.statistics()))]

        return observe

    def _lags(self, _options: CallbackOptions) -> Iterable[Observation]:
        head = self._journal.statistics().last_seq
        return [self._observation(max(0, head - seq), {"sink": sink})
                for sink, seq in self._journal.cursors().items()]  # fmt: skip
