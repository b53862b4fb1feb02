"""``meterhub simulate``: real meter telegrams from simulated meters, for tests and demos.

With ``--mqtt`` it runs simulated MQTT devices instead (``_simulate_mqtt``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tty
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from meterhub.adapters.simulator import SimulatedMeter, demo_key
from meterhub.cli import _simulate_mqtt
from meterhub.platform import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {text!r}")
    return value


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")
    return int(text)


def add_parser(commands: Any) -> None:  # noqa: ANN401 (argparse's private subparsers type)
    """Register the ``simulate`` command."""
    sim = commands.add_parser(
        "simulate",
        help="produce telegrams of simulated meters (Kaifa M-Bus, DSMR P1) or MQTT devices",
        description="Writes telegrams as hex lines (default), raw bytes, to a new "
        "pseudo-terminal (--pty) or to an existing serial device (--port). With --mqtt, "
        "runs simulated MQTT devices on that broker instead (docs/mqtt-protocol.md).",
    )
    sim.add_argument("--kind", choices=["kaifa_flat", "kaifa_nested", "dsmr5"],
                     default="kaifa_flat")  # fmt: skip
    sim.add_argument("--meter-number", default="000000000001")
    sim.add_argument("--key", help="32 hex digits (default: the meter's demo key, "
                     "`meterhub simulate --show-key` prints it); 'none': unencrypted")  # fmt: skip
    sim.add_argument("--show-key", action="store_true", help="print the key and exit")
    sim.add_argument("--interval", type=_seconds, default=1.0, help="seconds between telegrams")
    sim.add_argument("--count", type=_count, default=0, help="stop after N telegrams (0: never)")
    sim.add_argument("--pv", action="store_true", help="a meter with a PV system (exports)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--mqtt", metavar="URL", help="run MQTT devices on this broker "
                     "(mqtt://HOST[:PORT] or mqtts://HOST[:PORT]) instead of meters")  # fmt: skip
    sim.add_argument("--devices", type=_simulate_mqtt.device_count, default=5,
                     help="with --mqtt: how many devices (kinds round-robin)")  # fmt: skip
    sim.add_argument("--misbehave", type=_simulate_mqtt.misbehaviours, nargs="?",
                     const="all", default=frozenset(), metavar="NAMES",
                     help="with --mqtt: misbehave now and then (all, or some of "
                     "duplicates,gaps,restarts,malformed,batches)")  # fmt: skip
    sim.add_argument("--prefix", default="iot", help="with --mqtt: the topic prefix")
    out = sim.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="raw bytes on stdout instead of hex")
    out.add_argument("--pty", action="store_true", help="create a pty and write to it")
    out.add_argument("--port", help="write to this serial device or pty")
    sim.set_defaults(func=run)


def _key(args: argparse.Namespace) -> bytes | None:
    if args.kind == "dsmr5":  # DSMR 5 P1 ports send plain text
        return None
    if args.key is None:
        return demo_key(args.meter_number)
    if args.key.lower() == "none":
        return None
    try:
        key = bytes.fromhex(args.key)
    except ValueError:
        key = b""
    if len(key) != 16:  # noqa: PLR2004 (AES-128)
        raise ConfigError("--key", "", "expected 32 hexadecimal digits or 'none'")
    return key


def _writer(args: argparse.Namespace) -> Callable[[bytes], None]:
    if args.pty:
        master, slave = os.openpty()
        tty.setraw(slave)
        print(f"writing telegrams to {os.ttyname(slave)}", file=sys.stderr, flush=True)
        return lambda data: _write_all(master, data)
    if args.port:
        fd = os.open(args.port, os.O_WRONLY | os.O_NOCTTY)
        return lambda data: _write_all(fd, data)
    if args.raw:
        return _write_stdout
    return lambda data: print(data.hex().upper(), flush=True)


def _write_stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def run(args: argparse.Namespace) -> int:
    """Produce telegrams until ``--count`` is reached or the user stops it."""
    if args.mqtt:
        return _simulate_mqtt.run(args)
    if args.show_key:
        key = _key(args)
        print(key.hex().upper() if key else "none")
        return 0
    meter = SimulatedMeter(args.kind, args.meter_number, _key(args), seed=args.seed,
                           pv=args.pv, start=datetime.now(UTC))  # fmt: skip
    write = _writer(args)

    async def produce() -> None:
        sent = 0
        next_at = anyio.current_time()
        while not args.count or sent < args.count:
            write(meter.telegram(datetime.now(UTC)))
            sent += 1
            if args.count and sent >= args.count:
                break
            next_at += args.interval
            await anyio.sleep_until(next_at)

    try:
        anyio.run(produce)
    except KeyboardInterrupt:  # how a user stops an endless simulation
        return 0
    return 0
