"""Identities of simulated meters: DLMS system titles, logical device names and demo keys."""

from __future__ import annotations

import hashlib
import re

_KAIFA_SERIAL = re.compile(r"1KFM(\d{10})")
_TRAILING_DIGITS = re.compile(r"(\d{6})$")
_KAIFA_PREFIX = b"KFM"
_DEMO_KEY_LABEL = b"meterhub simulator demo key v1:"


def system_title_for(meter_number: str) -> bytes:
    """Return the 8-byte DLMS system title a Kaifa meter with this number would use.

    ``KFM`` names the maker (IEC 62056-5-3 §4.3.4: three-letter FLAG id, then five
    bytes of the manufacturer's choice). Kaifa puts the last six serial digits as a
    24-bit integer in the last three bytes: ``1KFM0100000035`` -> ``KFM 10 10 000023``
    (TINETZ sample), ``1KFM0200175269`` -> ``KFM 10 20 02ACA5`` (a Vorarlberg meter).
    This function reproduces that for ``1KFM`` serials; other numbers get two bytes
    of SHA-256 in the middle, and numbers without six trailing digits five bytes.
    """
    digest = hashlib.sha256(meter_number.encode()).digest()
    kaifa = _KAIFA_SERIAL.fullmatch(meter_number)
    if kaifa is not None:
        digits = kaifa.group(1)
        middle = bytes((0x10, int(digits[1]) << 4))
    else:
        middle = digest[:2]
    tail = _TRAILING_DIGITS.search(meter_number)
    if tail is None:
        return _KAIFA_PREFIX + digest[:5]
    return _KAIFA_PREFIX + middle + int(tail.group(1)).to_bytes(3, "big")


def logical_device_name(meter_number: str) -> str:
    """Return the COSEM logical device name (0.0.42.0.0.255) Kaifa derives from the serial.

    ``1KFM0200175269`` -> ``KFM1200200175269`` as in the Vorarlberg and Salzburg
    captures; other numbers get ``KFM`` in front.
    """
    kaifa = _KAIFA_SERIAL.fullmatch(meter_number)
    if kaifa is None:
        return "KFM" + meter_number
    digits = kaifa.group(1)
    return f"KFM1{digits[1]}00{digits[1:]}"


def demo_key(meter_number: str) -> bytes:
    """Return a DEMO AES-128 key for a simulated meter: SHA-256 of a fixed label and the number.

    Anyone can compute it, so it protects nothing: use it only for simulated meters,
    tests and benchmarks, never for a real meter.
    """
    return hashlib.sha256(_DEMO_KEY_LABEL + meter_number.encode()).digest()[:16]
