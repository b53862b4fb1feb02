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
        unmapped: the telegram carries numbers but no profile names any of them (a
            list nobody profiled yet): see ``meterhub profile draft``.
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
    unmapped: bool = False


def is_unmapped(values: dict[str, Scalar], unnamed: int = 0) -> bool:
    """Tell whether a telegram's numbers are all unnamed or named only by their OBIS code.

    ``unnamed`` counts numbers that got no name at all (positions of a list no profile
    describes). Text alone (a meter number, a clock) is not data, so it does not count.
    """
    named = False
    numbers = unnamed
    for name, value in values.items():
        if type(value) is int or type(value) is float:
            numbers += 1
            if not name.startswith("obis_"):
                named = True
                break
    return numbers > 0 and not named
