"""The decoded form of a meter telegram, shared by every codec."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

TelegramFormat = Literal["mbus", "dsmr", "hdlc", "apdu"]
"""Where a telegram came from: M-Bus, DSMR P1, HDLC, or a bare DLMS APDU."""

Scalar = float | int | str


class CosemObject(msgspec.Struct, frozen=True):
    """One object of a telegram as the meter sent it, before and after scaling.

    Attributes:
        obis: ``a.b.c.d.e.f`` logical name, or ``None`` for list entries without one.
        raw: the value as transmitted (ints, strings; octet strings as text or hex).
        scaler: the power-of-ten scaler the meter sent (or the profile's default).
        unit: unit text (``Wh``, ``V`` ...) or ``None``.
        value: ``raw`` with the scaler applied, ``None`` when it cannot be scaled.
        name: canonical metric name, ``obis_<a.b.c.d.e.f>`` when unknown, or ``""``.
    """

    obis: str | None
    raw: Scalar | None
    scaler: int | None
    unit: str | None
    value: Scalar | None
    name: str


class Telegram(msgspec.Struct, frozen=True):
    """A decoded telegram.

    Attributes:
        format: the framing it arrived in.
        meter_number: the meter's serial or equipment id, when the telegram has one.
        timestamp: the meter's clock; timezone-aware when the telegram gives the UTC
            offset, naive local time otherwise.
        values: canonical metric name -> scaled value (energy counters as int Wh).
        units: canonical metric name -> unit, for the values that have one.
        objects: every COSEM object, when the decoder was asked to keep them.
        system_title: the DLMS system title as hex, for ciphered telegrams.
        frame_counter: the DLMS invocation counter, for ciphered telegrams.
        profile: the name of the profile that mapped the values.
        dst: daylight-saving flag from the DSMR timestamp suffix (S/W), else ``None``.
    """

    format: TelegramFormat
    meter_number: str | None
    timestamp: datetime | None
    values: dict[str, Scalar]
    units: dict[str, str]
    objects: list[CosemObject] = msgspec.field(default_factory=list)
    system_title: str | None = None
    frame_counter: int | None = None
    profile: str | None = None
    dst: bool | None = None
