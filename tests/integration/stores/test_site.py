"""Devices, device types, applications and alerts: CRUD and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub.adapters.stores import AlertRow, Application, Device, DeviceType, Store

T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def device(device_id: str, name: str = "Kaifa", created: datetime = T0) -> Device:
    return Device(
        id=device_id,
        name=name,
        device_type="kaifa_ma309m",
        location="cellar",
        tags=["main", "grid"],
        metadata={"serial": "123", "floor": "-1"},
        created_at=created,
        updated_at=created,
    )


async def test_devices_crud(store: Store) -> None:
    assert await store.get_device("d1") is None
    await store.upsert_device(device("d2"))
    await store.upsert_device(device("d1"))
    assert await store.get_device("d1") == device("d1")
    later = T0 + timedelta(days=1)
    await store.upsert_device(device("d1", name="Main meter", created=later))
    got = await store.get_device("d1")
    assert got is not None
    assert (got.name, got.created_at, got.updated_at) == ("Main meter", T0, later)
    assert [d.id for d in await store.list_devices()] == ["d1", "d2"]
    assert await store.delete_device("d1") is True
    assert await store.delete_device("d1") is False
    assert [d.id for d in await store.list_devices()] == ["d2"]


async def test_device_types_and_applications(store: Store) -> None:
    await store.upsert_device_type(
        DeviceType(
            name="kaifa", description="Kaifa MA309M", metrics=["energy_import_wh", "power_import_w"]
        )
    )
    await store.upsert_device_type(DeviceType(name="dsmr", metrics=["energy_import_wh"]))
    await store.upsert_device_type(
        DeviceType(name="dsmr", description="DSMR P1", metrics=["energy_import_wh", "gas_m3"])
    )
    assert await store.list_device_types() == [
        DeviceType(name="dsmr", description="DSMR P1", metrics=["energy_import_wh", "gas_m3"]),
        DeviceType(
            name="kaifa", description="Kaifa MA309M", metrics=["energy_import_wh", "power_import_w"]
        ),
    ]
    await store.upsert_application(Application(name="billing", device_types=["kaifa", "dsmr"]))
    await store.upsert_application(
        Application(name="heat", description="heat pumps", device_types=["shelly"])
    )
    assert [a.name for a in await store.list_applications()] == ["billing", "heat"]
    assert [a.name for a in await store.list_applications("dsmr")] == ["billing"]
    assert await store.list_applications("nothing") == []
    assert await store.delete_application("heat") is True
    assert await store.delete_application("heat") is False
    assert await store.delete_device_type("kaifa") is True
    assert [t.name for t in await store.list_device_types()] == ["dsmr"]


def alert(
    alert_id: str, meter: str, severity: str, state: str, opened: datetime, **kw: object
) -> AlertRow:
    return AlertRow(
        id=alert_id,
        rule="overvoltage",
        meter_id=meter,
        severity=severity,
        state=state,  # type: ignore[arg-type]
        message="voltage above 253 V",
        value=254.1,
        opened_at=opened,
        updated_at=opened,
        **kw,
    )  # type: ignore[arg-type]


async def test_alerts_lifecycle_and_filters(store: Store) -> None:
    await store.upsert_alert(alert("a1", "m1", "warning", "open", T0))
    await store.upsert_alert(alert("a2", "m2", "critical", "open", T0 + timedelta(minutes=1)))
    await store.upsert_alert(
        alert(
            "a3",
            "m1",
            "info",
            "resolved",
            T0 + timedelta(minutes=2),
            resolved_at=T0 + timedelta(minutes=3),
        )
    )
    ack = T0 + timedelta(minutes=5)
    acked = alert(
        "a1", "m1", "warning", "acknowledged", T0 + timedelta(hours=9), acknowledged_at=ack
    )
    await store.upsert_alert(acked)
    got = await store.get_alert("a1")
    assert got is not None
    assert (got.state, got.acknowledged_at, got.opened_at, got.updated_at) == (
        "acknowledged",
        ack,
        T0,
        T0 + timedelta(hours=9),
    )
    assert await store.get_alert("nope") is None
    assert [a.id for a in await store.list_alerts()] == ["a3", "a2", "a1"]
    assert [a.id for a in await store.list_alerts(state="open")] == ["a2"]
    assert [a.id for a in await store.list_alerts(meter="m1")] == ["a3", "a1"]
    assert [a.id for a in await store.list_alerts(meter="m1", severity="warning")] == ["a1"]
    assert [a.id for a in await store.list_alerts(limit=1)] == ["a3"]
    resolved = await store.get_alert("a3")
    assert resolved is not None
    assert resolved.resolved_at == T0 + timedelta(minutes=3)
    assert resolved.value == 254.1
