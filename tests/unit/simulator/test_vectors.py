"""The simulator's encoders reproduce real Kaifa MA309M and DSMR telegrams byte for byte."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from meterhub.adapters.simulator import (
    KAIFA_FLAT,
    KAIFA_NESTED,
    KAIFA_NESTED_SINGLE_PHASE,
    KaifaLayout,
    cosem_datetime,
    crc16_arc,
    data_notification,
    glo_cipher,
    logical_device_name,
    mbus_frames,
    scaled_registers,
    system_title_for,
)
from tests.unit.simulator.support import load_vectors

MBUS = load_vectors("mbus_dlms.json")
DSMR = load_vectors("dsmr_p1.json")

LAYOUT_OF: dict[str, KaifaLayout] = {
    "mbus_netznoe_doc_kaifa_ma309m": KAIFA_FLAT,
    "mbus_tinetz_doc_kaifa_ma309m": KAIFA_NESTED_SINGLE_PHASE,
    "mbus_vorarlberg_kaifa_ma309m_capture1": KAIFA_NESTED,
    "apdu_salzburgnetz_kaifa_ma309m_plaintext": KAIFA_NESTED,
}
CIPHERED = [vid for vid, v in MBUS.items() if v["frames_hex"]]


def test_every_kaifa_vector_has_a_layout() -> None:
    assert set(LAYOUT_OF) == set(MBUS)
    assert {"mbus_netznoe_doc_kaifa_ma309m", "mbus_tinetz_doc_kaifa_ma309m"} <= set(CIPHERED)


@pytest.mark.parametrize("vector_id", CIPHERED)
def test_cipher_and_framing_reproduce_the_recorded_frames(vector_id: str) -> None:
    vector = MBUS[vector_id]
    security = vector["security"]
    apdu = glo_cipher(
        bytes.fromhex(vector["plaintext_apdu_hex"]),
        key=bytes.fromhex(vector["key_hex"]),
        system_title=bytes.fromhex(security["system_title_hex"]),
        frame_counter=security["frame_counter"],
        security_control=int(security["security_control"], 16),
    )
    frames = [frame.hex().upper() for frame in mbus_frames(apdu)]
    assert frames == vector["frames_hex"]


@pytest.mark.parametrize("vector_id", sorted(LAYOUT_OF))
def test_payload_layout_reproduces_the_recorded_plaintext(vector_id: str) -> None:
    vector = MBUS[vector_id]
    layout = LAYOUT_OF[vector_id]
    raws = {name: entry["raw"] for name, entry in vector["expected"].items()}
    assert set(raws) == {r.name for r in layout.registers}
    plaintext = data_notification(
        layout,
        invoke_id=vector["long_invoke_id"],
        local_time=bytes.fromhex(vector["expected_timestamp_raw_hex"]),
        meter_number=vector["meter_number"],
        raws=raws,
    )
    assert plaintext.hex().upper() == vector["plaintext_apdu_hex"]
    # The vector's flat layout sets the priority bit, the nested ones do not.
    assert plaintext[1:5] == vector["long_invoke_id"].to_bytes(4, "big")
    assert scaled_registers(layout, raws) == {
        name: entry["value"] for name, entry in vector["expected"].items()
    }


@pytest.mark.parametrize("vector_id", sorted(MBUS))
def test_cosem_datetime_matches_the_meter_clock(vector_id: str) -> None:
    vector = MBUS[vector_id]
    local = datetime.fromisoformat(vector["expected_timestamp"]).astimezone(
        ZoneInfo("Europe/Vienna")
    )
    assert cosem_datetime(local).hex().upper() == vector["expected_timestamp_raw_hex"]


@pytest.mark.parametrize(
    "vector_id", ["mbus_tinetz_doc_kaifa_ma309m", "mbus_vorarlberg_kaifa_ma309m_capture1"]
)
def test_kaifa_identities_follow_the_meter_serial(vector_id: str) -> None:
    vector = MBUS[vector_id]
    number = vector["meter_number"]
    assert system_title_for(number).hex().upper() == vector["security"]["system_title_hex"]
    assert logical_device_name(number) == vector["logical_device_name"]


def test_salzburg_logical_device_name() -> None:
    vector = MBUS["apdu_salzburgnetz_kaifa_ma309m_plaintext"]
    assert logical_device_name(vector["meter_number"]) == vector["logical_device_name"]


@pytest.mark.parametrize("vector_id", [vid for vid, v in DSMR.items() if v["crc"]["present"]])
def test_dsmr_crc_matches_recorded_telegrams(vector_id: str) -> None:
    telegram = DSMR[vector_id]["telegram"].encode("ascii")
    bang = telegram.rindex(b"!")
    assert f"{crc16_arc(telegram[: bang + 1]):04X}" == DSMR[vector_id]["crc"]["value_hex"]
