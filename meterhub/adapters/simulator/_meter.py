"""A simulated meter: a load model behind the exact bytes a real meter puts on the wire."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final, Literal, get_args

from meterhub.adapters.simulator._axdr_encode import cosem_datetime
from meterhub.adapters.simulator._dsmr import dsmr_readings, dsmr_telegram, dsmr_values
from meterhub.adapters.simulator._glo_cipher import glo_cipher
from meterhub.adapters.simulator._identity import system_title_for
from meterhub.adapters.simulator._kaifa import (
    KAIFA_FLAT,
    KAIFA_NESTED,
    KaifaLayout,
    data_notification,
    raw_registers,
    scaled_registers,
)
from meterhub.adapters.simulator._load import LoadModel, MeterState
from meterhub.adapters.simulator._mbus_frames import mbus_frames
from meterhub.adapters.simulator._shapes import HOUSEHOLD, LoadShape

if TYPE_CHECKING:
    from datetime import datetime

MeterKind = Literal["kaifa_flat", "kaifa_nested", "dsmr5"]
"""``kaifa_flat``: Kaifa MA309M, Netz NÖ/EVN layout over M-Bus; ``kaifa_nested``: the
same meter in the TINETZ/Salzburg/Vorarlberg layout; ``dsmr5``: a DSMR 5.0.2 P1 port."""

_LAYOUTS: Final[dict[str, KaifaLayout]] = {"kaifa_flat": KAIFA_FLAT, "kaifa_nested": KAIFA_NESTED}
_VIENNA = "Europe/Vienna"
_AMSTERDAM = "Europe/Amsterdam"
_KEY_LEN = 16
_COUNTER_SPAN = 1 << 20
_INVOKE_MASK = 0x00FFFFFF
_FRAME_COUNTER_MAX = 0xFFFFFFFF


def _start_value(label: str, meter_number: str) -> int:
    """A per-meter starting counter, so meters do not all start at 1."""
    digest = hashlib.sha256(f"{label}:{meter_number}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % _COUNTER_SPAN


class SimulatedMeter:
    """One simulated meter: deterministic load, real wire format, counters that advance.

    ``telegram(ts)`` returns what the meter sends for instant ``ts`` and advances the
    DLMS frame counter and invoke id; ``expected(ts)`` returns the canonical values
    that telegram carries, for round-trip checks. Both are deterministic in
    (kind, meter_number, seed, pv, shape, start, ts); the bytes also depend on how
    many telegrams were sent before (the counters).

    Args:
        kind: wire format, see ``MeterKind``.
        meter_number: meter number (flat), ``1KFM...`` serial (nested) or equipment id
            (DSMR); ASCII.
        key: the AES-128 key for Kaifa kinds, ``None`` to send the plaintext APDU;
            must be ``None`` for ``dsmr5`` (Dutch P1 is not encrypted).
        seed: seeds the load model.
        pv: the site has a PV system and exports around midday.
        start: when the simulation (and its energy integration) starts, timezone-aware.
        shape: the daily load pattern.
        frame_counter: first DLMS invocation counter; derived from the number if ``None``.
        invoke_id: first long-invoke-id; derived from the number if ``None``.

    Raises:
        ValueError: on an unknown kind, a key that is not 16 bytes, a key for
            ``dsmr5``, a non-ASCII meter number or a naive ``start``.
    """

    def __init__(
        self,
        kind: MeterKind,
        meter_number: str,
        key: bytes | None,
        *,
        seed: int,
        pv: bool = False,
        start: datetime,
        shape: LoadShape = HOUSEHOLD,
        frame_counter: int | None = None,
        invoke_id: int | None = None,
    ) -> None:
        if kind not in get_args(MeterKind):
            raise ValueError(f"unknown meter kind {kind!r}")
        if key is not None and len(key) != _KEY_LEN:
            raise ValueError(f"key must be 16 bytes, got {len(key)}")
        if kind == "dsmr5" and key is not None:
            raise ValueError("DSMR 5 P1 telegrams are not encrypted; pass key=None")
        if not meter_number.isascii():
            raise ValueError(f"meter number {meter_number!r} is not ASCII")
        self._kind: MeterKind = kind
        self._meter_number = meter_number
        self._key = key
        self._layout = _LAYOUTS.get(kind)
        tz = _AMSTERDAM if kind == "dsmr5" else _VIENNA
        self._load = LoadModel(seed, start=start, pv=pv, shape=shape, tz=tz)
        self._system_title = system_title_for(meter_number)
        self._frame_counter = (
            frame_counter if frame_counter is not None else _start_value("fc", meter_number)
        )
        self._invoke_id = invoke_id if invoke_id is not None else _start_value("id", meter_number)

    @property
    def kind(self) -> MeterKind:
        """The wire format."""
        return self._kind

    @property
    def meter_number(self) -> str:
        """The meter number as sent in the telegram."""
        return self._meter_number

    @property
    def key(self) -> bytes | None:
        """The AES key, ``None`` for plaintext meters."""
        return self._key

    @property
    def system_title(self) -> bytes:
        """The DLMS system title (``KFM`` + 5 bytes)."""
        return self._system_title

    @property
    def frame_counter(self) -> int:
        """The invocation counter the next ciphered telegram will carry."""
        return self._frame_counter

    @property
    def load(self) -> LoadModel:
        """The load model behind the meter."""
        return self._load

    def state_at(self, ts: datetime) -> MeterState:
        """Return the full measured state at ``ts`` (more than any telegram shows)."""
        return self._load.state_at(ts)

    def telegram(self, ts: datetime) -> bytes:
        """Return the bytes the meter sends for instant ``ts`` and advance its counters.

        Kaifa kinds: concatenated EN 13757-2 long frames; ``dsmr5``: the ASCII telegram.

        Raises:
            ValueError: if ``ts`` is naive or before ``start``, or the frame counter
                is exhausted.
        """
        state = self._load.state_at(ts)
        layout = self._layout
        if layout is None:
            readings = dsmr_readings(state, self._load.tz)
            return dsmr_telegram(
                readings,
                equipment_id=self._meter_number,
                gas_equipment_id="G" + self._meter_number,
            )
        apdu = data_notification(
            layout,
            invoke_id=self._invoke_id,
            local_time=cosem_datetime(ts.astimezone(self._load.tz)),
            meter_number=self._meter_number,
            raws=raw_registers(layout, state),
        )
        self._invoke_id = (self._invoke_id + 1) & _INVOKE_MASK
        if self._key is not None:
            if self._frame_counter > _FRAME_COUNTER_MAX:
                raise ValueError("frame counter exhausted; a real meter needs a new key")
            apdu = glo_cipher(
                apdu,
                key=self._key,
                system_title=self._system_title,
                frame_counter=self._frame_counter,
                security_control=layout.security_control,
            )
            self._frame_counter += 1
        return b"".join(mbus_frames(apdu))

    def expected(self, ts: datetime) -> dict[str, float | int]:
        """Return the canonical values the telegram for ``ts`` carries; counters unchanged.

        Names and units follow the vector files: energy in Wh (int), power in W (int),
        voltage V, current A, power factor, gas ``mbus_1_volume_m3``. Values are what
        the wire shows after scaling (0.1 V, 0.01 A, 0.001 PF; whole A on DSMR).

        Raises:
            ValueError: if ``ts`` is naive or before ``start``.
        """
        state = self._load.state_at(ts)
        if self._layout is None:
            return dsmr_values(dsmr_readings(state, self._load.tz))
        return scaled_registers(self._layout, raw_registers(self._layout, state))
