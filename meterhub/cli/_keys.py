"""``meterhub keys``: create, list and revoke the API keys of a site."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterhub.api import KeyStore, Role
from meterhub.settings import Settings, load_settings

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


def _site(args: argparse.Namespace) -> tuple[Settings, KeyStore]:
    overrides: dict[str, tuple[str, object]] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = ("--data-dir", args.data_dir)
    settings = load_settings(args.config, overrides)
    return settings, KeyStore.in_data_dir(settings.data_dir)


def _without_keys(settings: Settings) -> str:
    """What the API does for a caller without a key, in this site's auth mode."""
    if settings.api.auth == "open-on-loopback":
        return ('[api] auth = "open-on-loopback": callers without a key are admitted as '
                'admin on this machine; set auth = "keys" to require a key')  # fmt: skip
    return "every route but /health, /ready and /schema answers 401 without a key"


def run_create(args: argparse.Namespace) -> int:
    """Print the new key on stdout (only there, only once); the rest on stderr."""
    settings, store = _site(args)
    record, token = store.create(Role(args.role), args.name)
    print(token)
    print(f"created {record.role} key {record.id}; store it now, it cannot be shown again",
          file=sys.stderr)  # fmt: skip
    if settings.api.auth == "open-on-loopback":
        print(f"meterhub: note: {_without_keys(settings)}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """One line per key; never the key itself."""
    settings, store = _site(args)
    keys = store.keys()
    if not keys:
        print(f"no API keys ({_without_keys(settings)})")
        return 0
    print(f"{'ID':<14}{'ROLE':<10}{'CREATED':<22}NAME")
    for key in keys:
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{key.id:<14}{key.role.value:<10}{created:<22}{key.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Delete the key; exit 1 when there is none with that id; warn when none is left."""
    settings, store = _site(args)
    if not store.revoke(args.id):
        print(f"meterhub: no API key with id {args.id!r}", file=sys.stderr)
        return 1
    print(f"revoked key {args.id}")
    if store.is_empty():
        print(f"meterhub: warning: that was the last API key; {_without_keys(settings)}",
              file=sys.stderr)  # fmt: skip
    return 0
