"""Meter profiles as data: OBIS names, default scalers/units and positional layouts.

Built-in profiles ship as TOML in ``profiles/``; a :class:`ProfileRegistry` takes
extra ones (a mapping or a TOML file) so a new meter or operator variant is a
config entry, not code. Profiles without ``match`` are global OBIS tables layered in
order; of the profiles with ``match``, the first that fits a telegram is layered on
top (user profiles before built-ins, more specific built-ins first).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from meterhub.adapters.codecs._cosem import cosem_datetime
from meterhub.adapters.codecs._mapping import Resolver
from meterhub.platform._errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from os import PathLike

    from meterhub.adapters.codecs._axdr import AxdrValue

PayloadKind = Literal["dlms", "dsmr"]
ValueType = Literal["number", "date-time", "octet-string", "string", "sequence"]
"""The kind of A-XDR element a list starts with (IEC 62056-6-2 §4.1.5): positional
lists without a list id (Kaifa list 1, Netz Burgenland) are told apart by it."""
_OBIS_PARTS = 6


class ObisDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to name one OBIS code, and how to scale it when the meter sends no scaler.

    Attributes:
        name: canonical metric name.
        unit: unit to report when the meter sends none (``None``: no unit).
        scaler: scaler to apply when the meter sends none (``None``: 0 if ``unit`` is
            set, else the raw value is reported unscaled).
        counter: a cumulative register (an energy or volume meter reading, OBIS value
            group D = 8): consumption is computed from its differences, and a jump
            faster than the site's largest power is suspect.
    """

    name: str
    unit: str | None = None
    scaler: int | None = None
    counter: bool = False


class FieldDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One position of a list that carries no OBIS codes.

    Attributes:
        name: canonical metric name; ``None`` keeps the value only in ``objects``.
            ``meter_number`` also sets the telegram's meter number and ``clock`` its
            timestamp.
        unit: unit of the value.
        scaler: power-of-ten scaler (``None``: 0 when ``unit`` is set).
        obis: the OBIS code the position stands for, for documentation and ``objects``.
        counter: a cumulative register, as for ``ObisDef``.
    """

    name: str | None = None
    unit: str | None = None
    scaler: int | None = None
    obis: str | None = None
    counter: bool = False


class Match(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Conditions a telegram must meet (all that are set) for a profile to apply.

    Attributes:
        payload: ``dlms`` or ``dsmr``.
        system_title_prefix: ASCII start of the DLMS system title (maker code).
        first_value_prefix: start of the first element of the notification body, as
            text (octet strings that are not printable compare as upper hex).
        element_count: number of elements in the body's top-level structure.
        first_value_type: kind of the body's first element: ``number`` (any integer
            or float type), ``date-time`` (a valid 12-byte COSEM date-time),
            ``octet-string`` (any other), ``string`` (visible-string) or ``sequence``
            (array or structure).
    """

    payload: PayloadKind | None = None
    system_title_prefix: str | None = None
    first_value_prefix: str | None = None
    element_count: int | None = None
    first_value_type: ValueType | None = None

    def specificity(self) -> int:
        """Return how many conditions are set (more specific profiles are tried first)."""
        return sum(
            value is not None
            for value in (
                self.payload,
                self.system_title_prefix,
                self.first_value_prefix,
                self.element_count,
                self.first_value_type,
            )
        )


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A meter or operator profile.

    Attributes:
        name: unique name; a later profile with the same name replaces the earlier.
        description: where the table comes from.
        match: when the profile applies; ``None`` makes it a global OBIS table.
        obis: ``a.b.c.d.e.f`` -> name/default scaling.
        layout: positional fields for lists without OBIS codes.
        mbus_units: unit -> name suffix for M-Bus channel values (0-n:24.2.x).
    """

    name: str
    description: str = ""
    match: Match | None = None
    obis: dict[str, ObisDef] = msgspec.field(default_factory=dict)
    layout: list[FieldDef] = msgspec.field(default_factory=list)
    mbus_units: dict[str, str] = msgspec.field(default_factory=dict)


class _ProfileFile(msgspec.Struct, forbid_unknown_fields=True):
    profile: list[Profile]


def obis_bytes(text: str) -> bytes:
    """Convert ``a.b.c.d.e.f`` (or DSMR ``a-b:c.d.e``) to the 6-byte logical name.

    Raises:
        ValueError: when the text is not an OBIS code.
    """
    parts = text.replace("-", ".").replace(":", ".").replace("*", ".").split(".")
    if len(parts) == _OBIS_PARTS - 1:
        parts.append("255")
    if len(parts) != _OBIS_PARTS:
        msg = f"{text!r} is not an OBIS code a.b.c.d.e.f"
        raise ValueError(msg)
    return bytes(int(part) for part in parts)


def _validated(profile: Profile, source: str) -> Profile:
    for code in profile.obis:
        try:
            obis_bytes(code)
        except ValueError as exc:
            raise ConfigError(source, f"{profile.name}.obis", str(exc)) from exc
    return profile


def _load_toml(path: Path) -> list[Profile]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = msgspec.convert(data, _ProfileFile)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(str(path), "profile", str(exc)) from exc
    return [_validated(profile, str(path)) for profile in parsed.profile]


def _from_mapping(data: Mapping[str, Any]) -> list[Profile]:
    try:
        if "profile" in data:
            return [_validated(p, "profiles") for p in msgspec.convert(data, _ProfileFile).profile]
        return [_validated(msgspec.convert(data, Profile), "profiles")]
    except msgspec.ValidationError as exc:
        raise ConfigError("profiles", "profile", str(exc)) from exc


def _builtin_profiles() -> list[Profile]:
    folder = resources.files("meterhub.adapters.codecs").joinpath("profiles")
    found: list[Profile] = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                found.extend(_load_toml(Path(path)))
    return found


ObisTable = dict[bytes, ObisDef]


class ProfileRegistry:
    """The profiles a decoder can use: the built-ins plus any the user adds."""

    def __init__(
        self,
        extra: Iterable[Profile | Mapping[str, Any] | str | PathLike[str]] = (),
        *,
        builtin: bool = True,
    ) -> None:
        self._builtin: list[Profile] = _builtin_profiles() if builtin else []
        self._user: list[Profile] = []
        self._tables: dict[str | None, ObisTable] = {}
        self._resolvers: dict[str | None, Resolver] = {}
        self._ordered: list[Profile] | None = None
        self._mbus: dict[str, str] | None = None
        self.generation = 0
        """Bumped by every :meth:`add`, so caches built from the old profiles can tell."""
        for source in extra:
            self.add(source)

    def add(self, source: Profile | Mapping[str, Any] | str | PathLike[str]) -> None:
        """Add or replace profiles from a :class:`Profile`, a mapping or a TOML file.

        Raises:
            ConfigError: when the file cannot be read or a profile is invalid.
        """
        if isinstance(source, Profile):
            profiles = [_validated(source, "profiles")]
        elif isinstance(source, str | Path) or hasattr(source, "__fspath__"):
            profiles = _load_toml(Path(source))
        else:
            profiles = _from_mapping(source)
        names = {profile.name for profile in profiles}
        self._builtin = [p for p in self._builtin if p.name not in names]
        self._user = [p for p in self._user if p.name not in names] + profiles
        self._tables.clear()
        self._resolvers.clear()
        self._ordered = None
        self._mbus = None
        self.generation += 1

    @property
    def profiles(self) -> list[Profile]:
        """Every profile, in the order they are tried."""
        return [*self._global(), *self._matchers()]

    def _global(self) -> list[Profile]:
        return [p for p in (*self._builtin, *self._user) if p.match is None]

    def _matchers(self) -> list[Profile]:
        if self._ordered is None:
            user = [p for p in reversed(self._user) if p.match is not None]
            builtin = [p for p in self._builtin if p.match is not None]
            builtin.sort(key=lambda p: -p.match.specificity() if p.match else 0)
            self._ordered = user + builtin
        return self._ordered

    def select(
        self,
        payload: PayloadKind,
        system_title: bytes | None = None,
        count: int | None = None,
        first: AxdrValue = None,
    ) -> Profile | None:
        """Return the first matching profile with a ``match`` section, if any.

        Args:
            payload: ``dlms`` or ``dsmr``.
            system_title: the DLMS system title, for ciphered telegrams.
            count: element count of the body's top-level structure (``None`` if none).
            first: the body's first element.
        """
        for profile in self._matchers():
            match = profile.match
            if match is not None and _matches(match, payload, system_title, count, first):
                return profile
        return None

    def first_value_prefixes(
        self, payload: PayloadKind, system_title: bytes | None, count: int | None
    ) -> tuple[str, ...]:
        """Return the ``first_value_prefix`` of every profile that meets its other conditions.

        Only these can make :meth:`select` answer differently for another first element.
        """
        found: list[str] = []
        for profile in self._matchers():
            match = profile.match
            if match is None or match.first_value_prefix is None:
                continue
            # The first element varies, so its type is not held against it either.
            others = msgspec.structs.replace(match, first_value_prefix=None, first_value_type=None)
            if _matches(others, payload, system_title, count, None):
                found.append(match.first_value_prefix)
        return tuple(found)

    def resolver(self, profile: Profile | None) -> Resolver:
        """Return the memoising OBIS resolver for ``profile`` layered on the globals."""
        key = profile.name if profile is not None else None
        found = self._resolvers.get(key)
        if found is None:
            found = Resolver(self.table(profile), self.mbus_units())
            self._resolvers[key] = found
        return found

    def table(self, profile: Profile | None) -> ObisTable:
        """Return the merged OBIS table: global tables, then ``profile``'s entries."""
        key = profile.name if profile is not None else None
        cached = self._tables.get(key)
        if cached is None:
            layers = self._global() + ([profile] if profile is not None else [])
            cached = {obis_bytes(code): d for layer in layers for code, d in layer.obis.items()}
            self._tables[key] = cached
        return cached

    def counters(self) -> frozenset[str]:
        """The metric names every profile declares cumulative, as ``fnmatch`` patterns.

        M-Bus channel values (EN 13757-3 meter readings such as gas volume or heat) are
        counters by nature: their names come from ``mbus_units``.
        """
        names = {d.name for p in self.profiles for d in p.obis.values() if d.counter}
        names.update(f.name for p in self.profiles for f in p.layout if f.counter and f.name)
        names.update(f"mbus_*_{suffix}" for suffix in self.mbus_units().values())
        return frozenset(names)

    def mbus_units(self) -> dict[str, str]:
        """Return unit -> name suffix for M-Bus channel values, merged over all globals."""
        if self._mbus is None:
            self._mbus = {}
            for profile in self._global():
                self._mbus.update(profile.mbus_units)
        return self._mbus


def first_text(first: AxdrValue) -> str | None:
    """Return the text a ``first_value_prefix`` is compared with (``None``: never matches)."""
    if type(first) is bytes:
        printable = first.isascii() and all(0x20 <= b < 0x7F for b in first)  # noqa: PLR2004
        return first.decode("ascii") if printable else first.hex().upper()
    return first if type(first) is str else None


def value_type(value: AxdrValue) -> ValueType | None:
    """Return the kind of element a ``first_value_type`` is compared with."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, bytes):
        return "date-time" if cosem_datetime(value) is not None else "octet-string"
    return "string" if isinstance(value, str) else "sequence"


def _matches(
    match: Match,
    payload: PayloadKind,
    system_title: bytes | None,
    count: int | None,
    first: AxdrValue,
) -> bool:
    if match.payload is not None and match.payload != payload:
        return False
    if match.system_title_prefix is not None and not (
        system_title and system_title.startswith(match.system_title_prefix.encode("latin-1"))
    ):
        return False
    if match.element_count is not None and count != match.element_count:
        return False
    if match.first_value_type is not None and (
        not count or value_type(first) != match.first_value_type
    ):
        return False
    if match.first_value_prefix is not None:
        text = first_text(first) if count else None
        return text is not None and text.startswith(match.first_value_prefix)
    return True


_DEFAULT: list[ProfileRegistry] = []


def default_registry() -> ProfileRegistry:
    """Return the shared registry of built-in profiles (loaded once)."""
    if not _DEFAULT:
        _DEFAULT.append(ProfileRegistry())
    return _DEFAULT[0]
