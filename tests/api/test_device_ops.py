"""Dead letters, device events, commands and firmware updates through the served API."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from meterhub.adapters.stores import DeadLetterRow, Device, DeviceEventRow
from meterhub.api import Role, create_app
from meterhub.model import CommandState
from meterhub.settings import ApiSettings
from tests.api.conftest import T0, served

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from meterhub.api import KeyStore
    from tests.api.conftest import FakeSite

SHA = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
OTA = {"url": "https://fw.example/pm-1.5.0.bin", "version": "1.5.0", "sha256": SHA}


def device(device_id: str, source: str) -> Device:
    return Device(id=device_id, name=device_id, device_type="power_meter_ac",
                  metadata={"meterhub.input": source}, created_at=T0, updated_at=T0)  # fmt: skip


@contextlib.asynccontextmanager
async def api(site: FakeSite, keys: KeyStore) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The app served with keys; a client per role, and one without a key (``none``)."""
    await site.store.upsert_device(device("pm-1", "mqtt"))
    await site.store.upsert_device(device("m1", "serial"))
    tokens = {role: keys.create(Role(role), role)[1] for role in ("viewer", "operator", "admin")}
    async with served(create_app(site, ApiSettings(auth="keys"), keys)) as http:
        clients = {role: _Client(http, token) for role, token in tokens.items()}
        yield {**clients, "none": _Client(http, None)}  # type: ignore[dict-item]


class _Client:
    """The served app's client with one role's key on every request."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, url: str, **params: Any) -> httpx.Response:
        return await self.http.get(url, params=params, headers=self.headers)

    async def post(self, url: str, body: object) -> httpx.Response:
        return await self.http.post(url, json=body, headers=self.headers)


def problem_param(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    params = response.json().get("invalid_params") or response.json().get("invalid-params")
    assert params, response.json()
    return str(params[0]["name"])


# commands ---------------------------------------------------------------------------


async def test_a_command_is_stored_queued_and_handed_to_the_site(
    site: FakeSite, keys: KeyStore
) -> None:
    async with api(site, keys) as c:
        before = datetime.now(UTC)
        response = await c["operator"].post("/api/v1/devices/pm-1/commands", {
            "command": "set_relay", "params": {"phase": "l1", "on": False}, "timeout_s": 60})  # fmt: skip
        assert response.status_code == 202, response.text
        body = response.json()
        assert uuid.UUID(body["id"]).version == 4
        assert (body["device_id"], body["command"], body["state"]) == (
            "pm-1",
            "set_relay",
            "queued",
        )
        assert body["params"] == {"phase": "l1", "on": False}
        created = datetime.fromisoformat(body["created_at"])
        assert before <= created <= datetime.now(UTC)
        assert datetime.fromisoformat(body["expires_at"]) - created == timedelta(seconds=60)
        stored = await site.store.get_command(body["id"])
        assert site.queued == [stored]
        got = await c["viewer"].get(f"/api/v1/commands/{body['id']}")
        assert got.status_code == 200
        assert got.json() == body
        # without a timeout the site's default applies
        default = await c["operator"].post("/api/v1/devices/pm-1/commands", {"command": "reboot"})
        assert default.status_code == 202, default.text
        d = default.json()
        expires = datetime.fromisoformat(d["expires_at"]) - datetime.fromisoformat(d["created_at"])
        assert expires == timedelta(seconds=site.command_timeout_s())
        assert d["params"] == {}
        listed = await c["viewer"].get("/api/v1/devices/pm-1/commands")
        assert [x["id"] for x in listed.json()["items"]] == [d["id"], body["id"]]


async def test_commands_are_listed_by_state(site: FakeSite, keys: KeyStore) -> None:
    async with api(site, keys) as c:
        ids = []
        for name in ("a", "b", "c"):
            response = await c["operator"].post("/api/v1/devices/pm-1/commands", {"command": name})
            ids.append(response.json()["id"])
        await site.store.update_command(ids[0], state=CommandState.SENT, at=datetime.now(UTC),
                                        from_states=[CommandState.QUEUED])  # fmt: skip
        queued = await c["viewer"].get("/api/v1/devices/pm-1/commands", state="queued")
        assert [x["id"] for x in queued.json()["items"]] == [ids[2], ids[1]]
        some = await c["viewer"].get("/api/v1/devices/pm-1/commands", state=["sent", "failed"])
        assert [x["id"] for x in some.json()["items"]] == [ids[0]]
        one = await c["viewer"].get("/api/v1/devices/pm-1/commands", limit=1)
        assert [x["id"] for x in one.json()["items"]] == [ids[2]]
        bad = await c["viewer"].get("/api/v1/devices/pm-1/commands", state="lost")
        assert bad.status_code == 400
        assert problem_param(bad) == "state"


async def test_commands_go_only_to_known_mqtt_devices(site: FakeSite, keys: KeyStore) -> None:
    async with api(site, keys) as c:
        unknown = await c["operator"].post("/api/v1/devices/ghost/commands", {"command": "reboot"})
        assert unknown.status_code == 404
        serial = await c["operator"].post("/api/v1/devices/m1/commands", {"command": "reboot"})
        assert serial.status_code == 409
        assert "not an MQTT device" in serial.json()["detail"]
        assert (await c["admin"].post("/api/v1/devices/m1/ota", OTA)).status_code == 409
        assert (await c["admin"].post("/api/v1/devices/ghost/ota", OTA)).status_code == 404
        assert (await c["viewer"].get("/api/v1/devices/ghost/commands")).status_code == 404
        assert (await c["viewer"].get("/api/v1/commands/nope")).status_code == 404
    assert site.queued == []
    assert await site.store.list_commands() == []


async def test_commands_go_only_to_accepted_devices_that_can_take_them(
    site: FakeSite, keys: KeyStore
) -> None:
    def mqtt(device_id: str, **metadata: str) -> Device:
        return Device(id=device_id, name=device_id, device_type="power_meter_ac",
                      metadata={"meterhub.input": "mqtt", **metadata}, created_at=T0,
                      updated_at=T0)  # fmt: skip

    await site.store.upsert_device(mqtt("waiting", **{"meterhub.approval": "pending"}))
    await site.store.upsert_device(mqtt("banned", **{"meterhub.approval": "rejected"}))
    await site.store.upsert_device(mqtt("sensor", capabilities="telemetry"))
    await site.store.upsert_device(mqtt("relay", capabilities="telemetry,command"))
    async with api(site, keys) as c:
        for device_id, approval in (("waiting", "pending"), ("banned", "rejected")):
            answer = await c["operator"].post(f"/api/v1/devices/{device_id}/commands",
                                              {"command": "reboot"})  # fmt: skip
            assert answer.status_code == 409, answer.text
            assert f"is {approval}" in answer.json()["detail"]
            assert (await c["admin"].post(f"/api/v1/devices/{device_id}/ota", OTA)).status_code == 409
        sensor = await c["operator"].post("/api/v1/devices/sensor/commands", {"command": "reboot"})
        assert sensor.status_code == 409
        assert "cannot take 'command'" in sensor.json()["detail"]
        ota = await c["admin"].post("/api/v1/devices/relay/ota", OTA)
        assert ota.status_code == 409
        assert "cannot take 'ota'" in ota.json()["detail"]
        sent = await c["operator"].post("/api/v1/devices/relay/commands", {"command": "reboot"})
        assert sent.status_code == 202, sent.text
    assert [row.device_id for row in site.queued] == ["relay"]


@pytest.mark.parametrize(("body", "field"), [
    ({}, "command"),
    ({"command": ""}, "command"),
    ({"command": "x" * 65}, "command"),
    ({"command": "set relay"}, "command"),
    ({"command": "reboot", "params": [1]}, "params"),
    ({"command": "reboot", "timeout_s": 0.5}, "timeout_s"),
    ({"command": "reboot", "timeout_s": 86_401}, "timeout_s"),
    ({"command": "reboot", "extra": 1}, "extra"),
    ({"command": "reboot", "params": {"label": "a\x00b"}}, "params"),
    ({"command": "reboot", "params": {"a\x00": 1}}, "params"),
    ({"command": "reboot", "params": {"steps": [{"name": "\x00"}]}}, "params"),
])  # fmt: skip
async def test_bad_command_bodies_name_the_field(
    site: FakeSite, keys: KeyStore, body: dict[str, Any], field: str
) -> None:
    async with api(site, keys) as c:
        response = await c["operator"].post("/api/v1/devices/pm-1/commands", body)
    assert response.status_code == 400, response.text
    assert field in problem_param(response) + response.json()["detail"]
    assert site.queued == []


async def test_roles_for_commands(site: FakeSite, keys: KeyStore) -> None:
    async with api(site, keys) as c:
        url = "/api/v1/devices/pm-1/commands"
        assert (await c["none"].post(url, {"command": "reboot"})).status_code == 401
        assert (await c["viewer"].post(url, {"command": "reboot"})).status_code == 403
        assert (await c["admin"].post(url, {"command": "reboot"})).status_code == 202
        assert (await c["none"].get(url)).status_code == 401
        assert (await c["viewer"].get(url)).status_code == 200
        assert (await c["operator"].post("/api/v1/devices/pm-1/ota", OTA)).status_code == 403
    assert len(site.queued) == 1


# firmware updates -------------------------------------------------------------------


async def test_an_update_is_a_run_and_a_command_with_one_id(site: FakeSite, keys: KeyStore) -> None:
    async with api(site, keys) as c:
        response = await c["admin"].post("/api/v1/devices/pm-1/ota", OTA)
        assert response.status_code == 202, response.text
        ota, command = response.json()["ota"], response.json()["command"]
        assert ota["id"] == command["id"]
        assert (ota["state"], ota["version"], ota["url"]) == ("requested", "1.5.0", OTA["url"])
        assert ota["sha256"] == SHA.lower()
        assert (command["command"], command["state"]) == ("ota_update", "queued")
        assert command["params"] == {"url": OTA["url"], "version": "1.5.0", "sha256": SHA.lower()}
        assert site.queued == [await site.store.get_command(ota["id"])]
        got = await c["viewer"].get(f"/api/v1/ota/{ota['id']}")
        assert got.json() == ota
        listed = await c["viewer"].get("/api/v1/devices/pm-1/ota")
        assert [x["id"] for x in listed.json()["items"]] == [ota["id"]]
        assert (await c["viewer"].get("/api/v1/ota/nope")).status_code == 404
        assert (await c["viewer"].get("/api/v1/devices/ghost/ota")).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"url": "ftp://fw.example/pm.bin"}, "url"),
    ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "https://"}, "url"),
    ({"url": "https://fw.example/a b"}, "url"),
    ({"sha256": "9f" * 31}, "sha256"),
    ({"sha256": "zz" * 32}, "sha256"),
    ({"version": ""}, "version"),
    ({"version": "1.5\x00"}, "version"),
    ({"url": "https://fw.example/pm\x00.bin"}, "url"),
    ({"url": "https://fw.example\x1b/pm.bin"}, "url"),
])  # fmt: skip
async def test_bad_update_bodies_name_the_field(
    site: FakeSite, keys: KeyStore, change: dict[str, str], field: str
) -> None:
    async with api(site, keys) as c:
        response = await c["admin"].post("/api/v1/devices/pm-1/ota", OTA | change)
    assert response.status_code == 400, response.text
    assert field in problem_param(response) + response.json()["detail"]
    assert await site.store.list_ota("pm-1") == []


# dead letters -------------------------------------------------------------------------


async def test_dead_letters_page_by_id_and_show_their_payload(
    site: FakeSite, keys: KeyStore
) -> None:
    rows = [DeadLetterRow(device_id=f"pm-{n % 2}", ts=T0 + timedelta(seconds=n),
                          reason="wrong_type" if n % 3 == 0 else "malformed_json",
                          detail="$.seq: expected an integer", topic=f"iot/pm-{n % 2}/telemetry",
                          payload=b'{"seq": "x"}' if n else b"\xff\xfe", journal_seq=n)
            for n in range(7)]  # fmt: skip
    await site.store.write_dead_letters(rows)
    async with api(site, keys) as c:
        assert (await c["viewer"].get("/api/v1/dead-letters")).status_code == 403
        seen: list[int] = []
        before: int | None = None
        pages = 0
        while True:
            query = {"limit": 3} | ({"before": before} if before is not None else {})
            page = (await c["operator"].get("/api/v1/dead-letters", **query)).json()
            seen += [item["journal_seq"] for item in page["items"]]
            pages += 1
            before = page["next"]
            if before is None:
                break
        assert (seen, pages) == ([6, 5, 4, 3, 2, 1, 0], 3)
        # a full last page has no next: no empty page to fetch
        exact = (await c["operator"].get("/api/v1/dead-letters", limit=7)).json()
        assert (len(exact["items"]), exact["next"]) == (7, None)
        oldest = exact["items"][-1]
        assert (oldest["payload_hex"], oldest["payload_text"]) == ("fffe", None)
        newest = exact["items"][0]
        assert newest["payload_text"] == '{"seq": "x"}'
        assert newest["payload_hex"] == b'{"seq": "x"}'.hex()
        assert newest["topic"] == "iot/pm-0/telemetry"
        filtered = (await c["operator"].get("/api/v1/dead-letters", device="pm-0",
                                            reason="wrong_type")).json()  # fmt: skip
        assert [x["journal_seq"] for x in filtered["items"]] == [6, 0]
        bad = await c["operator"].get("/api/v1/dead-letters", before=0)
        assert bad.status_code == 400
        assert problem_param(bad) == "before"


# device events ------------------------------------------------------------------------


async def test_device_events_filter_by_kind_and_time(site: FakeSite, keys: KeyStore) -> None:
    kinds = ["gap", "restart", "online", "offline"]
    await site.store.write_device_events([
        DeviceEventRow(device_id="pm-1", ts=T0 + timedelta(minutes=n), kind=kinds[n % 4],
                       journal_seq=n, details={"n": n})
        for n in range(8)
    ])  # fmt: skip
    async with api(site, keys) as c:
        url = "/api/v1/devices/pm-1/events"
        assert (await c["none"].get(url)).status_code == 401
        everything = (await c["viewer"].get(url)).json()["items"]
        assert [e["journal_seq"] for e in everything] == [7, 6, 5, 4, 3, 2, 1, 0]
        assert everything[0]["details"] == {"n": 7}
        gaps = (await c["viewer"].get(url, kind=["gap", "restart"])).json()["items"]
        assert [e["journal_seq"] for e in gaps] == [5, 4, 1, 0]
        start, end = (
            (T0 + timedelta(minutes=2)).isoformat(),
            (T0 + timedelta(minutes=4)).isoformat(),
        )
        window = (await c["viewer"].get(url, start=start, end=end)).json()["items"]
        assert [e["journal_seq"] for e in window] == [3, 2]
        backwards = await c["viewer"].get(url, start=end, end=start)
        assert backwards.status_code == 400
        assert problem_param(backwards) == "end"
        unknown_kind = await c["viewer"].get(url, kind="reboot")
        assert unknown_kind.status_code == 400
        assert problem_param(unknown_kind) == "kind"
        assert (await c["viewer"].get("/api/v1/devices/ghost/events")).status_code == 404
