"""Decode one DLMS APDU: unwrap security, parse A-XDR, map COSEM objects to values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from meterhub.adapters.codecs._axdr import (
    DATA_NOTIFICATION,
    check_end,
    parse_data,
    parse_notification_header,
    peek_body,
)
from meterhub.adapters.codecs._cosem import cosem_datetime
from meterhub.adapters.codecs._dlms_security import GENERAL_GLO_CIPHERING, SecuredApdu, unwrap
from meterhub.adapters.codecs._dsmr import decode_dsmr
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._mapping import map_entries, map_layout
from meterhub.adapters.codecs._profiles import default_registry
from meterhub.adapters.codecs._shape import Sample
from meterhub.adapters.codecs._telegram import Telegram, TelegramFormat, is_unmapped
from meterhub.adapters.codecs._walker import walk_body

if TYPE_CHECKING:
    from meterhub.adapters.codecs._mapping import Resolver
    from meterhub.adapters.codecs._profiles import ProfileRegistry
    from meterhub.adapters.codecs._shape import ShapeCache
    from meterhub.adapters.codecs._walker import Entry

_DSMR_START = 0x2F  # "/": DSMR text inside a ciphered APDU (Energienetze Steiermark)


def _notification(
    plaintext: bytes,
    fmt: TelegramFormat,
    registry: ProfileRegistry,
    security: SecuredApdu | None,
    *,
    include_objects: bool,
    shapes: ShapeCache | None = None,
) -> Telegram:
    title = security.system_title if security is not None else None
    counter = security.frame_counter if security is not None else None
    if shapes is not None:
        known = shapes.decode(plaintext, title, fmt, counter)
        if known is not None:
            return known
    header = parse_notification_header(plaintext)
    start = header.body_offset
    count, first = peek_body(plaintext, start)
    profile = registry.select("dlms", title, count, first)
    walked: tuple[list[Entry], int, Resolver] | None = None
    if profile is not None and profile.layout and count is not None:
        body, end = parse_data(plaintext, start)
        assert isinstance(body, list)  # noqa: S101 - peek_body saw a sequence
        mapped = map_layout(body, profile.layout, keep_objects=include_objects)
    else:
        entries, trailing, end = walk_body(plaintext, start)
        resolver = registry.resolver(profile)
        mapped = map_entries(entries, trailing, resolver, keep_objects=include_objects)
        walked = entries, trailing, resolver
    check_end(plaintext, end)
    stamp = cosem_datetime(header.date_time) if header.date_time else None
    telegram = Telegram(
        format=fmt,
        meter_number=mapped.meter_number,
        timestamp=stamp or mapped.timestamp,
        values=mapped.values,
        units=mapped.units,
        objects=mapped.objects,
        system_title=title.hex().upper() if title is not None else None,
        frame_counter=counter,
        profile=profile.name if profile is not None else "cosem",
        unmapped=is_unmapped(mapped.values, mapped.unnamed),
    )
    if shapes is not None and walked is not None and shapes.wants():
        entries, trailing, resolver = walked
        sample = Sample(plaintext, header, entries, trailing, resolver, profile, title, telegram)
        shapes.learn(sample)
    return telegram


def _plaintext(
    security: SecuredApdu,
    fmt: TelegramFormat,
    registry: ProfileRegistry,
    *,
    include_objects: bool,
    shapes: ShapeCache | None,
) -> Telegram:
    plaintext = security.plaintext
    unchecked = security.encrypted and not security.verified
    first = plaintext[0] if plaintext else -1
    if first == _DSMR_START:
        telegram = decode_dsmr(plaintext, registry=registry, include_objects=include_objects)
        return msgspec.structs.replace(
            telegram,
            system_title=security.system_title.hex().upper(),
            frame_counter=security.frame_counter,
        )
    if first != DATA_NOTIFICATION:
        if unchecked:
            raise DecodeError(
                "wrong_key",
                f"decrypted data starts with 0x{first & 0xFF:02X}, not a data-notification "
                "(0x0F) or DSMR text: the key is wrong or the telegram is corrupted",
            )
        raise DecodeError("unsupported", f"ciphered APDU holds type 0x{first & 0xFF:02X}")
    try:
        return _notification(
            plaintext, fmt, registry, security, include_objects=include_objects, shapes=shapes
        )
    except DecodeError as exc:
        if unchecked and exc.reason == "malformed":
            detail = f"decrypted data does not parse ({exc.detail}): the key is probably wrong"
            raise DecodeError("wrong_key", detail, exc.offset) from exc
        raise


def decode_apdu(
    apdu: bytes,
    *,
    fmt: TelegramFormat = "apdu",
    key: bytes | None = None,
    auth_key: bytes | None = None,
    profiles: ProfileRegistry | None = None,
    ek_only: bool = False,
    include_objects: bool = False,
) -> Telegram:
    """Decode one complete DLMS APDU (data-notification or general-glo-ciphering).

    Args:
        apdu: the APDU, already reassembled from its frames.
        fmt: the framing it came in, recorded in the telegram.
        key: the AES encryption key (EK) for ciphered APDUs.
        auth_key: the authentication key (AK); when given, tags are verified.
        profiles: the profile registry; the built-in one when ``None``.
        ek_only: decrypt without verifying the tag even when an AK is given.
        include_objects: keep every COSEM object in ``Telegram.objects``.

    Raises:
        DecodeError: for any reason the APDU cannot be decoded.
    """
    registry = profiles if profiles is not None else default_registry()
    return decode_dlms(
        apdu,
        fmt=fmt,
        key=key,
        auth_key=auth_key,
        registry=registry,
        ek_only=ek_only,
        include_objects=include_objects,
    )


def decode_dlms(
    apdu: bytes,
    *,
    fmt: TelegramFormat,
    key: bytes | None,
    auth_key: bytes | None,
    registry: ProfileRegistry,
    ek_only: bool = False,
    include_objects: bool = False,
    shapes: ShapeCache | None = None,
) -> Telegram:
    """Decode one APDU as :func:`decode_apdu` does, using and feeding a layout cache.

    Raises:
        DecodeError: for any reason the APDU cannot be decoded.
    """
    first = apdu[0] if apdu else -1
    if first == DATA_NOTIFICATION:
        return _notification(
            apdu, fmt, registry, None, include_objects=include_objects, shapes=shapes
        )
    if first == GENERAL_GLO_CIPHERING:
        security = unwrap(apdu, key=key, auth_key=auth_key, ek_only=ek_only)
        return _plaintext(security, fmt, registry, include_objects=include_objects, shapes=shapes)
    if first < 0:
        raise DecodeError("truncated", "empty APDU")
    raise DecodeError(
        "unsupported",
        f"APDU type 0x{first:02X} is not supported (expected data-notification 0x0F "
        "or general-glo-ciphering 0xDB)",
    )
