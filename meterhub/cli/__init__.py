"""The ``meterhub`` command."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from meterhub import __version__
from meterhub._plugins import load_site_plugins
from meterhub.cli import (
    _decode,
    _keys,
    _mqtt_acl,
    _plugins,
    _profile,
    _simulate,
    _store_commands,
)
from meterhub.platform import ConfigError, MeterhubError, configure_logging, to_display
from meterhub.plugins import PluginStatus
from meterhub.settings import DEMO_PATH, EXAMPLE_PATH, Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Sequence

_log = logging.getLogger("meterhub.cli")
# the exit codes, as the README's table documents them
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool cut off by a pipe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meterhub", description="Read every smart meter at a site and serve its data."
    )
    parser.add_argument("--version", action="version", version=f"meterhub {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the site (the demo site without -c)")
    run.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    run.add_argument("--data-dir", help="folder for the journal and the store")
    run.add_argument("--listen", metavar="HOST:PORT", help="address of the HTTP API")
    run.set_defaults(func=_cmd_run)

    config = commands.add_parser("config", help="check or write configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a file and show the result")
    check.add_argument("file", type=Path)
    check.set_defaults(func=_cmd_config_check)
    example = config_commands.add_parser("example", help="print a commented example config")
    example.set_defaults(func=_cmd_config_example)
    demo = config_commands.add_parser(
        "demo", help="print the built-in demo site's configuration (what `run` uses without -c)"
    )
    demo.set_defaults(func=_cmd_config_demo)
    _decode.add_parser(commands)
    _profile.add_parser(commands)
    _simulate.add_parser(commands)
    _store_commands.add_parsers(commands)
    _keys.add_parser(commands)
    _mqtt_acl.add_parser(commands)
    _plugins.add_parser(commands)
    return parser


def _flag_overrides(args: argparse.Namespace) -> dict[str, tuple[str, object]]:
    overrides: dict[str, tuple[str, object]] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = ("--data-dir", args.data_dir)
    if args.listen is not None:
        overrides["api.listen"] = ("--listen", args.listen)
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, _flag_overrides(args))
    configure_logging(settings.logging.level, settings.logging.format)
    # asyncpg logs a traceback for every failed reconnect; the store writer already
    # reports an outage once, with readiness
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    source = str(args.config) if args.config else "the built-in demo configuration"
    _log.info("starting meterhub %s with %s", __version__, source)
    anyio.run(_serve, settings, backend_options=_loop_options())
    _log.info("stopped cleanly")
    return 0


def _loop_options() -> dict[str, object]:
    """Use uvloop where it is installed: the same asyncio API, a faster loop."""
    try:
        import uvloop  # noqa: F401, PLC0415
    except ImportError:  # pragma: no cover - it is a dependency, but optional to run
        return {}
    return {"use_uvloop": True}


async def _serve(settings: Settings) -> None:
    """Run the site until SIGINT or SIGTERM; a second signal cuts the drain short."""
    # imported here: the site pulls in every adapter, which `decode` does not need
    from meterhub.site import Site  # noqa: PLC0415

    stop = anyio.Event()
    with anyio.CancelScope() as everything:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if stop.is_set():
                        _log.warning("second signal: stopping without draining")
                        everything.cancel()
                        return
                    _log.info("received %s, stopping", signal.Signals(signum).name)
                    stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_signals)
            async with Site(settings):
                await stop.wait()
            tg.cancel_scope.cancel()


def _cmd_config_check(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    refused = [p for p in load_site_plugins(settings).plugins
               if p.name in settings.plugins and p.status is PluginStatus.REFUSED]  # fmt: skip
    if refused:
        for plugin in refused:
            print(f"meterhub: {args.file}: plugin {plugin.name}: {plugin.error}", file=sys.stderr)
        print("(a site with this file runs without these plugins)", file=sys.stderr)
        return 2
    print(f"{args.file}: OK")
    print("Effective settings (defaults filled in, environment applied, secrets hidden):")
    print(msgspec.json.format(msgspec.json.encode(to_display(settings)), indent=2).decode())
    return 0


def _cmd_config_example(_args: argparse.Namespace) -> int:
    print(EXAMPLE_PATH.read_text(encoding="utf-8"), end="")
    return 0


def _cmd_config_demo(_args: argparse.Namespace) -> int:
    print(DEMO_PATH.read_text(encoding="utf-8"), end="")
    return 0


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 (one return per exit code)
    """Entry point of the ``meterhub`` console script (exit codes: see the README)."""
    args = _parser().parse_args(argv)  # bad options: one line naming it, exit 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a cut pipe shows here, not in the interpreter's shutdown
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        print(f"meterhub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except _store_commands.UsageError as exc:
        print(f"meterhub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except MeterhubError as exc:
        print(f"meterhub: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ExceptionGroup as group:  # our errors from inside the site's task groups
        ours, rest = group.split(MeterhubError)
        if rest is not None or ours is None:
            raise
        leaves = _leaves(ours)
        for error in leaves:
            kind = "configuration error" if isinstance(error, ConfigError) else "error"
            print(f"meterhub: {kind}: {error}", file=sys.stderr)
        configuration = all(isinstance(error, ConfigError) for error in leaves)
        return EXIT_CONFIG if configuration else EXIT_FAILED
    except KeyboardInterrupt:  # a signal before the site installed its own handlers
        return EXIT_INTERRUPTED
    return code
