"""The live feed with real WebSocket clients against a real uvicorn server."""

from __future__ import annotations

import anyio
import pytest

from meterhub.api._live import LiveFeed, live_router
from tests.api_live.server import (
    DEADLINE,
    CountingFeed,
    FakeSite,
    client,
    publish_all_kinds,
    reading,
    receive,
    serve,
    subscribe,
    trend,
)


@pytest.fixture
def site() -> FakeSite:
    return FakeSite()


async def test_subscribe_to_everything_gets_every_kind_with_its_fields(site: FakeSite) -> None:
    async with serve(live_router(site)) as url, client(url) as ws:
        reply = await subscribe(ws)
        assert reply == {
            "kind": "subscribed",
            "meters": None,
            "metrics": None,
            "kinds": ["reading", "trend", "consumption", "alert", "status", "device", "command",
                      "plugin"],
            "batch": False,
        }
        await publish_all_kinds(site.bus, "m1")
        got = [await receive(ws) for _ in range(5)]
    assert [m["kind"] for m in got] == ["reading", "trend", "consumption", "alert", "status"]
    first = got[0]
    assert first["meter_id"] == "m1"
    assert first["ts"] == "2026-11-27T12:00:00Z"
    assert first["values"] == {"power_import_w": 100.0, "energy_import_wh": 5000.0}
    assert first["units"] == {"power_import_w": "W", "energy_import_wh": "Wh"}
    assert first["quality"] == "good"
    # the pipeline's enrichment reaches the feed
    assert first["device"] == {"name": "Meter m1", "device_type": "household", "location": "Hall",
                               "tags": ["pv"], "applications": ["billing"]}  # fmt: skip
    assert got[1]["metric"] == "power_import_w"
    assert got[1]["avg"] == 1.0
    assert got[2]["wh"] == 42.0
    assert got[3]["severity"] == "warning"
    assert got[3]["state"] == "open"
    assert got[4]["state"] == "online"


async def test_filter_by_meter_ids_and_patterns(site: FakeSite) -> None:
    bus = site.bus
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, meters=["m1", "hall-*"], kinds=["reading"])
        for meter_id in ("m1", "m2", "hall-3", "xhall-4", "m10"):
            await bus.publish(f"readings/{meter_id}", reading(meter_id))
        await bus.publish("readings/m1", reading("m1", seq=99))  # the last one
        got = [await receive(ws) for _ in range(3)]
    assert [(m["meter_id"], m["seq"]) for m in got] == [("m1", 0), ("hall-3", 0), ("m1", 99)]


async def test_filter_by_metric_trims_and_skips(site: FakeSite) -> None:
    bus = site.bus
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, metrics=["power_import_w"], kinds=["reading", "trend", "alert"])
        await bus.publish("readings/m1", reading("m1"))
        await bus.publish("readings/m1", reading("m1", voltage_l1_v=230.0))  # skipped
        await bus.publish("trends/m1", trend("m1", metric="voltage_l1_v"))  # skipped
        await bus.publish("trends/m1", trend("m1"))
        await publish_all_kinds(bus, "m2")  # reading, trend, alert pass; the rest not wanted
        got = [await receive(ws) for _ in range(5)]
    assert [(m["kind"], m["meter_id"]) for m in got] == [
        ("reading", "m1"),
        ("trend", "m1"),
        ("reading", "m2"),
        ("trend", "m2"),
        ("alert", "m2"),
    ]
    assert got[0]["values"] == {"power_import_w": 100.0}
    assert got[0]["units"] == {"power_import_w": "W"}


async def test_filter_by_kind(site: FakeSite) -> None:
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, kinds=["alert", "status"])
        await publish_all_kinds(site.bus, "m1")
        await publish_all_kinds(site.bus, "m2")
        got = [await receive(ws) for _ in range(4)]
    assert [(m["kind"], m["meter_id"]) for m in got] == [
        ("alert", "m1"),
        ("status", "m1"),
        ("alert", "m2"),
        ("status", "m2"),
    ]


async def test_change_subscription_mid_stream(site: FakeSite) -> None:
    bus = site.bus
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, meters=["m1"], kinds=["reading"])
        await bus.publish("readings/m1", reading("m1", seq=1))
        assert (await receive(ws))["seq"] == 1
        await subscribe(ws, meters=["m2"], kinds=["reading", "status"])
        await bus.publish("readings/m1", reading("m1", seq=2))
        await bus.publish("readings/m2", reading("m2", seq=3))
        await publish_all_kinds(bus, "m1")
        await publish_all_kinds(bus, "m2")
        got = [await receive(ws) for _ in range(3)]
        assert [(m["kind"], m["meter_id"]) for m in got] == [
            ("reading", "m2"),
            ("reading", "m2"),
            ("status", "m2"),
        ]
        await ws.send('{"op": "unsubscribe"}')
        assert (await receive(ws))["kinds"] == []
        assert bus.subscriber_count("readings/m2") == 0
        await subscribe(ws, meters=["m3"])
        await publish_all_kinds(bus, "m2")
        await bus.publish("readings/m3", reading("m3", seq=4))
        assert (await receive(ws))["meter_id"] == "m3"


async def test_messages_queued_for_the_old_subscription_are_not_sent(site: FakeSite) -> None:
    """A change that lands while deliveries wait: none of them come after the answer."""
    bus = site.bus
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, meters=["m1"], kinds=["reading"])
        await ws.send('{"op": "subscribe", "meters": ["m2"], "kinds": ["reading"]}')
        for seq in range(200):  # queued before the server reads the new subscription
            await bus.publish("readings/m1", reading("m1", seq=seq))
        seen_m1 = 0
        while (message := await receive(ws))["kind"] != "subscribed":
            seen_m1 += 1
        await bus.publish("readings/m2", reading("m2", seq=7))
        after = await receive(ws)
    assert seen_m1 <= 200
    assert (after["meter_id"], after["seq"]) == ("m2", 7)
    assert message["meters"] == ["m2"]


async def test_batch_mode_sends_arrays(site: FakeSite) -> None:
    async with serve(live_router(site)) as url, client(url) as ws:
        await subscribe(ws, kinds=["reading"], batch=True)
        await site.bus.publish("readings/m1", reading("m1"))
        first = await receive(ws)
        assert isinstance(first, list)
        assert [m["meter_id"] for m in first] == ["m1"]
        await site.bus.publish("readings/m1", reading("m1", seq=1))
        await site.bus.publish("readings/m2", reading("m2", seq=2))
        got: list[dict[str, object]] = []
        while len(got) < 2:
            got += await receive(ws)
    assert [m["seq"] for m in got] == [1, 2]


async def test_slow_client_drops_and_is_told_while_fast_client_keeps_up(site: FakeSite) -> None:
    """The slow client reads nothing until the hub has dropped some of its messages."""
    bus = site.bus
    feed = LiveFeed(bus, capacity=20)
    big = {f"metric_{i:03}": float(i) for i in range(300)}  # ~6 KiB of JSON: buffers fill
    published = 0
    async with (
        serve(feed.router()) as url,
        client(url) as fast,
        client(url, max_queue=1) as slow,
    ):
        await subscribe(fast, kinds=["reading"])
        await subscribe(slow, kinds=["reading"])
        with anyio.fail_after(60):
            while feed.statistics().dropped == 0:
                for _ in range(10):  # fewer than the capacity: the fast client never drops
                    await bus.publish("readings/m1", reading("m1", seq=published, **big))
                    published += 1
                for _ in range(10):
                    message = await receive(fast)
                    assert message["kind"] == "reading"
                    assert message["seq"] == published - 10 + _
        await bus.publish("readings/m1", reading("m1", seq=published))  # the last one
        published += 1
        dropped = feed.statistics().dropped  # the slow queue is full: that one dropped too
        assert (await receive(fast))["seq"] == published - 1

        received, missed, seqs = 0, 0, []
        while not seqs or seqs[-1] != published - 1:
            message = await receive(slow)
            if message["kind"] == "missed":
                missed += message["count"]
            else:
                received += 1
                seqs.append(message["seq"])
    assert missed == dropped > 0
    assert received + missed == published
    assert seqs == sorted(seqs)


async def test_invalid_messages_get_errors_and_the_connection_stays(site: FakeSite) -> None:
    bad = {
        "not json": "invalid message: JSON is malformed",
        '{"op": "nope"}': "Invalid value 'nope' - at `$.op`",
        '{"meters": ["m1"]}': "Object missing required field `op`",
        '{"op": "subscribe", "kinds": ["bogus"]}': "Invalid enum value 'bogus' - at `$.kinds[0]`",
        '{"op": "subscribe", "meters": []}': "Expected `array` of length >= 1 - at `$.meters`",
        '{"op": "subscribe", "meters": [""]}': "Expected `str` of length >= 1 - at `$.meters[0]`",
        '{"op": "subscribe", "color": "red"}': "Object contains unknown field `color`",
        '{"op": "subscribe", "metrics": "power_import_w"}': "Expected `array | null`, got `str` - at `$.metrics`",
    }
    async with serve(live_router(site)) as url, client(url) as ws:
        for message, detail in bad.items():
            await ws.send(message)
            reply = await receive(ws)
            assert reply["kind"] == "error", reply
            assert detail in reply["detail"], reply
        await ws.send(b"\x00\x01")
        assert (await receive(ws))["kind"] == "error"
        await subscribe(ws, meters=["m1"])
        await site.bus.publish("readings/m1", reading("m1"))
        assert (await receive(ws))["kind"] == "reading"


async def test_disconnect_unsubscribes(site: FakeSite) -> None:
    bus = site.bus
    feed = LiveFeed(bus)
    counting = CountingFeed(feed)
    before = bus.subscriber_count("readings/m1"), bus.subscriber_count("alerts/m1")
    assert before == (0, 0)
    async with serve(counting.router()) as url:
        async with client(url) as one, client(url) as two:
            await subscribe(one, meters=["m1"])
            await subscribe(two, meters=["*"], kinds=["reading"])
            assert bus.subscriber_count("readings/m1") == 1  # one per kind, shared
            assert bus.subscriber_count("alerts/m1") == 1
            assert feed.statistics().clients == 2
        await counting.wait_finished(2)
        assert feed.statistics().clients == 0
        assert (bus.subscriber_count("readings/m1"), bus.subscriber_count("alerts/m1")) == before
        # a client that drops the TCP connection without a closing handshake
        async with client(url) as three:
            await subscribe(three)
            assert bus.subscriber_count("status/m9") == 1
            three.transport.abort()
        await counting.wait_finished(3)
        assert feed.statistics().clients == 0
        assert bus.subscriber_count("status/m9") == 0
        assert bus.published == 0


async def test_a_client_that_stops_answering_pings_is_closed(site: FakeSite) -> None:
    """uvicorn pings (ws_ping_interval); this raw client never answers with a pong."""
    handshake = (
        b"GET /api/v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    async with serve(live_router(site), ws_ping_interval=0.05, ws_ping_timeout=0.05) as url:
        port = int(url.split(":")[2].split("/")[0])
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(handshake)
            received = b""
            with anyio.fail_after(DEADLINE):
                try:
                    while chunk := await stream.receive():
                        received += chunk
                except anyio.EndOfStream:
                    pass
    assert b"101 Switching Protocols" in received
    assert b"\x89" in received  # a ping frame came
    assert b"keepalive ping timeout" in received  # then the close frame, code 1011
