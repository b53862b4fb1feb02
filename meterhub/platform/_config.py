"""Typed configuration: one TOML file, environment overrides, secret references.

The settings tree itself is a set of msgspec Structs defined by the caller; this module
only loads, overrides and validates, and turns every failure into a ``ConfigError`` that
names the file (or environment variable), the key and what was expected.

Environment overrides use ``METERHUB_`` plus the key path joined by double underscores,
with list positions as numbers: ``METERHUB_API__LISTEN=0.0.0.0:8080``,
``METERHUB_METERS__0__KEY=env:KAIFA_KEY``. Values are read as JSON where the target is
not a string (numbers, booleans, lists), else taken verbatim.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from meterhub.platform._errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")
ENV_PREFIX = "METERHUB_"
_PATH_IN_ERROR = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


class Secret:
    """A password or key given literally, as ``env:NAME`` or as ``file:PATH``.

    The value is resolved while loading; ``repr`` and ``str`` never show it.
    """

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str = "") -> None:
        self._value = value
        self.reference = reference

    def reveal(self) -> str:
        """The secret itself; pass it on, never log it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference or '***'!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _resolve_secret(text: str, environ: Mapping[str, str], base_dir: Path) -> Secret:
    if text.startswith("env:"):
        name = text[4:]
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set")
        return Secret(environ[name], text)
    if text.startswith("file:"):
        path = base_dir / Path(text[5:]).expanduser()
        try:
            return Secret(path.read_text(encoding="utf-8").strip(), text)
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc
    return Secret(text)


def _leaf_type(info: msgspec.inspect.Type, path: list[str]) -> msgspec.inspect.Type | None:
    """The type at ``path`` in a settings tree, or None when the path does not exist."""
    for part in path:
        info = _unwrap(info)
        if isinstance(info, msgspec.inspect.StructType):
            field = next((f for f in info.fields if f.encode_name == part), None)
            if field is None:
                return None
            info = field.type
        elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.DictType):
            if isinstance(info, msgspec.inspect.ListType) and not part.isdigit():
                return None
            info = info.item_type if isinstance(info, msgspec.inspect.ListType) else info.value_type
        else:
            return None
    return info


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if not isinstance(member, msgspec.inspect.NoneType):
                return member
    return info


def _is_text(info: msgspec.inspect.Type) -> bool:
    info = _unwrap(info)
    return isinstance(
        info, msgspec.inspect.StrType | msgspec.inspect.CustomType | msgspec.inspect.EnumType
    )


def _set_path(data: dict[str, Any], path: list[str], value: object) -> None:
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt_is_index = path[i + 1].isdigit()
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append([] if nxt_is_index else {})
            node = node[index]
        else:
            node = node.setdefault(part, [] if nxt_is_index else {})
    last = path[-1]
    if isinstance(node, list):
        index = int(last)
        while len(node) <= index:
            node.append(None)
        node[index] = value
    else:
        node[last] = value


def _apply_env(
    data: dict[str, Any], type_: type[Any], environ: Mapping[str, str]
) -> dict[str, str]:
    """Write overrides into ``data``; returns ``key path -> where it came from``."""
    info = msgspec.inspect.type_info(type_)
    applied: dict[str, str] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        leaf = _leaf_type(info, path)
        if leaf is None:
            raise ConfigError(f"environment variable {name}", ".".join(path), "no such setting")
        raw = environ[name]
        value: object = raw
        if not _is_text(leaf):
            try:
                value = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                value = raw
        _set_path(data, path, value)
        applied[".".join(path)] = f"environment variable {name}"
    return applied


def _description(type_: type[Any], key: str) -> str | None:
    info = _leaf_type(msgspec.inspect.type_info(type_), key.split(".")) if key else None
    if isinstance(info, msgspec.inspect.Metadata) and info.extra_json_schema:
        text = info.extra_json_schema.get("description")
        return str(text) if text else None
    return None


def _explain(error: msgspec.ValidationError, type_: type[Any]) -> tuple[str, str]:
    match = _PATH_IN_ERROR.match(str(error))
    if match is None:  # pragma: no cover - the pattern matches any text
        return "", str(error)
    raw_path = match.group("path") or ""
    key = re.sub(r"\[(\d+)\]", r".\1", raw_path).lstrip(".")
    reason = match.group("reason")
    unknown = re.search(r"unknown field `([^`]+)`", reason)
    if unknown:
        key = f"{key}.{unknown.group(1)}".lstrip(".")
        reason = "unknown key (check the spelling; `meterhub config example` lists every key)"
    elif "matching regex" in reason:
        # the regex itself helps nobody: say what the value should look like
        reason = f"expected {_description(type_, key) or 'a different format'}"
    return key, reason


def load_config(
    type_: type[T],
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, tuple[str, object]] | None = None,
) -> T:
    """Load ``type_`` from a TOML file (or ``defaults``) and the environment.

    Args:
        type_: the settings tree.
        path: the TOML file; None for ``defaults`` alone.
        environ: the environment (``os.environ`` unless given).
        defaults: the data used when there is no file.
        overrides: ``dotted.key -> (source, value)`` applied last, e.g. command-line
            flags (``{"api.listen": ("--listen", "0.0.0.0:80")}``).

    Raises:
        ConfigError: the file is unreadable or invalid, or an override does not fit.
    """
    env = os.environ if environ is None else environ
    source = str(path) if path is not None else "built-in configuration"
    data: dict[str, Any] = dict(defaults or {})
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(source, "", f"cannot read the file: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "", f"not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(source, "", "not UTF-8 text") from exc
    sources = _apply_env(data, type_, env)
    for key, (flag, value) in (overrides or {}).items():
        _set_path(data, key.split("."), value)
        sources[key] = flag
    base_dir = path.parent if path is not None else Path.cwd()

    def dec_hook(target: type[Any], obj: Any) -> Any:  # noqa: ANN401 (msgspec's hook shape)
        if target is Secret and isinstance(obj, str):
            return _resolve_secret(obj, env, base_dir)
        raise NotImplementedError

    try:
        return msgspec.convert(data, type_, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        key, reason = _explain(exc, type_)
        override = next((v for k, v in sources.items() if key == k or key.startswith(k)), None)
        where = override or source
        raise ConfigError(where, key, reason) from exc


def to_display(settings: object) -> dict[str, Any]:
    """Settings as plain data for ``config check``, secrets shown as their reference."""

    def enc_hook(obj: object) -> object:
        if isinstance(obj, Secret):
            return obj.reference or "***"
        raise NotImplementedError

    result: dict[str, Any] = msgspec.to_builtins(settings, enc_hook=enc_hook)
    return result
