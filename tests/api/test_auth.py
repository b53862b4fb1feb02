"""Auth and roles on every route, the open-on-loopback rule, rate limits, the key store."""

from __future__ import annotations

import re
import stat
import time
from typing import TYPE_CHECKING

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import AsyncTestClient

from meterhub.api import KeyStore, Role, create_app
from meterhub.api._auth import RateLimiter, required_access
from meterhub.platform import ConfigError
from meterhub.settings import ApiSettings, is_loopback, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from litestar import Litestar

    from tests.api.conftest import FakeSite

# every route of the app and who may use it: a new route must be added here
ACCESS = {
    ("GET", "/health"): "public",
    ("GET", "/ready"): "public",
    ("GET", "/metrics"): "viewer",
    ("GET", "/api/v1/status"): "viewer",
    ("GET", "/api/v1/plugins"): "viewer",
    ("GET", "/api/v1/devices"): "viewer",
    ("POST", "/api/v1/devices"): "admin",
    ("GET", "/api/v1/devices/{device_id:str}"): "viewer",
    ("PUT", "/api/v1/devices/{device_id:str}"): "admin",
    ("DELETE", "/api/v1/devices/{device_id:str}"): "admin",
    ("GET", "/api/v1/devices/{device_id:str}/latest"): "viewer",
    ("GET", "/api/v1/readings"): "viewer",
    ("GET", "/api/v1/consumption"): "viewer",
    ("GET", "/api/v1/trends"): "viewer",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/{alert_id:str}"): "viewer",
    ("POST", "/api/v1/alerts/{alert_id:str}/acknowledge"): "operator",
    ("POST", "/api/v1/alerts/{alert_id:str}/resolve"): "operator",
    ("GET", "/api/v1/device-types"): "viewer",
    ("GET", "/api/v1/device-types/{name:str}"): "viewer",
    ("PUT", "/api/v1/device-types/{name:str}"): "admin",
    ("DELETE", "/api/v1/device-types/{name:str}"): "admin",
    ("GET", "/api/v1/applications"): "viewer",
    ("PUT", "/api/v1/applications/{name:str}"): "admin",
    ("DELETE", "/api/v1/applications/{name:str}"): "admin",
    ("GET", "/api/v1/dead-letters"): "operator",
    ("GET", "/api/v1/devices/{device_id:str}/events"): "viewer",
    ("POST", "/api/v1/devices/{device_id:str}/commands"): "operator",
    ("GET", "/api/v1/devices/{device_id:str}/commands"): "viewer",
    ("GET", "/api/v1/commands/{command_id:str}"): "viewer",
    ("POST", "/api/v1/devices/{device_id:str}/ota"): "admin",
    ("GET", "/api/v1/devices/{device_id:str}/ota"): "viewer",
    ("GET", "/api/v1/ota/{ota_id:str}"): "viewer",
    ("PUT", "/api/v1/devices/{device_id:str}/approval"): "admin",
    ("WS", "/api/v1/live"): "viewer",
}
SAMPLES = {"device_id": "m1", "alert_id": "a0", "name": "t1", "path": "swagger",
           "command_id": "c1", "ota_id": "o1"}  # fmt: skip
BODIES = {
    ("POST", "/api/v1/devices"): {"id": "new-1", "device_type": "kaifa"},
    ("PUT", "/api/v1/devices/{device_id:str}"): {"device_type": "kaifa"},
    ("PUT", "/api/v1/device-types/{name:str}"): {"metrics": ["power_import_w"]},
    ("PUT", "/api/v1/applications/{name:str}"): {"device_types": ["kaifa"]},
    ("POST", "/api/v1/devices/{device_id:str}/commands"): {"command": "reboot"},
    ("PUT", "/api/v1/devices/{device_id:str}/approval"): {"approval": "accepted"},
    ("POST", "/api/v1/devices/{device_id:str}/ota"): {"url": "https://fw.example/pm.bin",
                                                      "version": "1.5.0", "sha256": "9f" * 32},
}  # fmt: skip
RANKS = ["viewer", "operator", "admin"]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES[m.group(1)], path)


def _routes(app: Litestar) -> dict[tuple[str, str], str | None]:
    """(method, path) -> declared access of every route the app serves."""
    found: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        if isinstance(route, WebSocketRoute):
            found["WS", route.path] = required_access(route.route_handler)
            continue
        assert isinstance(route, HTTPRoute), route
        for handler in route.route_handlers:
            level = required_access(handler)
            if route.path.startswith("/schema"):
                assert level == "public"
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                found[method, route.path] = level
            if handler.http_methods == {"OPTIONS"}:
                assert level == "public"
    return found


async def _request(client: AsyncTestClient[Litestar], method: str, path: str,
                   token: str | None) -> int:  # fmt: skip
    if method == "WS":
        url = _url(path) + (f"?token={token}" if token else "")
        try:
            with await client.websocket_connect(url):
                return 101
        except WebSocketDisconnect as exc:
            return {4401: 401, 4403: 403}.get(exc.code, exc.code)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.request(method, _url(path), headers=headers,
                                    json=BODIES.get((method, path)))  # fmt: skip
    if response.status_code in (401, 403):
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code
    return response.status_code


async def test_every_route_declares_the_access_in_the_table(
    make_app: Callable[..., Litestar],
) -> None:
    declared = _routes(make_app())
    assert declared == ACCESS, "a route was added or changed: update ACCESS (and its guard)"


async def test_every_route_enforces_its_role(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    tokens = {role: keys.create(Role(role), f"{role} key")[1] for role in RANKS}
    async with AsyncTestClient(make_app(), base_url="http://127.0.0.1") as client:
        for (method, path), level in sorted(ACCESS.items()):
            no_key = await _request(client, method, path, None)
            bad_key = await _request(client, method, path, "mh_000000000000_forged")
            if level == "public":
                assert no_key not in (401, 403), (method, path)
                continue
            assert (no_key, bad_key) == (401, 401), (method, path)
            for role in RANKS:
                status = await _request(client, method, path, tokens[role])
                allowed = RANKS.index(role) >= RANKS.index(level)
                assert (status == 403) is not allowed, (method, path, role, status)
                assert status != 401, (method, path, role)


async def test_a_handler_without_an_access_level_is_refused_at_build_time() -> None:
    from litestar import get

    from meterhub.api._auth import check_routes

    @get("/unguarded", sync_to_thread=False)
    def unguarded() -> str:
        return "oops"

    with pytest.raises(TypeError, match="declares no access level"):
        check_routes([unguarded])


async def test_open_on_loopback_admits_callers_without_a_key_as_admin(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.put("/api/v1/device-types/meter", json={"metrics": []})
    assert response.status_code == 200


async def test_open_mode_still_checks_every_key_that_is_sent(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    record, revoked = keys.create(Role.ADMIN)
    _, viewer = keys.create(Role.VIEWER)
    keys.revoke(record.id)
    app = make_app(auth="open-on-loopback")
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        for token in (revoked, "totally-bogus"):
            response = await client.get("/api/v1/devices",
                                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert response.status_code == 401, token
            assert response.json()["detail"] == "unknown or revoked API key"
        # a key's own role applies even though a caller without one is admin
        as_viewer = await client.put("/api/v1/device-types/meter", json={"metrics": []},
                                     headers={"Authorization": f"Bearer {viewer}"})  # fmt: skip
        assert as_viewer.status_code == 403
        assert (await client.get("/api/v1/devices")).status_code == 200


async def test_keys_mode_without_any_key_answers_401_saying_how_to_create_one(
    make_app: Callable[..., Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    assert "no API key exists" in caplog.text
    async with AsyncTestClient(app, base_url="http://127.0.0.1") as client:
        response = await client.get("/api/v1/devices")
        assert response.status_code == 401
        assert "meterhub keys create --role admin" in response.json()["detail"]
        assert "Bearer" in response.headers["www-authenticate"]
        assert (await client.get("/health")).status_code == 200


async def test_revoking_the_last_key_never_opens_the_api(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    record, token = keys.create(Role.ADMIN)
    async with AsyncTestClient(make_app(), base_url="http://127.0.0.1") as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/devices", headers=auth)).status_code == 200
        keys.revoke(record.id)
        for headers in (auth, {"Authorization": "Bearer totally-bogus"}, {}):
            response = await client.get("/api/v1/devices", headers=headers)
            assert response.status_code == 401, headers


async def test_creating_a_key_in_keys_mode_lets_it_in_at_once(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    async with AsyncTestClient(make_app(), base_url="http://127.0.0.1") as client:
        assert (await client.get("/api/v1/devices")).status_code == 401
        _, token = keys.create(Role.VIEWER)
        response = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "192.0.2.10:80", "[::]:8080", "meter.lan:80"])
def test_an_open_api_on_other_addresses_is_a_config_error(
    site: FakeSite, keys: KeyStore, listen: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"^api.auth: 'open-on-loopback' needs a loopback"):
        create_app(site, ApiSettings(listen=listen, auth="open-on-loopback"), keys)
    config = tmp_path / "site.toml"
    config.write_text(f'[api]\nlisten = "{listen}"\nauth = "open-on-loopback"\n')
    with pytest.raises(ConfigError, match=r"site.toml: api.auth: 'open-on-loopback' needs"):
        load_settings(config)
    # keys (the default) is safe anywhere: without a key nothing but /health is served
    create_app(site, ApiSettings(listen=listen), keys)


async def test_other_addresses_never_open_even_after_every_key_is_revoked(
    site: FakeSite, keys: KeyStore
) -> None:
    record, _ = keys.create(Role.ADMIN)
    app = create_app(site, ApiSettings(listen="0.0.0.0:8080"), keys)
    keys.revoke(record.id)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/api/v1/devices")).status_code == 401


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
    ("LocalHost.", True), ("grafana.localhost", True), ("localhost.example.org", False),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("example.org", False),  # noqa: S104
])  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_rate_limit_is_per_key_and_answers_429_with_retry_after(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    _, first = keys.create(Role.VIEWER)
    _, second = keys.create(Role.VIEWER)
    async with AsyncTestClient(make_app(rate_limit_per_minute=2)) as client:
        for _ in range(2):
            ok = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {first}"})
            assert ok.status_code == 200
        limited = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {first}"})
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["type"].endswith("rate-limited")
        other = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {second}"})
        assert other.status_code == 200
        assert (await client.get("/health")).status_code == 200  # probes are never limited


def test_rate_limiter_refills_evenly() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(60)] == [0.0] * 60
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.take("k") == 0.0
    assert RateLimiter(0).take("k") == 0.0


def test_key_store_keeps_only_a_digest_in_a_private_file(keys: KeyStore) -> None:
    record, token = keys.create(Role.OPERATOR, "scada")
    text = keys.path.read_text()
    assert token not in text
    assert token.split("_", 2)[2] not in text
    assert record.sha256 in text
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert keys.authenticate(token) == record
    assert keys.authenticate(token + "x") is None
    assert keys.authenticate("garbage") is None
    listed = KeyStore(keys.path).keys()
    assert [k.name for k in listed] == ["scada"]
    assert keys.revoke(record.id)
    assert not keys.revoke(record.id)
    assert keys.authenticate(token) is None
    assert keys.is_empty()


def test_changes_by_another_process_show_after_the_recheck_interval(keys: KeyStore) -> None:
    site_view = KeyStore(keys.path, recheck_s=0.2)
    assert site_view.is_empty()
    _, token = KeyStore(keys.path).create(Role.VIEWER)  # the CLI, say
    assert site_view.is_empty()  # not looked at the file again yet
    time.sleep(0.25)
    assert not site_view.is_empty()
    assert site_view.authenticate(token) is not None
    _, own = site_view.create(Role.ADMIN)  # its own change shows at once
    assert site_view.authenticate(own) is not None


def test_a_broken_key_file_keeps_the_last_good_keys(keys: KeyStore) -> None:
    keys.recheck_s = 0.0  # look at the file on every call
    record, token = keys.create(Role.ADMIN)
    assert keys.authenticate(token) == record
    keys.path.write_text("{not json")
    assert keys.authenticate(token) == record
    with pytest.raises(ConfigError, match="not a valid key file"):
        KeyStore(keys.path).create(Role.ADMIN)
