"""``meterhub profile draft``: write a draft profile for a list nobody profiled."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterhub.adapters.codecs import draft_profiles, parse_capture_text
from meterhub.cli._decode import _hex_key, _read
from meterhub.cli._store_commands import UsageError
from meterhub.platform import ConfigError

if TYPE_CHECKING:
    import argparse


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register ``profile draft``."""
    profile = commands.add_parser(
        "profile",
        help="learn a meter: draft a profile from a capture",
        description="Profiles name and scale the values of a meter's list (see docs/meters.md).",
    )
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    draft = actions.add_parser(
        "draft",
        help="write a draft profile (TOML) for the lists in a capture",
        description="Frames and decrypts the capture as `decode` does and writes one "
        "[[profile]] per list, each guessed name marked `# confirm`.",
    )
    draft.add_argument("file", nargs="?", default="-", help="capture file, - for stdin")
    draft.add_argument("--key", help="AES-128 encryption key, 32 hex digits")
    draft.add_argument("--auth-key", help="authentication key, 32 hex digits")
    draft.add_argument("--format", choices=["auto", "mbus", "dsmr", "hdlc"], default="auto")
    draft.add_argument("--ek-only", action="store_true",
                       help="decrypt without verifying authentication tags")  # fmt: skip
    draft.add_argument("--name", help="profile name (default: from the maker and list length)")
    draft.add_argument("-o", "--output", type=Path, help="write to this file, not stdout")
    draft.add_argument("--force", action="store_true", help="overwrite the output file")
    draft.set_defaults(func=run_draft)


def run_draft(args: argparse.Namespace) -> int:
    """Print or write the draft; a capture without a data-notification fails with exit 1."""
    key = _hex_key(args.key, "--key")
    auth_key = _hex_key(args.auth_key, "--auth-key")
    output: Path | None = args.output
    if output is not None and output.exists() and not args.force:
        msg = f"{output} exists; use --force to overwrite it"
        raise UsageError(msg)
    source = "stdin" if args.file == "-" else Path(args.file).name
    text = draft_profiles(parse_capture_text(_read(args.file)), fmt=args.format, key=key,
                          auth_key=auth_key, ek_only=args.ek_only, name=args.name,
                          source=source)  # fmt: skip
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(output), "", f"cannot write the profile: {exc.strerror}") from exc
    keys = " --key KEY" if key else ""  # never echo the key itself
    print(f"wrote {output}; confirm every `# confirm` line, then: "
          f"meterhub decode --profile {output}{keys} {args.file}", file=sys.stderr)  # fmt: skip
    return 0
