"""Device profiles: built-ins against realistic payloads, units, and user files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from meterhub.adapters.iot import (
    DeviceProfile,
    DeviceProfileError,
    DeviceProfiles,
    Mapped,
    MetricDef,
    default_device_profiles,
    derived_name,
    known_unit,
)
from meterhub.platform._errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

BUILTIN = [
    "humidity_sensor",
    "power_meter_ac",
    "power_meter_dc",
    "smart_breaker",
    "temperature_sensor",
]


def mapped(device_type: str, measurements: dict[str, Any]) -> Mapped:
    profile = default_device_profiles().get(device_type)
    assert profile is not None
    return profile.map(measurements)


def test_builtin_names() -> None:
    assert default_device_profiles().names() == BUILTIN
    assert default_device_profiles().get("toaster") is None


def test_the_issues_example() -> None:
    result = mapped(
        "power_meter_ac",
        {"voltage": {"phase_a": 231.2, "unit": "V"}, "power": {"active": 5775.9, "unit": "W"}},
    )
    assert result == Mapped(
        values={"voltage_l1_v": 231.2, "power_import_w": 5775.9},
        units={"voltage_l1_v": "V", "power_import_w": "W"},
        text={},
        unnamed=[],
    )


def test_power_meter_ac_full_reading() -> None:
    result = mapped(
        "power_meter_ac",
        {
            "voltage": {
                "phase_a": 231.2,
                "phase_b": 229.8,
                "phase_c": 230.5,
                "phase_n": 0.4,
                "unit": "V",
            },
            "current": {"phase_a": 8100, "phase_b": 7900, "phase_c": 8000, "unit": "mA"},
            "power": {"active": 5.7759, "reactive": 0.42, "apparent": 5.79, "unit": "k"},
            "energy": {"import": 1234.567, "export": 12, "unit": "kWh"},
            "frequency": 50.01,
            "model": "PM-3",
        },
    )
    assert result.values == {
        "voltage_l1_v": 231.2,
        "voltage_l2_v": 229.8,
        "voltage_l3_v": 230.5,
        "current_l1_a": 8.1,
        "current_l2_a": 7.9,
        "current_l3_a": 8.0,
        "energy_import_wh": pytest.approx(1234567.0),
        "energy_export_wh": 12000,
        "frequency_hz": 50.01,
        # "k" is no unit: kept under derived names, with the device's unit.
        "voltage_phase_n": 0.4,
        "power_active": 5.7759,
        "power_reactive": 0.42,
        "power_apparent": 5.79,
    }
    assert result.units["current_l1_a"] == "A"
    assert result.units["voltage_phase_n"] == "V"
    assert result.units["power_active"] == "k"
    assert "power_import_w" not in result.values
    assert isinstance(result.values["energy_export_wh"], int)
    assert result.text == {"model": "PM-3"}
    assert result.unnamed == ["voltage_phase_n"]


def test_power_meter_ac_reactive_apparent_factor() -> None:
    result = mapped(
        "power_meter_ac",
        {"power": {"active": 2, "reactive": 0.5, "apparent": 2.1, "factor": 0.95, "unit": "kvar"}},
    )
    assert result.values["reactive_power_var"] == 500
    assert result.units["reactive_power_var"] == "var"
    # kvar is no unit of active or apparent power, and the factor has none.
    assert {"power_active", "power_apparent", "power_factor_2"} <= set(result.values)
    assert result.units["power_apparent"] == "kvar"
    result = mapped(
        "power_meter_ac", {"power": {"apparent": 2.1, "unit": "kVA"}, "p": {"factor": 0.95}}
    )
    assert result.values["apparent_power_va"] == pytest.approx(2100)
    result = mapped("power_meter_ac", {"power": {"factor": 0.95}})
    assert result.values == {"power_factor": 0.95}
    assert result.units == {}


def test_power_meter_dc() -> None:
    result = mapped(
        "power_meter_dc",
        {
            "voltage": 48.2,
            "current": 10.5,
            "power": 506.1,
            "energy": {"import": 3, "export": 1, "unit": "MWh"},
        },
    )
    assert result.values == {
        "voltage_v": 48.2,
        "current_a": 10.5,
        "power_import_w": 506.1,
        "energy_import_wh": 3_000_000,
        "energy_export_wh": 1_000_000,
    }
    # The top-level "unit" is V: it holds for current and power too, which do not convert.
    result = mapped("power_meter_dc", {"voltage": 48.2, "current": 10.5, "unit": "V"})
    assert result.values == {"voltage_v": 48.2, "current": 10.5}
    assert result.units == {"voltage_v": "V", "current": "V"}


def test_smart_breaker_relays() -> None:
    result = mapped(
        "smart_breaker",
        {
            "voltage": {"phase_a": 230.1, "phase_b": 230.2, "phase_c": 230.3},
            "current": {"phase_a": 1.5, "phase_b": 0, "phase_c": 2.25},
            "power": {"active": 0.9, "unit": "kW"},
            "energy": {"import": 42, "unit": "Wh"},
            "relay": {"phase_a": True, "phase_b": False, "phase_c": 1},
        },
    )
    assert result.values == {
        "voltage_l1_v": 230.1,
        "voltage_l2_v": 230.2,
        "voltage_l3_v": 230.3,
        "current_l1_a": 1.5,
        "current_l2_a": 0,
        "current_l3_a": 2.25,
        "power_import_w": 900.0,
        "energy_import_wh": 42,
        "relay_l1": 1,
        "relay_l2": 0,
        "relay_l3": 1,
    }
    assert "relay_l1" not in result.units


def test_sensors() -> None:
    result = mapped("temperature_sensor", {"temperature": 21.5, "battery": 87, "unit": "°C"})
    # A single "unit" beside two numbers is the unit of both: % is not °C.
    assert result.values == {"temperature_c": 21.5, "battery": 87}
    result = mapped("temperature_sensor", {"temperature": {"value": 21.5}, "battery": 87})
    assert result.values == {"temperature_value": 21.5, "battery_pct": 87}
    for unit in ("°C", "C", "degC", "DEGC", "°c"):
        assert mapped("temperature_sensor", {"temperature": 20, "unit": unit}).values == {
            "temperature_c": 20
        }
    fahrenheit = mapped("temperature_sensor", {"temperature": 70, "unit": "°F"})
    assert fahrenheit.values == {"temperature": 70}
    assert fahrenheit.units == {"temperature": "°F"}
    result = mapped("humidity_sensor", {"humidity": 55.5, "temperature": 19, "battery": 3.1})
    assert result.values == {"humidity_pct": 55.5, "temperature_c": 19, "battery_pct": 3.1}
    assert result.units == {"humidity_pct": "%", "temperature_c": "°C", "battery_pct": "%"}


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("kWh", 1.5, 1500.0),
        ("kwh", 2, 2000),
        ("KWH", 2, 2000),
        ("MWh", 1, 1_000_000),
        ("Wh", 7, 7),
        (None, 7, 7),
    ],
)
def test_energy_units_convert(unit: str | None, value: float, expected: float) -> None:
    energy: dict[str, Any] = {"import": value} if unit is None else {"import": value, "unit": unit}
    result = mapped("power_meter_ac", {"energy": energy})
    assert result.values == {"energy_import_wh": expected}
    assert type(result.values["energy_import_wh"]) is type(expected)


@pytest.mark.parametrize("unit", ["kW", "W", "mwh", "mWh", "kVAh", "", "wh/h"])
def test_incompatible_unit_is_kept_under_its_derived_name(unit: str) -> None:
    result = mapped("power_meter_ac", {"energy": {"import": 12, "unit": unit}})
    assert "energy_import_wh" not in result.values
    assert result.values == {"energy_import": 12}
    assert result.units == ({"energy_import": unit} if unit else {})
    assert result.unnamed == []


def test_milli_and_mega_are_not_guessed_from_case() -> None:
    assert known_unit("mA")
    assert known_unit("MW")
    assert known_unit("KVAR")
    assert not known_unit("ma")
    assert not known_unit("mw")
    assert mapped("power_meter_dc", {"current": 500, "unit": "mA"}).values == {"current_a": 0.5}
    assert mapped("power_meter_dc", {"current": 500, "unit": "ma"}).values == {"current": 500}


def test_walk_arrays_booleans_text_nulls() -> None:
    result = mapped(
        "power_meter_ac",
        {
            "current": [1.5, 2.5, {"x": None}],
            "unit": "A",
            "alarm": True,
            "note": "door open",
            "nothing": None,
            "empty": {},
            "list": [],
        },
    )
    assert result.values == {"current_0": 1.5, "current_1": 2.5, "alarm": 1}
    assert result.units == {"current_0": "A", "current_1": "A", "alarm": "A"}
    assert result.text == {"note": "door open"}
    assert result.unnamed == ["current_0", "current_1", "alarm"]


def test_depth_beyond_16_is_not_walked() -> None:
    def nest(depth: int) -> dict[str, Any]:
        node: dict[str, Any] = {"v": 1}
        for _ in range(depth):
            node = {"n": node}
        return node

    assert len(mapped("power_meter_ac", nest(16)).values) == 1
    assert mapped("power_meter_ac", nest(17)).values == {}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("voltage.phase_n", "voltage_phase_n"),
        ("Temp (°C)", "temp_c"),
        ("__", "value"),
        ("", "value"),
        ("a..b", "a_b"),
        ("Ümlaut.X", "mlaut_x"),
        ("x" * 100, "x" * 64),
        ("a" * 63 + ".b", "a" * 63),
    ],
)
def test_derived_name(path: str, name: str) -> None:
    assert derived_name(path) == name


def test_derived_names_never_take_a_canonical_name() -> None:
    result = mapped(
        "power_meter_ac",
        {
            "voltage_l1_v": 1,
            "voltage": {"phase_a": 230, "phase-a": 2},
            "voltage_phase_a": 3,
            "frequency_hz": 50,
            "Voltage L1 V": "text",
        },
    )
    assert result.values == {
        "voltage_l1_v": 230,
        "voltage_l1_v_2": 1,
        "voltage_phase_a": 2,
        "voltage_phase_a_2": 3,
        "frequency_hz_2": 50,
    }
    assert result.text == {"voltage_l1_v_3": "text"}


def test_second_path_to_the_same_metric_is_kept_not_overwritten() -> None:
    profile = DeviceProfile(
        "t", {"a": MetricDef("power_import_w", "W"), "b": MetricDef("power_import_w", "W")}
    )
    result = profile.map({"a": 1, "b": 2})
    assert result.values == {"power_import_w": 1, "b": 2}
    assert result.unnamed == []


def test_scale_and_overflow() -> None:
    profile = DeviceProfile(
        "t",
        {
            "e": MetricDef("energy_import_wh", "Wh", scale=10.0),
            "p": MetricDef("power_import_w", "W"),
        },
    )
    assert profile.map({"e": 5}).values == {"energy_import_wh": 50.0}
    huge = 10**400
    result = profile.map({"e": huge, "p": 2**70, "big": -(2**63), "q": 1e308})
    assert result.text == {"e": str(huge)}
    assert result.values == {"power_import_w": float(2**70), "big": -(2**63), "q": 1e308}
    # 1e308 Wh times 10 is no float: not mapped, kept as the device sent it.
    assert profile.map({"e": 1e308}).values == {"e": 1e308}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_profile_adds_and_replaces(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[device_type]]
name = "my_meter"
[device_type.metrics]
"voltage.phase_a" = { metric = "voltage_l1_v", unit = "V" }
"energy.total"    = { metric = "energy_import_wh", unit = "Wh" }   # kWh is converted
"power.active"    = { metric = "power_import_w", unit = "W", scale = 1.0 }
"co2" = { metric = "co2_ppm", unit = "ppm", scale = 2 }

[[device_type]]
name = "power_meter_dc"
[device_type.metrics]
"v" = { metric = "voltage_v", unit = "V" }
""",
    )
    profiles = default_device_profiles()
    profiles.add(path)
    assert profiles.names() == sorted([*BUILTIN, "my_meter"])
    mine = profiles.get("my_meter")
    assert mine is not None
    assert mine.map({"energy": {"total": 1.5, "unit": "kWh"}, "co2": 400}).values == {
        "energy_import_wh": 1500.0,
        "co2_ppm": 800.0,
    }
    assert mine.map({"co2": 400, "unit": "ppb"}).values == {"co2": 400}
    dc = profiles.get("power_meter_dc")
    assert dc is not None
    assert dc.map({"v": 12}).values == {"voltage_v": 12}
    # The shared built-ins are untouched.
    builtin_dc = default_device_profiles().get("power_meter_dc")
    assert builtin_dc is not None
    assert builtin_dc.map({"v": 12}).values == {"v": 12}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[[device_type]\n", "devices.toml: "),
        ("device_typ = []\n", "devices.toml: "),
        ("[[device_type]]\ndescription = 'x'\n", "device_type[0]"),
        ("[[device_type]]\nname = 'a b'\n", "device_type 'a b'.name"),
        ("[[device_type]]\nname = 'm'\ncolour = 'red'\n", "device_type 'm'"),
        ("[[device_type]]\nname = 'm'\nmetrics = 3\n", "device_type 'm'.metrics"),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = { metric = 'Power W' }\n",
            "device_type 'm'.metrics.\"p\".metric",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = { metric = 'p', unit = 3 }\n",
            "device_type 'm'.metrics.\"p\".unit",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = { metric = 'p', scale = inf }\n",
            "device_type 'm'.metrics.\"p\".scale",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = { metric = 'p', scale = 'x' }\n",
            "device_type 'm'.metrics.\"p\".scale",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = { metric = 'p', units = 'W' }\n",
            "device_type 'm'.metrics.\"p\"",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'a..b' = { metric = 'p' }\n",
            "device_type 'm'.metrics.\"a..b\"",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'power.unit' = { metric = 'p' }\n",
            "device_type 'm'.metrics.\"power.unit\"",
        ),
        (
            "[[device_type]]\nname = 'm'\n[device_type.metrics]\n'p' = 'power_w'\n",
            "device_type 'm'.metrics.\"p\"",
        ),
        (
            "[[device_type]]\nname = 'm'\n[[device_type]]\nname = 'm'\n",
            "device_type 'm': defined twice",
        ),
    ],
)
def test_user_profile_errors_name_file_type_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    profiles = default_device_profiles()
    with pytest.raises(DeviceProfileError) as info:
        profiles.add(path)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ConfigError)
    assert str(info.value).startswith(str(path))
    assert where in str(info.value), str(info.value)
    assert profiles.names() == BUILTIN


def test_user_profile_file_missing_or_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nothing\.toml"):
        DeviceProfiles().add(tmp_path / "nothing.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[[device_type]]\nname = '\xe9'\n")
    with pytest.raises(ValueError, match=r"latin1\.toml"):
        DeviceProfiles().add(path)
