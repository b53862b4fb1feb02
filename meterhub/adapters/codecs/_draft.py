"""Draft a profile for a list nobody profiled: capture bytes in, commented TOML out.

The capture is framed and decrypted as ``decode`` does; each data-notification body is
walked with its A-XDR type tags (IEC 62056-6-2 §4.1.5 Table 2). Telegrams of one list
(same maker, element count and list id) become one ``[[profile]]``: a ``layout`` for
positional lists, ``[profile.obis]`` entries for {OBIS, value} lists that send no
{scaler, unit}. Names are guesses from type, value and order, each marked ``# confirm``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import msgspec

from meterhub.adapters.codecs._axdr import (
    DATA_NOTIFICATION,
    parse_data,
    parse_data_notification,
    parse_notification_header,
    read_length,
)
from meterhub.adapters.codecs._cosem import cosem_datetime, obis_text, octets_text
from meterhub.adapters.codecs._decoder import make_framer
from meterhub.adapters.codecs._detect import detect_format
from meterhub.adapters.codecs._dlms_security import GENERAL_GLO_CIPHERING, unwrap
from meterhub.adapters.codecs._draft_guess import (
    Slot,
    current_scaler,
    guess_numbers,
    guess_texts,
    list_id,
    obis_guess,
)
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._mapping import lookup
from meterhub.adapters.codecs._profiles import default_registry
from meterhub.adapters.codecs._walker import walk_body

if TYPE_CHECKING:
    from meterhub.adapters.codecs._axdr import AxdrValue
    from meterhub.adapters.codecs._decoder import FormatOrAuto
    from meterhub.adapters.codecs._profiles import ObisTable, ProfileRegistry

# IEC 62056-6-2 §4.1.5 Table 2: the Data CHOICE tags and their names.
TYPE_NAMES: dict[int, str] = {
    0x00: "null-data", 0x01: "array", 0x02: "structure", 0x03: "boolean",
    0x04: "bit-string", 0x05: "double-long", 0x06: "double-long-unsigned",
    0x09: "octet-string", 0x0A: "visible-string", 0x0C: "utf8-string", 0x0D: "bcd",
    0x0F: "integer", 0x10: "long", 0x11: "unsigned", 0x12: "long-unsigned",
    0x13: "compact-array", 0x14: "long64", 0x15: "long64-unsigned", 0x16: "enum",
    0x17: "float32", 0x18: "float64", 0x19: "date-time", 0x1A: "date", 0x1B: "time",
}  # fmt: skip
_SEQUENCES = (0x01, 0x02)
_DATE_LEN = 5
_TIME_LEN = 4
_TITLE_MAKER = 3  # the system title starts with the maker's 3-letter FLAG id


class _Telegram(NamedTuple):
    plaintext: bytes
    system_title: bytes | None


class _Line(NamedTuple):
    """One drafted entry: its TOML fields (empty: no guess) and what it was drafted from."""

    fields: dict[str, str | int | bool]
    comment: str
    key: str = ""


class _Known(NamedTuple):
    """What the built-in profiles already name: the registry, its OBIS table, name -> code."""

    registry: ProfileRegistry
    table: ObisTable
    codes: dict[str, str]


class _List(NamedTuple):
    """The telegrams of one list: what tells it apart and its slots."""

    title: bytes | None
    elements: int | None
    first: AxdrValue
    slots: list[Slot]
    positional: bool
    telegrams: int


def draft_profiles(
    data: bytes,
    *,
    fmt: FormatOrAuto = "auto",
    key: bytes | None = None,
    auth_key: bytes | None = None,
    ek_only: bool = False,
    name: str | None = None,
    source: str = "a capture",
    registry: ProfileRegistry | None = None,
) -> str:
    """Return a draft profile file (TOML) for the lists in a capture.

    Args:
        data: the capture as bytes (see ``parse_capture_text``).
        fmt: its framing, or ``auto``.
        key: the AES encryption key, for ciphered telegrams.
        auth_key: the authentication key; tags are verified when given.
        ek_only: decrypt without verifying tags.
        name: the profile name (a list-count suffix is added when there are several lists).
        source: where the capture came from, for the description.
        registry: the profiles whose OBIS names are already known (the built-ins).

    Raises:
        DecodeError: when the capture holds no data-notification that decodes; the
            reason of the first telegram's rejection (``wrong_key`` ...) when there is one.
    """
    known = registry if registry is not None else default_registry()
    lists = _lists(_notifications(data, fmt, key, auth_key, ek_only=ek_only))
    table = known.table(None)
    names = _Known(known, table, {d.name: obis_text(c) for c, d in reversed(table.items())})
    out = [
        f"# Draft profile from {_comment(source)}, written by `meterhub profile draft`.",
        "# Every name, scaler and unit marked `# confirm` is a guess from the A-XDR type,",
        "# the value and the order: check each against the operator's list description.",
    ]
    for found in lists:
        chosen = _name(found, name, several=len(lists) > 1)
        out += ["", *_profile(found, chosen, source, names)]
    return "\n".join(out) + "\n"


def _notifications(
    data: bytes, fmt: FormatOrAuto, key: bytes | None, auth_key: bytes | None, *, ek_only: bool
) -> list[_Telegram]:
    chosen = detect_format(data) if fmt == "auto" else fmt
    framer = make_framer(chosen, ciphered=key is not None)
    found: list[_Telegram] = []
    errors: list[DecodeError] = []
    for item in [*framer.feed(data), *framer.flush()]:
        if isinstance(item, DecodeError):
            errors.append(item)
            continue
        try:
            found.append(_plaintext(item, key, auth_key, ek_only=ek_only))
        except DecodeError as exc:
            errors.append(exc)
    if found:
        return found
    if errors:  # a key problem says more than the noise around it
        keyed = [e for e in errors if e.reason in ("no_key", "wrong_key", "auth_tag")]
        raise (keyed or errors)[0]
    raise DecodeError("unsupported", f"no DLMS data-notification in the {chosen} capture")


def _plaintext(
    apdu: bytes, key: bytes | None, auth_key: bytes | None, *, ek_only: bool
) -> _Telegram:
    if apdu[:1] == bytes((GENERAL_GLO_CIPHERING,)):
        secured = unwrap(apdu, key=key, auth_key=auth_key, ek_only=ek_only)
        telegram = _Telegram(secured.plaintext, secured.system_title)
        unchecked = secured.encrypted and not secured.verified
    else:
        telegram, unchecked = _Telegram(apdu, None), False
    if telegram.plaintext[:1] != bytes((DATA_NOTIFICATION,)):
        if unchecked:
            raise DecodeError("wrong_key", "decrypted data is not a data-notification: "
                              "the key is wrong or the telegram is corrupted")  # fmt: skip
        raise DecodeError("unsupported", "the capture holds no DLMS data-notification")
    try:
        parse_data_notification(telegram.plaintext)
    except DecodeError as exc:
        if unchecked:
            detail = f"decrypted data does not parse ({exc.detail}): the key is probably wrong"
            raise DecodeError("wrong_key", detail, exc.offset) from exc
        raise
    return telegram


def _top_level(plaintext: bytes) -> tuple[int | None, list[Slot]]:
    """Return the body's element count and its elements with their type tags."""
    pos = parse_notification_header(plaintext).body_offset
    if plaintext[pos] not in _SEQUENCES:
        return None, [Slot(plaintext[pos], [parse_data(plaintext, pos)[0]])]
    count, pos = read_length(plaintext, pos + 1)
    slots: list[Slot] = []
    for _ in range(count):
        tag = plaintext[pos]
        value, pos = parse_data(plaintext, pos, 1)
        slots.append(Slot(tag, [value]))
    return count, slots


def _obis_slots(plaintext: bytes) -> list[Slot]:
    entries, _, _ = walk_body(plaintext, parse_notification_header(plaintext).body_offset)
    return [Slot(plaintext[at], [value], obis) for obis, value, scaler, _, at in entries
            if obis is not None and scaler is None]  # fmt: skip


def _lists(telegrams: list[_Telegram]) -> list[_List]:
    """Group the telegrams by list and line up each slot's values."""
    groups: dict[tuple[bytes | None, int | None, str | None], _List] = {}
    for telegram in telegrams:
        count, top = _top_level(telegram.plaintext)
        first = top[0].values[0] if top else None
        title = telegram.system_title
        group = (title[:_TITLE_MAKER] if title else None, count, list_id(first))
        body = parse_notification_header(telegram.plaintext).body_offset
        entries, _, _ = walk_body(telegram.plaintext, body)
        # An {OBIS, value} list pairs most of its elements; one pair (Wiener Netze's list
        # id before its meter number) does not make a positional list one.
        positional = 2 * sum(e[0] is not None for e in entries) < len(entries)
        slots = top if positional else _obis_slots(telegram.plaintext)
        known = groups.get(group)
        if known is None:
            groups[group] = _List(title, count, first, slots, positional, 1)
            continue
        _merge(known.slots, slots)
        groups[group] = known._replace(telegrams=known.telegrams + 1)
    return list(groups.values())


def _merge(into: list[Slot], slots: list[Slot]) -> None:
    by_obis = {slot.obis: slot for slot in slots if slot.obis is not None}
    for index, slot in enumerate(into):
        other = by_obis.get(slot.obis) if slot.obis is not None else None
        if other is None and slot.obis is None and index < len(slots):
            other = slots[index]
        if other is not None and other.tag == slot.tag:
            slot.values.extend(other.values)


def _name(found: _List, name: str | None, *, several: bool) -> str:
    suffix = str(found.elements) if found.elements is not None else "1"
    if name is not None:
        return f"{name}_{suffix}" if several else name
    maker = found.title[:_TITLE_MAKER] if found.title else b""
    if maker.isascii() and maker.isalpha():
        stem = maker.decode("ascii").lower()
    else:
        stem = "".join(c if c.isalnum() else "_" for c in (list_id(found.first) or "dlms"))
    return f"{stem.lower()}_{suffix}"


def _profile(found: _List, name: str, source: str, known: _Known) -> list[str]:
    count = f"{found.telegrams} telegram{'s' if found.telegrams > 1 else ''}"
    out = ["[[profile]]", f"name = {_toml(name)}",
           f"description = {_toml(f'Draft from {source} ({count}): confirm before use')}",
           f"match = {_inline(_match(found))}"]  # fmt: skip
    builtin = known.registry.select("dlms", found.title, found.elements, found.first)
    if builtin is not None:
        out.insert(0, f"# note: the built-in profile {builtin.name!r} already matches this list")
    if found.positional:
        out.append("layout = [")
        for line in _positional(found.slots, known.codes):
            out += [f"  # {line.comment}", f"  {_inline(line.fields)},{_confirm(line)}"]
        return [*out, "]"]
    lines = _obis(found.slots, known.table)
    out.append("")
    out.append("[profile.obis]")
    for line in lines:
        entry = f"{_toml(line.key)} = {_inline(line.fields)}"
        out += [f"# {line.comment}", entry + _confirm(line) if line.fields else f"# {entry}"]
    if not lines:
        out.append("# every object comes with a {scaler, unit} or a known name: nothing to add")
    return out


def _match(found: _List) -> dict[str, str | int | bool]:
    match: dict[str, str | int | bool] = {"payload": "dlms"}
    first = list_id(found.first)
    maker = found.title[:_TITLE_MAKER].decode("latin-1") if found.title else None
    # OBIS lists are named by code, so one table serves every list of the maker; a
    # positional list is told apart by its length, as the built-ins are.
    if found.elements is not None and (found.positional or not (first or maker)):
        match["element_count"] = found.elements
    if first is not None:
        match["first_value_prefix"] = first
    if maker is not None and maker.isascii() and maker.isprintable():
        match["system_title_prefix"] = maker
    return match


def _positional(slots: list[Slot], codes: dict[str, str]) -> list[_Line]:
    guesses = guess_texts(slots)
    guess_numbers(slots, guesses)
    lines = []
    for index, slot in enumerate(slots):
        fields = guesses.get(index, {})
        name = fields.get("name")
        if isinstance(name, str) and name in codes:
            fields["obis"] = codes[name]
        lines.append(_Line(fields, f"[{index}] {_described(slot)}"))
    return lines


def _obis(slots: list[Slot], table: ObisTable) -> list[_Line]:
    """Draft ``[profile.obis]`` entries for objects without a name or a default scaling."""
    lines: list[_Line] = []
    named: dict[str, tuple[AxdrValue, str | int | bool]] = {}
    for slot in slots:
        assert slot.obis is not None  # noqa: S101 - only OBIS slots reach here
        known = lookup(table, slot.obis)
        if known is not None and (known.unit is not None or known.scaler is not None):
            named[known.name] = (slot.values[0], known.scaler or 0)
            continue
        fields = obis_guess(slot, known.name if known is not None else None)
        if known is not None and not fields:
            continue  # named by the built-ins, and not a number to scale
        lines.append(_Line(fields, _described(slot), obis_text(slot.obis)))
        if fields:
            named[str(fields["name"])] = (slot.values[0], fields.get("scaler", 0))
    scaler = current_scaler(named)
    for line in lines:
        if str(line.fields.get("name", "")).startswith("current_"):
            line.fields["scaler"] = scaler
    return lines


def _described(slot: Slot) -> str:
    """Return the slot's type and raw value (min..max over several telegrams)."""
    where = f"{obis_text(slot.obis)}: " if slot.obis is not None else ""
    kind = TYPE_NAMES.get(slot.tag, f"tag 0x{slot.tag:02X}")
    numbers = [v for v in slot.values if isinstance(v, int | float) and type(v) is not bool]
    if numbers and len(slot.values) > 1:
        low, high = min(numbers), max(numbers)
        shown = f"{low}..{high} over {len(slot.values)} telegrams" if low != high else f"{low}"
    else:
        shown = _comment(_shown(slot.values[0]))
    return f"{where}{kind} {shown}"


def _shown(value: AxdrValue) -> str:
    if type(value) is bytes:
        stamp = cosem_datetime(value)
        if stamp is not None:
            return stamp.isoformat()
        return repr(octets_text(value)) + _date_or_time(value)
    if isinstance(value, list):
        return f"[{len(value)} elements]"
    return repr(value)


def _date_or_time(raw: bytes) -> str:
    """Name a separate COSEM date (5 bytes) or time (4 bytes), IEC 62056-6-2 §4.1.6.1."""
    if len(raw) == _DATE_LEN and 1 <= raw[2] <= 12 and 1 <= raw[3] <= 31:  # noqa: PLR2004
        return f" (a COSEM date? {int.from_bytes(raw[:2], 'big')}-{raw[2]:02}-{raw[3]:02})"
    if len(raw) == _TIME_LEN and raw[0] < 24 and raw[1] < 60 and raw[2] < 60:  # noqa: PLR2004
        return f" (a COSEM time? {raw[0]:02}:{raw[1]:02}:{raw[2]:02})"
    return ""


def _confirm(line: _Line) -> str:
    return "  # confirm" if line.fields else ""


def _comment(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _toml(text: str) -> str:
    """Return a TOML basic string (JSON's escapes are TOML's, but for DEL)."""
    return msgspec.json.encode(text).decode().replace("\x7f", "\\u007f")


def _inline(fields: dict[str, str | int | bool]) -> str:
    if not fields:
        return "{ }"
    parts = []
    for name, value in fields.items():
        shown = _toml(value) if isinstance(value, str) else str(value).lower()
        parts.append(f"{name} = {shown}")
    return "{ " + ", ".join(parts) + " }"
