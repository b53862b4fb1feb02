"""A throwaway PostgreSQL server for integration tests, started from the system binaries.

Use the fixtures from a ``conftest.py``::

    from tests.pg import pg_dsn, pg_server  # noqa: F401 - fixtures

``pg_server`` (session) starts one server on a free port in a temporary folder and
stops it at the end; ``pg_dsn`` (function) creates a fresh database per test and drops
it afterwards, so tests never see each other's rows. ``PgServer.stop()``/``start()``
(or ``with server.down():``) take the same server away and bring it back, for outage
tests. Without PostgreSQL the tests are skipped with a reason; under ``CI=true`` they
fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import IN_CI

if TYPE_CHECKING:
    from collections.abc import Iterator

_USER = "postgres"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` (Debian layout), else ``pg_ctl`` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(candidates):
        if (bindir / "pg_ctl").exists():
            return bindir
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(reason: str) -> None:
    message = f"PostgreSQL is not available ({reason}); `bash scripts/test.sh` installs it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PgServer:
    """One throwaway cluster: data and sockets under ``root``, listening on ``port``."""

    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # PostgreSQL refuses to run as root, so as root every tool runs as `postgres`.
        prefix = ["runuser", "-u", _USER, "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            _USER,
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop fast (open connections are closed) and wait until it is down."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        status = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Keep the server stopped inside the block; it is running again afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run(
            str(self.bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            _USER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (skipped when PostgreSQL is missing)."""
    bindir = find_bindir()
    if bindir is None:
        _missing("no pg_ctl in /usr/lib/postgresql/*/bin or on PATH")
    assert bindir is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _missing("running as root needs runuser to start the server as `postgres`")
    root = Path(tempfile.mkdtemp(prefix="meterhub-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user=_USER)
    server = PgServer(bindir=bindir, root=root, port=_free_port())
    try:
        server.init()
        server.start()
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        _missing(f"could not start it: {exc.stderr.strip() or exc}")
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """DSN of a fresh, empty database that is dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.psql(f"CREATE DATABASE {name}")
    try:
        yield pg_server.dsn(name)
    finally:
        if not pg_server.is_running():
            pg_server.start()  # a test that stopped the server must not break the next
        pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
