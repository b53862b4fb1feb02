"""A Mosquitto ``acl_file`` and password file for the device protocol (docs/mqtt-protocol.md).

Pure text: ``meterhub mqtt-acl`` writes it, the operator loads it in ``mosquitto.conf``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

# docs/mqtt-protocol.md, "Connection": 1 to 64 letters, digits, '.', '_' and '-'
_DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
PLACEHOLDER_PASSWORD = "CHANGE-ME"  # noqa: S105 (what the operator replaces)
DEVICE_TOPICS = ("hello", "telemetry", "status", "command/ack", "ota/status")
"""What a device publishes under ``<prefix>/<device_id>/``."""


def check_device_id(device_id: str, *, what: str = "device id") -> str:
    """``device_id`` when it is 1 to 64 letters, digits, '.', '_' or '-'.

    Mosquitto puts the username in for ``%u`` in ACL patterns as it is, so a name with
    ``+``, ``#`` or ``/`` would widen a device's rights to other devices' topics.

    Raises:
        ValueError: it is not; the message names the value and the rule.
    """
    if _DEVICE_ID.fullmatch(device_id) is None:
        raise ValueError(
            f"{what} {device_id!r}: expected 1 to 64 letters, digits, '.', '_' and '-'"
        )
    return device_id


def _check_prefix(prefix: str) -> str:
    if len(prefix) > 128 or _PREFIX.fullmatch(prefix) is None:  # noqa: PLR2004 ([mqtt] prefix)
        raise ValueError(
            f"topic prefix {prefix!r}: expected levels of letters, digits, '.', '_' "
            "and '-' joined by '/' (no wildcards), at most 128 characters"
        )
    return prefix


def render_acl(*, prefix: str = "iot", site_user: str = "meterhub") -> str:
    """The ``acl_file``: the site reads every device, each device only its own topics.

    Raises:
        ValueError: the prefix or the site user is not a valid name.
    """
    _check_prefix(prefix)
    check_device_id(site_user, what="site user")
    lines = [
        "# Mosquitto acl_file for the meterhub MQTT device protocol (docs/mqtt-protocol.md).",
        "# Written by `meterhub mqtt-acl`. Load it with `acl_file` in mosquitto.conf.",
        "",
        "# A device's username is its device id (%u below): it may publish only under",
        "# its own id and read only its own commands. Patterns apply to every user.",
        *(f"pattern write {prefix}/%u/{topic}" for topic in DEVICE_TOPICS),
        f"pattern read {prefix}/%u/command",
        "",
        f"# The site ({site_user}) reads what every device publishes under {prefix}/",
        "# and sends commands to any device.",
        f"user {site_user}",
        f"topic read {prefix}/#",
        f"topic write {prefix}/+/command",
    ]
    return "\n".join(lines) + "\n"


def render_password_template(users: Sequence[str]) -> str:
    """A ``password_file`` with the placeholder password ``CHANGE-ME`` for each user.

    Set the passwords, then hash them in place with ``mosquitto_passwd -U FILE``. No
    comment says so in the file: ``mosquitto_passwd`` 2.0 calls a line without ``:``
    corrupt, and one with ``:`` would become a user.

    Raises:
        ValueError: a user is not a valid name, or is listed twice.
    """
    seen: set[str] = set()
    for user in users:
        check_device_id(user, what="user")
        if user in seen:
            raise ValueError(f"user {user!r} is listed twice")
        seen.add(user)
    return "".join(f"{user}:{PLACEHOLDER_PASSWORD}\n" for user in users)
