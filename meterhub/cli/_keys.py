"""``meterhub keys``: create, list and revoke the API keys of a site."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterhub.api import KeyStore, Role
from meterhub.settings import load_settings

if TYPE_CHECKING:
    import argparse


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register ``keys create|list|revoke``."""
    keys = commands.add_parser(
        "keys",
        help="manage API keys (stored hashed in <data_dir>/api_keys.json)",
        description="API keys for the HTTP API. A running site sees changes at once.",
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key and print it once")
    _site_args(create)
    create.add_argument("--role", required=True, choices=[r.value for r in Role],
                        help="viewer: read and live feed; operator: also alerts and "
                        "commands; admin: also devices, types, applications")  # fmt: skip
    create.add_argument("--name", default="", help="a note on who or what uses the key")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="show every key's id, name, role and age")
    _site_args(listing)
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="delete a key; clients using it get 401")
    _site_args(revoke)
    revoke.add_argument("id", help="the key's id (from `meterhub keys list`)")
    revoke.set_defaults(func=run_revoke)


def _site_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    parser.add_argument("--data-dir", help="folder of the journal, the store and the keys")


def _store(args: argparse.Namespace) -> KeyStore:
    overrides: dict[str, tuple[str, object]] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = ("--data-dir", args.data_dir)
    return KeyStore.in_data_dir(load_settings(args.config, overrides).data_dir)


def run_create(args: argparse.Namespace) -> int:
    """Print the new key on stdout (only there, only once); the rest on stderr."""
    record, token = _store(args).create(Role(args.role), args.name)
    print(token)
    print(f"created {record.role} key {record.id}; store it now, it cannot be shown again",
          file=sys.stderr)  # fmt: skip
    return 0


def run_list(args: argparse.Namespace) -> int:
    """One line per key; never the key itself."""
    keys = _store(args).keys()
    if not keys:
        print("no API keys (on a loopback address the API is open)")
        return 0
    print(f"{'ID':<14}{'ROLE':<10}{'CREATED':<22}NAME")
    for key in keys:
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{key.id:<14}{key.role.value:<10}{created:<22}{key.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Delete the key; exit 1 when there is none with that id."""
    if not _store(args).revoke(args.id):
        print(f"meterhub: no API key with id {args.id!r}", file=sys.stderr)
        return 1
    print(f"revoked key {args.id}")
    return 0
