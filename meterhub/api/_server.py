"""``serve``: uvicorn inside the caller's task group, stopped gracefully on cancellation.

uvicorn normally installs its own SIGINT/SIGTERM handlers and re-raises the signal after
shutdown; meterhub's entry point owns those signals, so the server here captures none
(STACK.md, constraint 9) and stops when the site cancels it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING

import anyio
import uvicorn

from meterhub.api._app import STATE_KEY, ServeInfo, refuse_open
from meterhub.platform import ConfigError, MeterhubError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anyio.abc import TaskStatus
    from litestar import Litestar

_log = logging.getLogger(__name__)
_DEFAULT_SHUTDOWN_TIMEOUT = 5.0
_BACKLOG = 2048


class ApiServerError(MeterhubError):
    """The HTTP server could not start (the app's startup hooks failed)."""


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone and says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Capture nothing: meterhub owns SIGINT and SIGTERM."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start, then wake :func:`serve`."""
        await super().startup(sockets=sockets)
        self.listening.set()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn runs so errors are ours to report."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError("api.listen", "", f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)  # noqa: FBT003 (socket's own signature)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ConfigError("api.listen", "", f"cannot listen on {host}:{port}: {reason}") from exc
    return sock


async def serve(
    app: Litestar,
    host: str,
    port: int,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled, then stop gracefully within the shutdown timeout.

    Reports the bound port with ``task_status.started(port)`` once it accepts
    connections (``port=0`` picks a free one). On cancellation it stops accepting, lets
    open requests finish and WebSockets close for up to ``[api] shutdown_timeout``
    seconds (shielded), then returns by re-raising the cancellation.

    Raises:
        ConfigError: the address cannot be bound, or it is not loopback while the API
            needs no key.
        ApiServerError: the app's startup failed.
    """
    info = app.state.get(STATE_KEY)
    timeout = _DEFAULT_SHUTDOWN_TIMEOUT
    if isinstance(info, ServeInfo):
        refuse_open(host, open_api=info.open_api)
        timeout = info.shutdown_timeout
    sock = _listen(host, port)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(timeout)),
    )
    server = _EmbeddedServer(config)
    stopped = anyio.Event()
    serving = anyio.CancelScope(shield=True)

    async def run() -> None:
        try:
            with serving:
                await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's answer to a failed lifespan startup
            raise ApiServerError("the HTTP API failed to start; see the log above") from exc
        finally:
            sock.close()
            stopped.set()
            server.listening.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            await server.listening.wait()
            if server.started:
                _log.info("HTTP API listening", extra={"url": f"http://{host}:{bound}"})
                task_status.started(bound)
            await stopped.wait()
        finally:
            server.should_exit = True
            with anyio.move_on_after(timeout + 1.0, shield=True):
                await stopped.wait()
            serving.cancel()
    if not server.started:
        raise ApiServerError("the HTTP API stopped before it was listening")
