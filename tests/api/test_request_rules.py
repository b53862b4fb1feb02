"""Cross-site defences and hostile bodies, over the real served API (uvicorn, httpx,
websockets): Host while open, Origin on writes and WebSockets, JSON-only bodies, any
depth of nesting, and WebSocket handshakes refused with HTTP statuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from meterhub.api import Role
from tests.api.conftest import served
from tests.api.test_auth import BODIES, _url
from tests.api.test_routes import assert_problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar import Litestar

    from meterhub.api import KeyStore

OPEN = {"auth": "open-on-loopback"}
WRITES = [(method, _url(path)) for method, path in BODIES]
WRITES_WITHOUT_BODY = [("POST", "/api/v1/alerts/a0/acknowledge"),
                       ("POST", "/api/v1/alerts/a1/resolve"),
                       ("DELETE", "/api/v1/devices/m1")]  # fmt: skip
JSON_BODY = b'{"id": "new-1", "device_type": "kaifa"}'


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "192.0.2.7:8080",
                                  "127.0.0.1.nip.io", "localhost.evil.example"])  # fmt: skip
async def test_an_open_api_refuses_foreign_host_names(
    make_app: Callable[..., Litestar], host: str
) -> None:
    async with served(make_app(**OPEN)) as client:
        for path in ("/api/v1/devices", "/api/v1/status", "/health", "/schema/openapi.json"):
            body = assert_problem(await client.get(path, headers={"Host": host}), 403, "Host")
            assert body["type"] == "urn:meterhub:problem:host-not-allowed"
            assert repr(host) in body["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "localhost:8080", "[::1]:8080",
                                  "LOCALHOST", "grafana.localhost:3000", "meters.lan:8080"])  # fmt: skip
async def test_an_open_api_answers_loopback_and_allowed_host_names(
    make_app: Callable[..., Litestar], host: str
) -> None:
    async with served(make_app(**OPEN, allowed_hosts=["meters.lan"])) as client:
        assert (await client.get("/api/v1/devices", headers={"Host": host})).status_code == 200


async def test_allowed_hosts_are_checked_with_keys_too(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    _, token = keys.create(Role.VIEWER)
    auth = {"Authorization": f"Bearer {token}"}
    async with served(make_app(allowed_hosts=["meters.lan"])) as client:
        ok = await client.get("/api/v1/devices", headers={**auth, "Host": "meters.lan"})
        assert ok.status_code == 200
        refused = await client.get("/api/v1/devices", headers={**auth, "Host": "evil.example"})
        assert_problem(refused, 403, "Host")
    # with keys and no allow-list, any name reaches the API: a key is needed anyway
    async with served(make_app()) as client:
        ok = await client.get("/api/v1/devices", headers={**auth, "Host": "meters.lan"})
        assert ok.status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
async def test_writes_from_foreign_origins_are_refused(
    make_app: Callable[..., Litestar], origin: str
) -> None:
    async with served(make_app(**OPEN)) as client:
        for method, path in [*WRITES, *WRITES_WITHOUT_BODY]:
            response = await client.request(method, path, content=JSON_BODY,
                                            headers={"Origin": origin,
                                                     "Content-Type": "application/json"})  # fmt: skip
            body = assert_problem(response, 403, "Origin")
            assert "cors_origins" in body["detail"], (method, path)
        # reading is not a write: CORS decides whether the page may see the answer
        response = await client.get("/api/v1/devices", headers={"Origin": origin})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
        assert (await client.get("/api/v1/devices/new-1")).status_code == 404  # nothing made


async def test_writes_from_allowed_and_own_origins_pass(make_app: Callable[..., Litestar]) -> None:
    app = make_app(**OPEN, cors_origins=["https://dashboard.example"])
    async with served(app) as client:
        own = f"http://127.0.0.1:{client.base_url.port}"  # the API's own /schema page
        for n, origin in enumerate(["https://dashboard.example", own]):
            response = await client.post("/api/v1/devices", headers={"Origin": origin},
                                         json={"id": f"new-{n}", "device_type": "kaifa"})  # fmt: skip
            assert response.status_code == 201, response.text
        preflight = await client.options("/api/v1/devices", headers={
            "Origin": "https://dashboard.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})  # fmt: skip
        assert preflight.headers["access-control-allow-origin"] == "https://dashboard.example"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])  # fmt: skip
async def test_write_bodies_must_be_declared_json(
    make_app: Callable[..., Litestar], content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with served(make_app(**OPEN)) as client:
        for method, path in WRITES:
            response = await client.request(method, path, content=JSON_BODY, headers=headers)
            body = assert_problem(response, 415, "Content-Type")
            assert "application/json" in body["detail"], (method, path)
        # a bodyless write may not claim a form either (what an HTML form sends)
        if content_type is not None:
            response = await client.post("/api/v1/alerts/a0/acknowledge", headers=headers)
            assert_problem(response, 415, "Content-Type")
        assert (await client.get("/api/v1/devices/new-1")).status_code == 404


async def test_json_bodies_and_bodyless_writes_pass(make_app: Callable[..., Litestar]) -> None:
    async with served(make_app(**OPEN)) as client:
        for n, content_type in enumerate(["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"]):  # fmt: skip
            response = await client.post("/api/v1/devices",
                                         content=JSON_BODY.replace(b"new-1", b"new-%d" % n),
                                         headers={"Content-Type": content_type})  # fmt: skip
            assert response.status_code == 201, (content_type, response.text)
        assert (await client.post("/api/v1/alerts/a0/acknowledge")).status_code == 200


def _nested(depth: int, inner: bytes = b"") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [500, 1000, 100_000])
async def test_any_depth_of_nesting_is_a_400_on_every_body(
    make_app: Callable[..., Litestar], depth: int
) -> None:
    shapes = [_nested(depth), b'{"id": ' + _nested(depth) + b"}",
              b'{"metadata": {"a": ' + _nested(depth) + b"}}",
              b"{" + b'"a":{' * depth + b"}" * depth + b"}"]  # fmt: skip
    async with served(make_app(**OPEN)) as client:
        for method, path in WRITES:
            for shape in shapes:
                response = await client.request(method, path, content=shape,
                                                headers={"Content-Type": "application/json"})  # fmt: skip
                assert_problem(response, 400)
        assert (await client.get("/health")).status_code == 200


async def test_empty_and_malformed_bodies_say_what_was_wrong(
    make_app: Callable[..., Litestar],
) -> None:
    async with served(make_app(**OPEN)) as client:
        for method, path in WRITES:
            response = await client.request(method, path, content=b"",
                                            headers={"Content-Type": "application/json"})  # fmt: skip
            body = assert_problem(response, 400)
            assert "the request body is empty" in body["detail"], (method, path)
            response = await client.request(method, path, content=b"[]",
                                            headers={"Content-Type": "application/json"})  # fmt: skip
            assert "Expected `object`, got `array`" in assert_problem(response, 400)["detail"]


async def _handshake(url: str, **headers: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers, open_timeout=5):
            pass
    response = refused.value.response
    return response.status_code, msgspec.json.decode(response.body), dict(response.headers)


async def test_websocket_handshakes_are_refused_with_http_statuses(
    make_app: Callable[..., Litestar], keys: KeyStore
) -> None:
    _, token = keys.create(Role.VIEWER)
    async with served(make_app(rate_limit_per_minute=2)) as client:
        ws = f"ws://127.0.0.1:{client.base_url.port}/api/v1/live"
        status, body, headers = await _handshake(ws)
        assert (status, body["status"]) == (401, 401)
        assert "?token=KEY" in body["detail"]
        assert headers["content-type"] == "application/problem+json"
        assert "Bearer" in headers["www-authenticate"]
        status, body, _ = await _handshake(f"{ws}?token=made-up")
        assert (status, body["detail"]) == (401, "unknown or revoked API key")
        status, body, _ = await _handshake(f"{ws}?token={token}", Origin="https://evil.example")
        assert (status, body["type"]) == (403, "urn:meterhub:problem:origin-not-allowed")
        async with connect(f"{ws}?token={token}", open_timeout=5) as live:
            for message, reason in [
                (_nested(100_000), "Expected `object`, got `array`"),
                (b'{"op": ' + _nested(2000) + b"}", "nested too deeply"),
            ]:
                await live.send(message.decode())
                reply = msgspec.json.decode(await live.recv())
                assert reply == {"kind": "error", "detail": f"invalid message: {reason}"}
            await live.send('{"op": "subscribe"}')  # the connection still works
            assert msgspec.json.decode(await live.recv())["kind"] == "subscribed"
        statuses = []
        for _ in range(3):
            try:
                async with connect(f"{ws}?token={token}", open_timeout=5):
                    statuses.append(101)
            except InvalidStatus as exc:
                statuses.append(exc.response.status_code)
        assert statuses[-1] == 429, statuses


async def test_an_open_api_refuses_websockets_for_foreign_host_names(
    make_app: Callable[..., Litestar],
) -> None:
    async with served(make_app(**OPEN)) as client:
        port = client.base_url.port
        assert port is not None
        async with await anyio.connect_tcp("127.0.0.1", port) as raw:
            await raw.send(b"GET /api/v1/live HTTP/1.1\r\nHost: evil.example\r\n"
                           b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           b"Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
            answer = b""
            with anyio.fail_after(5):
                while b"}" not in answer:
                    answer += await raw.receive()
        assert answer.startswith(b"HTTP/1.1 403 ")
        assert b"urn:meterhub:problem:host-not-allowed" in answer
        ws = f"ws://127.0.0.1:{port}/api/v1/live"
        async with connect(ws, open_timeout=5) as live:  # keyless is fine while open
            await live.send('{"op": "subscribe"}')
            assert msgspec.json.decode(await live.recv())["kind"] == "subscribed"
