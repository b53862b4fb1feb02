"""Draft a profile for a list nobody profiled: capture bytes in, commented TOML out.

The capture is framed and decrypted as ``decode`` does; each data-notification body is
walked with its A-XDR type tags (IEC 62056-6-2 §4.1.5 Table 2). Telegrams of one list
(same maker, element count and list id) become one ``[[profile]]``: a ``layout`` for
positional lists, ``[profile.obis]`` entries for {OBIS, value} lists that send no
{scaler, unit}. Names are guesses from type, value and order, each marked ``# confirm``.
"""

from __future__ import annotations

import itertools
import math
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
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._mapping import lookup
from meterhub.adapters.codecs._profiles import default_registry, first_text
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
_NUMBERS = frozenset((0x05, 0x06, 0x0F, 0x10, 0x11, 0x12, 0x14, 0x15, 0x17, 0x18))
_COUNTER_TYPES = frozenset((0x06, 0x15))  # energy registers: unsigned 32/64 bit
_SEQUENCES = (0x01, 0x02)
_OBIS_LEN = 6
_DATE_LEN = 5
_TIME_LEN = 4
_TITLE_MAKER = 3  # the system title starts with the maker's 3-letter FLAG id
# A register this high in W would be a 100 kW household: it is an energy in Wh.
_COUNTER_FLOOR = 100_000
_PHASES = 3
_INSTANT = 7  # OBIS value group D: instantaneous value
_INTEGRAL = 8  # time integral 1: an energy register
# IEC 62056-6-1 §7.5.2 value group C: phase-wise quantities (21.. L1, 41.. L2, 61.. L3).
_PHASE_OF = {21: 1, 41: 2, 61: 3, 22: 1, 42: 2, 62: 3}
_INSTANT_NAMES: dict[int, tuple[str, str | None]] = {
    32: ("voltage_l1_v", "V"), 52: ("voltage_l2_v", "V"), 72: ("voltage_l3_v", "V"),
    31: ("current_l1_a", "A"), 51: ("current_l2_a", "A"), 71: ("current_l3_a", "A"),
    13: ("power_factor", None), 33: ("power_factor_l1", None),
    53: ("power_factor_l2", None), 73: ("power_factor_l3", None), 14: ("frequency_hz", "Hz"),
}  # fmt: skip
_ENERGIES = ("energy_import_wh", "energy_export_wh",
             "reactive_energy_import_varh", "reactive_energy_export_varh")  # fmt: skip
_POWERS = ("power_import_w", "power_export_w",
           "reactive_power_import_var", "reactive_power_export_var")  # fmt: skip
_UNITS = {"wh": "Wh", "varh": "varh", "w": "W", "var": "var", "v": "V", "a": "A", "hz": "Hz"}
# Voltage ranges (230 V +-20 %) by scaler: a raw 2385 is 238.5 V in 0.1 V.
_VOLTS = ((-1, 1800, 2800), (0, 180, 280), (-2, 18000, 28000))


class _Telegram(NamedTuple):
    plaintext: bytes
    system_title: bytes | None


class _Slot(NamedTuple):
    """One position (or OBIS object) of a list, with its value in every telegram."""

    tag: int
    values: list[AxdrValue]
    obis: bytes | None = None


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
    slots: list[_Slot]
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


def _top_level(plaintext: bytes) -> tuple[int | None, list[_Slot]]:
    """Return the body's element count and its elements with their type tags."""
    pos = parse_notification_header(plaintext).body_offset
    if plaintext[pos] not in _SEQUENCES:
        return None, [_Slot(plaintext[pos], [parse_data(plaintext, pos)[0]])]
    count, pos = read_length(plaintext, pos + 1)
    slots: list[_Slot] = []
    for _ in range(count):
        tag = plaintext[pos]
        value, pos = parse_data(plaintext, pos, 1)
        slots.append(_Slot(tag, [value]))
    return count, slots


def _obis_slots(plaintext: bytes) -> list[_Slot]:
    entries, _, _ = walk_body(plaintext, parse_notification_header(plaintext).body_offset)
    return [_Slot(plaintext[at], [value], obis) for obis, value, scaler, _, at in entries
            if obis is not None and scaler is None]  # fmt: skip


def _lists(telegrams: list[_Telegram]) -> list[_List]:
    """Group the telegrams by list and line up each slot's values."""
    groups: dict[tuple[bytes | None, int | None, str | None], _List] = {}
    for telegram in telegrams:
        count, top = _top_level(telegram.plaintext)
        first = top[0].values[0] if top else None
        title = telegram.system_title
        group = (title[:_TITLE_MAKER] if title else None, count, _list_id(first))
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


def _merge(into: list[_Slot], slots: list[_Slot]) -> None:
    by_obis = {slot.obis: slot for slot in slots if slot.obis is not None}
    for index, slot in enumerate(into):
        other = by_obis.get(slot.obis) if slot.obis is not None else None
        if other is None and slot.obis is None and index < len(slots):
            other = slots[index]
        if other is not None and other.tag == slot.tag:
            slot.values.extend(other.values)


def _list_id(first: AxdrValue) -> str | None:
    """Return the first element's text when it names the list (not a time or meter number)."""
    if not isinstance(first, bytes | str) or (type(first) is bytes and cosem_datetime(first)):
        return None
    text = first_text(first)
    if text is None:
        return None
    if type(first) is bytes and len(first) == _OBIS_LEN and text == first.hex().upper():
        return text  # an OBIS code: the list's logical name (Wiener Netze 0.6.25.9.0.255)
    # A list id has letters ("KFM_001", "Kamstrup_V0001"); all digits is a meter number.
    return text if any(c.isalpha() for c in text) and len(text) <= 32 else None  # noqa: PLR2004


def _name(found: _List, name: str | None, *, several: bool) -> str:
    suffix = str(found.elements) if found.elements is not None else "1"
    if name is not None:
        return f"{name}_{suffix}" if several else name
    maker = found.title[:_TITLE_MAKER] if found.title else b""
    if maker.isascii() and maker.isalpha():
        stem = maker.decode("ascii").lower()
    else:
        stem = "".join(c if c.isalnum() else "_" for c in (_list_id(found.first) or "dlms"))
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
    list_id = _list_id(found.first)
    maker = found.title[:_TITLE_MAKER].decode("latin-1") if found.title else None
    # OBIS lists are named by code, so one table serves every list of the maker; a
    # positional list is told apart by its length, as the built-ins are.
    if found.elements is not None and (found.positional or not (list_id or maker)):
        match["element_count"] = found.elements
    if list_id is not None:
        match["first_value_prefix"] = list_id
    if maker is not None and maker.isascii() and maker.isprintable():
        match["system_title_prefix"] = maker
    return match


def _positional(slots: list[_Slot], codes: dict[str, str]) -> list[_Line]:
    guesses = _guess_texts(slots)
    _guess_numbers(slots, guesses)
    lines = []
    for index, slot in enumerate(slots):
        fields = guesses.get(index, {})
        name = fields.get("name")
        if isinstance(name, str) and name in codes:
            fields["obis"] = codes[name]
        lines.append(_Line(fields, f"[{index}] {_described(slot)}"))
    return lines


Guesses = dict[int, dict[str, str | int | bool]]


def _guess_texts(slots: list[_Slot]) -> Guesses:
    """Name the clock, the list id, the meter number and the meter type."""
    guesses: Guesses = {}
    names = iter(("meter_number", "meter_type"))
    for index, slot in enumerate(slots):
        value = slot.values[0]
        if type(value) is bytes and cosem_datetime(value) is not None:
            if "clock" not in {g.get("name") for g in guesses.values()}:
                guesses[index] = {"name": "clock"}
        elif index == 0 and _list_id(value) is not None:
            guesses[index] = {"name": "list_id"}
        elif index < 6 and isinstance(value, bytes | str) and _is_text(value):  # noqa: PLR2004
            name = next(names, None)
            if name is not None:
                guesses[index] = {"name": name}
    return guesses


def _is_text(value: bytes | str) -> bool:
    """Tell a printable identifier with digits (a serial or model number) from binary."""
    if type(value) is bytes and not all(0x20 <= b < 0x7F for b in value):  # noqa: PLR2004
        return False
    text = value.decode("ascii") if type(value) is bytes else str(value)
    has_digit = any(c.isdigit() for c in text)
    return 4 <= len(text) <= 32 and has_digit and text.isalnum()  # noqa: PLR2004


def _numbers(slots: list[_Slot], guesses: Guesses) -> list[list[int]]:
    """Return runs of consecutive positions holding numbers not named yet."""
    runs: list[list[int]] = []
    for index, slot in enumerate(slots):
        if index in guesses or slot.tag not in _NUMBERS:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _volt_scaler(slot: _Slot) -> int | None:
    live = [v for v in slot.values if isinstance(v, int | float) and v]
    for scaler, low, high in _VOLTS:
        if live and all(low <= v <= high for v in live):
            return scaler
    return None


def _zero(slot: _Slot) -> bool:
    return all(v == 0 for v in slot.values)


def _guess_numbers(slots: list[_Slot], guesses: Guesses) -> None:
    """Name voltages, the currents beside them, then energy and power runs in order."""
    volts: list[int] = []
    for run in _numbers(slots, guesses):
        for at, index in enumerate(run):
            scaler = _volt_scaler(slots[index])
            between = volts and _zero(slots[index]) and at + 1 < len(run)
            if scaler is not None or (between and _volt_scaler(slots[run[at + 1]]) is not None):
                volts.append(index)
            elif volts:
                break
            if len(volts) == _PHASES:
                break
        if volts:
            break
    for phase, index in enumerate(volts, 1):
        scaler = next(s for s in map(_volt_scaler, (slots[i] for i in volts)) if s is not None)
        guesses[index] = {"name": f"voltage_l{phase}_v", "unit": "V", "scaler": scaler}
    amps = _currents(slots, guesses, volts)
    clock = next((i for i, g in guesses.items() if g.get("name") == "clock"), len(slots))
    energies, powers = iter(_ENERGIES), iter(_POWERS)
    for run in _numbers(slots, guesses):
        counters = _counters(slots, run, after_clock=run[0] > clock)
        for index in run[:counters]:
            _named(guesses, index, next(energies, None), counter=True)
        for index in run[counters:]:
            _named(guesses, index, next(powers, None), counter=False)
    named = {str(g["name"]): (slots[i].values[0], g.get("scaler", 0))
             for i, g in guesses.items() if "unit" in g}  # fmt: skip
    scaler = _current_scaler(named)
    for index in amps:
        guesses[index]["scaler"] = scaler


def _currents(slots: list[_Slot], guesses: Guesses, volts: list[int]) -> list[int]:
    """Name the numbers just before the voltages (or just after) as their currents."""
    if not volts:
        return []
    for start in (volts[0] - len(volts), volts[-1] + 1):
        span = range(start, start + len(volts))
        if start >= 0 and all(
            i < len(slots) and i not in guesses and slots[i].tag in _NUMBERS for i in span
        ):
            for phase, index in enumerate(span, 1):
                guesses[index] = {"name": f"current_l{phase}_a", "unit": "A", "scaler": -2}
            return list(span)
    return []


def _named(guesses: Guesses, index: int, name: str | None, *, counter: bool) -> None:
    if name is not None:
        guesses[index] = {"name": name, "unit": _UNITS[name.rsplit("_", 1)[1]], "scaler": 0}
        if counter:
            guesses[index]["counter"] = True


def _counters(slots: list[_Slot], run: list[int], *, after_clock: bool) -> int:
    """Return how many positions at the start of ``run`` are energy registers (+A -A +R -R)."""
    prefix = 0
    grows = False
    for index in run[: len(_ENERGIES)]:
        values = [v for v in slots[index].values if isinstance(v, int)]
        if slots[index].tag not in _COUNTER_TYPES or any(
            b < a for a, b in itertools.pairwise(values)
        ):
            break
        grows = grows or len(set(values)) > 1
        prefix += 1
    if grows:
        return prefix  # registers only count up; an instantaneous value falls too
    # One telegram (or nothing moved): energies follow the clock (Kaifa list 3) or are
    # larger than any power (Wiener Netze).
    peak = max((v for i in run[:prefix] for v in slots[i].values if isinstance(v, int)), default=0)
    return prefix if after_clock or peak >= _COUNTER_FLOOR else 0


def _current_scaler(named: dict[str, tuple[AxdrValue, str | int | bool]]) -> int:
    """Pick the current scaler that makes the sum of U*I closest to the apparent power."""

    def raw(name: str) -> float:
        value = named.get(name, (0, 0))[0]
        return float(value) if isinstance(value, int | float) else 0.0

    def volts(phase: int) -> float:
        scaler = named.get(f"voltage_l{phase}_v", (0, 0))[1]
        return raw(f"voltage_l{phase}_v") * 10.0 ** int(scaler)

    active = raw("power_import_w") + raw("power_export_w")
    apparent = math.hypot(
        active, raw("reactive_power_import_var") + raw("reactive_power_export_var")
    )
    load = sum(volts(p) * raw(f"current_l{p}_a") for p in range(1, _PHASES + 1))
    if apparent <= 0 or load <= 0:
        return -2  # 0.01 A: the usual current resolution of these lists
    error, best = min((abs(math.log10(load * 10.0**s / apparent)), s) for s in (-3, -2, -1, 0))
    return best if error < 0.5 else -2  # noqa: PLR2004 (within a factor of about 3)


def _obis(slots: list[_Slot], table: ObisTable) -> list[_Line]:
    """Draft ``[profile.obis]`` entries for objects without a name or a default scaling."""
    lines: list[_Line] = []
    named: dict[str, tuple[AxdrValue, str | int | bool]] = {}
    for slot in slots:
        assert slot.obis is not None  # noqa: S101 - only OBIS slots reach here
        known = lookup(table, slot.obis)
        if known is not None and (known.unit is not None or known.scaler is not None):
            named[known.name] = (slot.values[0], known.scaler or 0)
            continue
        fields = _obis_guess(slot, known.name if known is not None else None)
        if known is not None and not fields:
            continue  # named by the built-ins, and not a number to scale
        lines.append(_Line(fields, _described(slot), obis_text(slot.obis)))
        if fields:
            named[str(fields["name"])] = (slot.values[0], fields.get("scaler", 0))
    scaler = _current_scaler(named)
    for line in lines:
        if str(line.fields.get("name", "")).startswith("current_"):
            line.fields["scaler"] = scaler
    return lines


def _obis_guess(slot: _Slot, known: str | None) -> dict[str, str | int | bool]:
    """Guess name and scaling from OBIS value groups C, D and E (IEC 62056-6-1 §7.5)."""
    assert slot.obis is not None  # noqa: S101 - only OBIS slots reach here
    value = slot.values[0]
    if type(value) is bytes and cosem_datetime(value) is not None:
        return {} if known else {"name": "clock"}
    c, d, e = slot.obis[2], slot.obis[3], slot.obis[4]
    if slot.tag not in _NUMBERS or d not in (_INSTANT, _INTEGRAL):
        return {}
    if d == _INTEGRAL:
        fields = _register(c, e)
    elif c in _INSTANT_NAMES:
        name, unit = _INSTANT_NAMES[c]
        fields = {"name": name, "unit": unit} if unit else {"name": name}
        fields["scaler"] = _instant_scaler(unit, slot)
    else:
        fields = _register(c, e, instant=True)
    if fields and known:
        fields["name"] = known
    return fields


def _register(c: int, e: int, *, instant: bool = False) -> dict[str, str | int | bool]:
    """Name +A -A +R -R (C 1-4, tariff E) and per-phase energies; ``instant``: powers."""
    phase = _PHASE_OF.get(c)
    if 1 <= c <= len(_ENERGIES):
        base = (_POWERS if instant else _ENERGIES)[c - 1]
        stem, unit = base.rsplit("_", 1)
        name = f"{stem}_t{e}_{unit}" if e else base
    elif phase is not None and not instant and e == 0:
        unit = "wh"
        name = f"energy_{'import' if c % 20 == 1 else 'export'}_l{phase}_wh"
    else:
        return {}
    fields: dict[str, str | int | bool] = {"name": name, "unit": _UNITS[unit], "scaler": 0}
    return fields if instant else {**fields, "counter": True}


def _instant_scaler(unit: str | None, slot: _Slot) -> int:
    peak = max(abs(v) for v in slot.values if isinstance(v, int | float))
    if unit == "V":
        return _volt_scaler(slot) or 0
    if unit == "A":
        return -2  # refined by the power fit
    if unit == "Hz":
        return -round(math.log10(peak / 50)) if peak else 0  # about 50 Hz
    return 0 if peak <= 1 else -2 if peak <= 100 else -3  # noqa: PLR2004 - power factor


def _described(slot: _Slot) -> str:
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
