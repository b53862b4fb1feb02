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
        assert (await client.get("/api/v1/devices")).status_code == 401
        assert main(["keys", "create", "--role", "admin", *data_dir]) == 0
        assert main(["keys", "create", "--role", "viewer", "--name", "grafana", *data_dir]) == 0
        token = capsys.readouterr().out.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        # a running site looks at the key file at most once a second
        assert await status_within(client, "/api/v1/devices", auth, 200)
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


async def test_serve_refuses_an_open_api_on_a_public_address(
    site: FakeSite, keys: KeyStore
) -> None:
    app = create_app(site, ApiSettings(auth="open-on-loopback"), keys)
    with pytest.raises(ConfigError, match=r"api.auth: 'open-on-loopback' needs a loopback"):
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
        port = await server_group.start(serve, make_app(auth="open-on-loopback"), "127.0.0.1", 0)

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


@pytest.mark.parametrize(("config", "keyless"), [
    (None, 'auth = "open-on-loopback": callers without a key are admitted'),  # the demo
    ("", "every route but /health, /ready and /schema answers 401 without a key"),
])  # fmt: skip
def test_keys_cli_says_what_callers_without_a_key_get(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str | None, keyless: str
) -> None:
    site = ["--data-dir", str(tmp_path)]
    if config is not None:
        (tmp_path / "site.toml").write_text(config)
        site += ["-c", str(tmp_path / "site.toml")]
    assert main(["keys", "list", *site]) == 0
    assert keyless in capsys.readouterr().out
    assert main(["keys", "create", "--role", "admin", *site]) == 0
    created = capsys.readouterr()
    assert (keyless in created.err) is (config is None)  # a note only where keys are optional
    key_id = created.err.split(" key ", 1)[1].split(";", 1)[0]
    assert main(["keys", "create", "--role", "viewer", *site]) == 0
    other_id = capsys.readouterr().err.split(" key ", 1)[1].split(";", 1)[0]
    assert main(["keys", "revoke", key_id, *site]) == 0
    assert "last API key" not in capsys.readouterr().err
    assert main(["keys", "revoke", other_id, *site]) == 0
    revoked = capsys.readouterr().err
    assert "warning: that was the last API key; " in revoked
    assert keyless in revoked
