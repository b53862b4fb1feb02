"""A real Mosquitto broker for tests, started from the system binary on a free port.

Use the fixtures from a ``conftest.py``::

    from tests.mqtt import mosquitto  # noqa: F401 - fixture

``mosquitto`` (function) starts a fresh broker with persistence in a temporary folder.
``Mosquitto.stop()``/``start()`` (or ``with broker.down():``) take it away and bring it
back on the same port with its persisted sessions, for outage tests. ``Mosquitto(...,
password_file=..., acl_file=...)`` runs one with authentication. Without Mosquitto the
tests are skipped with a reason; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import require_binary

if TYPE_CHECKING:
    from collections.abc import Iterator


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def mosquitto_binary() -> str:
    """The broker binary (Debian puts it in /usr/sbin, often not on PATH)."""
    if Path("/usr/sbin/mosquitto").exists() and shutil.which("mosquitto") is None:
        return "/usr/sbin/mosquitto"
    return require_binary("mosquitto", "the MQTT tests talk to a real broker")


class Mosquitto:
    """One broker process with its own folder, port and persistence file."""

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        extra: str = "",
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.password_file = password_file
        self.acl_file = acl_file
        self.extra = extra
        self.log = folder / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.folder}/",
            # the defaults drop QoS 1 messages past 1000 queued per client: a test of
            # "nothing lost" must not run into the broker's own limit
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # as root, Mosquitto switches to the user "mosquitto", which may not write
            # the log or the persistence file in the test's folder: sessions then die
            # with a restart
            lines.append("user root")
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n" + self.extra + "\n")
        return config

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        config = self._config()
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                msg = f"mosquitto exited with {self._process.returncode}: {log}"
                raise RuntimeError(msg)
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        msg = "mosquitto did not start within 10 s"
        raise RuntimeError(msg)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM saves its persistence file; SIGKILL does not)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The broker is away inside the block, back (same port, same sessions) after."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh, anonymous broker with persistence, stopped after the test."""
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    broker = Mosquitto(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
