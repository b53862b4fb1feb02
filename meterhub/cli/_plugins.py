"""``meterhub plugins list``: every installed plugin, what it provides and its state."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from meterhub._plugins import load_site_plugins
from meterhub.cli._store_commands import UsageError
from meterhub.plugins import PluginReport, PluginStatus
from meterhub.settings import load_settings

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

_reports = msgspec.json.Decoder(list[PluginReport])


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register ``plugins list``."""
    plugins = commands.add_parser("plugins", help="list installed plugins and their state")
    sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = sub.add_parser(
        "list", help="every discovered plugin: interfaces, version, state, last error",
        description="Without --url: the plugins as a site with this configuration would "
        "load them (available, enabled, off or refused, with the reason). With --url: the "
        "running site's view, with crashes (running, restarting, disabled).")  # fmt: skip
    listing.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    listing.add_argument("--url", help="a running site's API, e.g. http://127.0.0.1:8080")
    listing.add_argument("--key", help="API key for --url (viewer role)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run)


def _from_site(url: str, key: str | None) -> list[PluginReport]:
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/plugins")  # noqa: S310 (the user's URL)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return _reports.decode(response.read())
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"{url}: {exc}") from None


def _offline(config: Path | None) -> list[PluginReport]:
    plugins = load_site_plugins(load_settings(config)).plugins
    return [PluginReport(name=p.name, interfaces=sorted(p.interfaces), version=p.version,
                         package=p.package, state=p.status.value, error=p.error)
            for p in plugins]  # fmt: skip


def _table(reports: Sequence[PluginReport]) -> str:
    if not reports:
        return "no plugins installed\n"
    rows = [("NAME", "INTERFACES", "VERSION", "STATE", "PACKAGE")]
    rows += [(r.name, ",".join(r.interfaces) or "-", r.version, r.state, r.package or "-")
             for r in reports]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    lines += [f"  {r.name}: {r.error}" for r in reports if r.error]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the plugins; exit 1 if a configured one is refused or disabled."""
    reports = _from_site(args.url, args.key) if args.url else _offline(args.config)
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(reports), indent=2).decode())
    else:
        print(_table(reports), end="")
    bad = {PluginStatus.REFUSED.value, "disabled"}
    return 1 if any(r.state in bad for r in reports) else 0
