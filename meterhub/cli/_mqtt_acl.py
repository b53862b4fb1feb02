"""``meterhub mqtt-acl``: the Mosquitto ACL and password template for the site's devices."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterhub.adapters.mqtt import check_device_id, render_acl, render_password_template
from meterhub.cli._store_commands import UsageError
from meterhub.settings import load_settings

if TYPE_CHECKING:
    import argparse

_DEFAULT_SITE_USER = "meterhub"


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register ``mqtt-acl``."""
    acl = commands.add_parser(
        "mqtt-acl",
        help="write a Mosquitto acl_file and password template for MQTT devices",
        description="Each device (username = its device id) may publish only under "
        "<prefix>/<id>/ and read only its own commands; the site user reads every device "
        "and sends commands. See docs/mqtt-protocol.md.",
    )
    acl.add_argument("-c", "--config", type=Path,
                     help="TOML configuration file ([mqtt] prefix and username)")  # fmt: skip
    acl.add_argument("--device", action="append", default=[], metavar="ID",
                     help="a device id to put in the password template (repeatable)")  # fmt: skip
    acl.add_argument("--site-user", metavar="NAME",
                     help="the site's MQTT username ([mqtt] username, else meterhub)")  # fmt: skip
    acl.add_argument("--out", type=Path, default=Path(), metavar="DIR",
                     help="folder for the files acl and passwords (default: here)")  # fmt: skip
    acl.add_argument("--force", action="store_true", help="overwrite existing files")
    acl.set_defaults(func=run)


def _names(args: argparse.Namespace) -> tuple[str, str, list[str]]:
    """The prefix, the site user and the devices, checked."""
    prefix, site_user = "iot", _DEFAULT_SITE_USER
    if args.config is not None:
        mqtt = load_settings(args.config).mqtt
        prefix, site_user = mqtt.prefix, mqtt.username or _DEFAULT_SITE_USER
    if args.site_user is not None:
        site_user = args.site_user
    try:
        check_device_id(site_user, what="--site-user" if args.site_user else "[mqtt] username")
        devices = [check_device_id(device, what="--device") for device in args.device]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if site_user in devices:
        # the site's rights are wider than a device's: one name cannot be both
        raise UsageError(f"--device {site_user!r} is the site user's name")
    return prefix, site_user, devices


def run(args: argparse.Namespace) -> int:
    """Write ``DIR/acl`` and ``DIR/passwords``; print how to load them."""
    prefix, site_user, devices = _names(args)
    try:
        acl = render_acl(prefix=prefix, site_user=site_user)
        passwords = render_password_template([site_user, *devices])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out: Path = args.out
    files = {out / "acl": acl, out / "passwords": passwords}
    if not args.force:
        existing = [str(path) for path in files if path.exists()]
        if existing:
            raise UsageError(f"{', '.join(existing)}: already there; pass --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    acl_path, password_path = (path.resolve() for path in files)
    print(f"wrote {acl_path} (prefix {prefix}/, site user {site_user})")
    print(f"wrote {password_path} ({len(devices) + 1} users with the password CHANGE-ME)")
    print(f"Set each password, then hash them: mosquitto_passwd -U {password_path}")
    print("Then put these lines in mosquitto.conf:")
    print("  allow_anonymous false")
    print(f"  password_file {password_path}")
    print(f"  acl_file {acl_path}")
    return 0
