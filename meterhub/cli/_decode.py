"""``meterhub decode``: decode a capture, one JSON object per telegram."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub.adapters.codecs import (
    DecodeError,
    ProfileRegistry,
    Telegram,
    default_registry,
    iter_decode,
    parse_capture_text,
)
from meterhub.platform import ConfigError

if TYPE_CHECKING:
    import argparse
    from datetime import datetime

_encoder = msgspec.json.Encoder()


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register the ``decode`` command."""
    decode = commands.add_parser(
        "decode",
        help="decode captured telegrams (hex text or raw bytes) to JSON",
        description="Prints one JSON object per telegram on stdout and one per rejection "
        "on stderr; exits 1 if any telegram was rejected, or decoded to values no profile "
        "names (unmapped: see 'meterhub profile draft') unless --objects shows them raw.",
    )
    decode.add_argument("file", nargs="?", default="-", help="capture file, - for stdin")
    decode.add_argument("--key", help="AES-128 encryption key, 32 hex digits")
    decode.add_argument("--auth-key", help="authentication key, 32 hex digits")
    decode.add_argument("--format", choices=["auto", "mbus", "dsmr", "hdlc"], default="auto")
    decode.add_argument(
        "--ek-only", action="store_true",
        help="decrypt without verifying authentication tags (for operators whose key fails)",
    )  # fmt: skip
    decode.add_argument(
        "--objects", action="store_true",
        help="also list every COSEM object with its raw value, scaler and unit",
    )  # fmt: skip
    decode.add_argument("--profile", action="append", default=[], type=Path,
                        help="extra profile file (TOML); may be repeated")  # fmt: skip
    decode.set_defaults(func=run)


def _hex_key(text: str | None, flag: str) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:  # noqa: PLR2004 (AES-128)
        raise ConfigError(flag, "", "expected 32 hexadecimal digits")
    return key


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the capture: {exc.strerror}") from exc


def _registry(paths: list[Path]) -> ProfileRegistry:
    registry = default_registry()
    for path in paths:
        try:
            registry.add(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(str(path), "", f"bad profile: {exc}") from exc
    return registry


def telegram_json(telegram: Telegram, *, objects: bool) -> dict[str, Any]:
    """The JSON shape of one decoded telegram."""
    ts: datetime | None = telegram.timestamp
    doc: dict[str, Any] = {
        "format": telegram.format,
        "meter_number": telegram.meter_number,
        "timestamp": ts.isoformat() if ts is not None else None,
        "values": telegram.values,
        "units": telegram.units,
        "profile": telegram.profile,
    }
    if telegram.unmapped:
        doc["unmapped"] = True
    if telegram.system_title is not None:
        doc["system_title"] = telegram.system_title
        doc["frame_counter"] = telegram.frame_counter
    if telegram.dst is not None:
        doc["dst"] = telegram.dst
    if objects:
        doc["objects"] = msgspec.to_builtins(telegram.objects)
    return doc


def run(args: argparse.Namespace) -> int:
    """Decode the capture; 0 when every telegram decoded and mapped, else 1."""
    key = _hex_key(args.key, "--key")
    auth_key = _hex_key(args.auth_key, "--auth-key")
    data = parse_capture_text(_read(args.file))
    rejected = 0
    decoded = 0
    unmapped = 0
    for item in iter_decode(data, fmt=args.format, key=key, auth_key=auth_key,
                            profiles=_registry(args.profile), ek_only=args.ek_only,
                            include_objects=args.objects):  # fmt: skip
        if isinstance(item, DecodeError):
            rejected += 1
            sys.stderr.buffer.write(_encoder.encode(item.to_dict()) + b"\n")
        else:
            decoded += 1
            unmapped += item.unmapped
            sys.stdout.buffer.write(_encoder.encode(telegram_json(item, objects=args.objects)))
            sys.stdout.buffer.write(b"\n")
    if not decoded and not rejected:
        error = DecodeError("truncated", "no complete telegram in the input")
        sys.stderr.buffer.write(_encoder.encode(error.to_dict()) + b"\n")
        rejected = 1
    sys.stdout.flush()
    if unmapped and not args.objects:
        # a list nobody profiled must not look like a healthy meter with no data
        print(f"{unmapped} telegram(s) decoded, but no profile names their values "
              "(unmapped): see them with --objects, or write a profile with 'meterhub "
              f"profile draft {args.file}'", file=sys.stderr)  # fmt: skip
        return 1
    return 1 if rejected else 0
