"""``serve()`` under a real uvicorn on 127.0.0.1 with real HTTP clients; the keys CLI."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from meterhub.api import KeyStore, Role, create_app, serve
from meterhub.cli import main
from meterhub.platform import ConfigError
from meterhub.settings import ApiSettings
from tests.api.conftest import served

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from litestar import Litestar

    from tests.api.conftest import FakeSite


async def test_serve_reports_its_port_and_stops_when_cancelled(
    make_app: Callable[..., Litestar],
) -> None:
    async with served(make_app()) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        port = client.base_url.port
    with socket.socket() as probe:  # the port is free again: the server closed its socket
        probe.bind(("127.0.0.1", port))


async def test_keys_over_real_http(make_app: Callable[..., Litestar], keys: KeyStore) -> None:
    _, viewer = keys.create(Role.VIEWER)
    _, operator = keys.create(Role.OPERATOR)
    async with served(make_app()) as client:
        missing = await client.get("/api/v1/alerts")
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        wrong = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        seen = await client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {viewer}"})
        assert seen.status_code == 200
        refused = await client.post("/api/v1/alerts/a0/acknowledge",
                                    headers={"Authorization": f"Bearer {viewer}"})  # fmt: skip
        assert refused.status_code == 403
        assert "operator" in refused.json()["detail"]
        done = await client.post("/api/v1/alerts/a0/acknowledge",
                                 headers={"Authorization": f"Bearer {operator}"})  # fmt: skip
        assert done.status_code == 200


async def status_within(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                        status: int, seconds: float = 3.0) -> bool:  # fmt: skip
    """Whether ``path`` answers ``status`` within ``seconds``."""
    deadline = anyio.current_time() + seconds
    while anyio.current_time() < deadline:
        if (await client.get(path, headers=headers)).status_code == status:
            return True
        await anyio.sleep(0.1)
    return False


async def test_keys_cli_round_trip(
    make_app: Callable[..., Litestar], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data_dir = ["--data-dir", str(tmp_path)]
    async with served(make_app()) as client:
        assert main(["keys", "create", "--role", "admin", *data_dir]) == 0
        assert main(["keys", "create", "--role", "viewer", "--name", "grafana", *data_dir]) == 0
        token = capsys.readouterr().out.strip().splitlines()[-1]
        # a running site looks at the key file at most once a second
        assert await status_within(client, "/api/v1/devices", {}, 401)  # no longer open
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/devices", headers=auth)).status_code == 200
        assert main(["keys", "list", *data_dir]) == 0
        listing = capsys.readouterr().out
        assert "grafana" in listing
        assert "viewer" in listing
        assert token not in listing
        key_id = next(line.split()[0] for line in listing.splitlines() if "grafana" in line)
        assert main(["keys", "revoke", key_id, *data_dir]) == 0
        assert await status_within(client, "/api/v1/devices", auth, 401)
        assert main(["keys", "revoke", key_id, *data_dir]) == 1
        assert "no API key" in capsys.readouterr().err


async def test_serve_refuses_a_public_address_without_keys(site: FakeSite, keys: KeyStore) -> None:
    app = create_app(site, ApiSettings(), keys)
    with pytest.raises(ConfigError, match="meterhub keys create --role admin"):
        await serve(app, "0.0.0.0", 0)  # noqa: S104


async def test_a_busy_port_is_a_config_error(make_app: Callable[..., Litestar]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve(make_app(), "127.0.0.1", port)


async def test_a_request_in_flight_finishes_during_a_graceful_stop(
    make_app: Callable[..., Litestar], site: FakeSite
) -> None:
    entered, release = anyio.Event(), anyio.Event()
    answers: list[int] = []

    async def slow_change() -> None:
        entered.set()
        await release.wait()

    site.devices_changed = slow_change  # type: ignore[method-assign]
    async with anyio.create_task_group() as outer, anyio.create_task_group() as server_group:
        port = await server_group.start(serve, make_app(), "127.0.0.1", 0)

        async def request() -> None:
            async with httpx.AsyncClient() as client:
                response = await client.put(f"http://127.0.0.1:{port}/api/v1/device-types/t",
                                            json={})  # fmt: skip
                answers.append(response.status_code)

        outer.start_soon(request)
        await entered.wait()
        server_group.cancel_scope.cancel()  # the site stops the API first
        outer.start_soon(_release_when_stopping, release)
    assert answers == [200]


async def _release_when_stopping(release: anyio.Event) -> None:
    release.set()
