"""A drafted profile loads as is and names a list nobody profiled as its real profile does."""

from __future__ import annotations

import struct
import tomllib
from typing import TYPE_CHECKING, Any

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    ProfileRegistry,
    Telegram,
    default_registry,
    draft_profiles,
    iter_decode,
)
from tests.unit.adapters._variants import mbus_stream
from tests.unit.adapters._vectors import ids, key, load, stream

if TYPE_CHECKING:
    from pathlib import Path

HDLC = {vector["id"]: vector for vector in load("hdlc_dlms.json")}
FRAMED = [v for v in load("mbus_dlms.json") + load("hdlc_dlms.json") if v["frames_hex"]]
# vector -> the built-in profile that knows its list, and the names a draft cannot guess
# (identifiers and separate date/time strings whose meaning only the list description gives)
UNPROFILED = {
    "hdlc_kaifa_ma304h3e_norway": ("kaifa_han_list2_3phase", {"list_version"}),
    "hdlc_wienernetze_siemens_im350_1": (
        "wiener_netze", {"firmware_or_list_obis", "time_raw", "date_raw"}
    ),
    "hdlc_kamstrup_omnipower_encrypted": ("kamstrup_omnipower", set()),
}  # fmt: skip


def without(profile: str) -> ProfileRegistry:
    """The built-in profiles but one, so its list is unknown."""
    kept = [p for p in default_registry().profiles if p.name != profile]
    return ProfileRegistry(kept, builtin=False)


def draft(vector: dict[str, Any], registry: ProfileRegistry | None = None, **options: Any) -> str:
    return draft_profiles(stream(vector), key=key(vector), auth_key=key(vector, "auth_key_hex"),
                          registry=registry, **options)  # fmt: skip


def decoded(data: bytes, vector: dict[str, Any], registry: ProfileRegistry) -> list[Telegram]:
    items = list(iter_decode(data, key=key(vector), auth_key=key(vector, "auth_key_hex"),
                             profiles=registry))  # fmt: skip
    assert all(isinstance(item, Telegram) for item in items), items
    return [item for item in items if isinstance(item, Telegram)]


@pytest.mark.parametrize("vector_id", sorted(UNPROFILED))
def test_a_draft_names_an_unknown_list_as_its_builtin_profile_does(
    vector_id: str, tmp_path: Path
) -> None:
    vector = HDLC[vector_id]
    builtin, unguessable = UNPROFILED[vector_id]
    unknown = without(builtin)
    (before,) = decoded(stream(vector), vector, unknown)
    assert before.profile != builtin
    path = tmp_path / "draft.toml"
    path.write_text(draft(vector, unknown))
    drafted = tomllib.loads(path.read_text())["profile"]
    registry = without(builtin)
    registry.add(path)
    (after,) = decoded(stream(vector), vector, registry)
    (truth,) = decoded(stream(vector), vector, default_registry())
    assert after.profile == drafted[0]["name"]
    # every name the real profile gives, with its value and unit; a code it leaves
    # unnamed (obis_...) may get a guessed name
    wanted = {name for name in truth.values if not name.startswith("obis_")} - unguessable
    assert wanted <= set(after.values), wanted - set(after.values)
    for name in wanted:
        assert after.values[name] == truth.values[name], name
        assert after.units.get(name) == truth.units.get(name), name
    assert after.meter_number == truth.meter_number
    assert after.timestamp == truth.timestamp


def test_a_positional_draft_marks_each_guess_and_comments_every_position() -> None:
    vector = HDLC["hdlc_kaifa_ma304h3e_norway"]
    text = draft(vector, without("kaifa_han_list2_3phase"))
    (profile,) = tomllib.loads(text)["profile"]
    assert profile["match"] == {"payload": "dlms", "element_count": 13,
                                "first_value_prefix": "KFM_001"}  # fmt: skip
    assert profile["name"] == "kfm_001_13"
    assert len(profile["layout"]) == 13
    assert "# [7] double-long-unsigned 1416" in text
    assert "# [2] octet-string 'MA304H3E'" in text
    guesses = [line for line in text.splitlines() if line.strip().startswith("{ name")]
    assert len(guesses) == 13
    assert all(line.endswith("# confirm") for line in guesses)
    # mA, not 0.01 A: the sum of U*I only then comes close to the apparent power
    assert profile["layout"][7] == {"name": "current_l1_a", "unit": "A", "scaler": -3,
                                    "obis": "1.0.31.7.0.255"}  # fmt: skip


def test_a_ciphered_list_matches_its_maker_and_unknown_positions_stay_nameless() -> None:
    vector = HDLC["hdlc_wienernetze_siemens_im350_1"]
    text = draft(vector, without("wiener_netze"))
    (profile,) = tomllib.loads(text)["profile"]
    assert profile["match"]["system_title_prefix"] == "SMS"
    assert profile["match"]["first_value_prefix"] == "0006190900FF"
    assert profile["name"] == "sms_12"
    assert profile["layout"][2] == {}
    assert "(a COSEM time? 14:55:33)" in text
    assert "(a COSEM date? 2021-03-07)" in text
    assert profile["layout"][4]["counter"] is True


def test_an_obis_list_without_scalers_gets_entries_only_for_what_the_tables_miss() -> None:
    vector = HDLC["hdlc_kamstrup_omnipower_encrypted"]
    text = draft(vector, without("kamstrup_omnipower"))
    (profile,) = tomllib.loads(text)["profile"]
    assert "layout" not in profile
    assert profile["match"] == {"payload": "dlms", "first_value_prefix": "Kamstrup_V0001",
                                "system_title_prefix": "KAM"}  # fmt: skip
    obis = profile["obis"]
    assert "1.1.1.8.0.255" not in obis  # cosem.toml names it, in Wh
    assert obis["1.1.31.7.0.255"] == {"name": "current_l1_a", "unit": "A", "scaler": -2}
    assert obis["1.1.21.8.0.255"]["name"] == "energy_import_l1_wh"
    assert "# 1.1.0.0.1.255: double-long-unsigned 12343400" in text  # no guess: a comment


def test_an_obis_list_with_scalers_needs_nothing_but_still_loads(tmp_path: Path) -> None:
    vector = next(v for v in FRAMED if v["id"].startswith("mbus_netznoe"))
    text = draft(vector)
    assert "nothing to add" in text
    path = tmp_path / "draft.toml"
    path.write_text(text)
    ProfileRegistry([path])


@pytest.mark.parametrize("vector", FRAMED, ids=ids(FRAMED))
def test_every_framed_vector_drafts_a_profile_that_loads_and_decodes(
    vector: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "draft.toml"
    path.write_text(draft(vector, ProfileRegistry(builtin=False)))
    decoded(stream(vector), vector, ProfileRegistry([path]))


def _wiener(energy: int, power: int) -> bytes:
    """The Wiener Netze plaintext with +A = ``energy`` Wh and +P = ``power`` W, M-Bus framed."""
    plain = bytearray(bytes.fromhex(HDLC["hdlc_wienernetze_siemens_im350_1"]["plaintext_apdu_hex"]))
    first = plain.find(bytes.fromhex("06002CF70E"))  # +A, double-long-unsigned 2946830
    struct.pack_into(">I", plain, first + 1, energy)
    struct.pack_into(">I", plain, first + 21, power)  # +P, four values later
    return mbus_stream(bytes(plain))


def test_several_telegrams_give_ranges_and_tell_counters_from_powers() -> None:
    # small registers (a new meter): only their growth tells them from powers
    capture = b"".join(_wiener(energy, power) for energy, power in
                       ((1000, 400), (1010, 90), (1030, 700)))  # fmt: skip
    text = draft_profiles(capture)
    (profile,) = tomllib.loads(text)["profile"]
    assert "# [4] double-long-unsigned 1000..1030 over 3 telegrams" in text
    assert "# [8] double-long-unsigned 90..700 over 3 telegrams" in text
    assert "(3 telegrams)" in profile["description"]
    assert profile["layout"][4]["name"] == "energy_import_wh"
    assert profile["layout"][8]["name"] == "power_import_w"
    assert "counter" not in profile["layout"][8]


def test_a_register_that_falls_is_no_counter() -> None:
    capture = b"".join(_wiener(energy, 5) for energy in (1000, 900, 1100))
    (profile,) = tomllib.loads(draft_profiles(capture))["profile"]
    assert profile["layout"][4]["name"] == "power_import_w"


def test_each_list_in_a_capture_gets_its_own_profile(tmp_path: Path) -> None:
    kaifa, wiener = HDLC["hdlc_kaifa_ma304h3e_norway"], HDLC["hdlc_wienernetze_siemens_im350_1"]
    capture = stream(kaifa) + stream(wiener) + stream(kaifa)
    text = draft_profiles(capture, key=key(wiener), name="site", registry=ProfileRegistry())
    profiles = tomllib.loads(text)["profile"]
    assert [p["name"] for p in profiles] == ["site_13", "site_12"]
    assert "(2 telegrams)" in profiles[0]["description"]
    assert "(1 telegram)" in profiles[1]["description"]
    assert "built-in profile 'kaifa_han_list2_3phase' already matches" in text
    path = tmp_path / "draft.toml"
    path.write_text(text)
    assert {p.name for p in ProfileRegistry([path], builtin=False).profiles} == {
        "site_13", "site_12"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("capture", "options", "reason"),
    [
        ("hdlc_wienernetze_siemens_im350_1", {"key": bytes(16)}, "wrong_key"),
        ("hdlc_wienernetze_siemens_im350_1", {}, "no_key"),
        ("hdlc_kamstrup_omnipower_encrypted",
         {"key": bytes.fromhex("00112233445566778899AABBCCDDEEFF"), "auth_key": bytes(16)},
         "auth_tag"),
        ("dsmr", {}, "unsupported"),
        ("noise", {}, "unsupported"),
    ],
)  # fmt: skip
def test_a_capture_without_a_readable_notification_is_refused_with_its_reason(
    capture: str, options: dict[str, Any], reason: str
) -> None:
    if capture == "dsmr":
        data = next(v for v in load("dsmr_p1.json") if v.get("telegram"))["telegram"].encode()
    elif capture == "noise":
        data = bytes(range(1, 200))
    else:
        data = stream(HDLC[capture])
    with pytest.raises(DecodeError) as caught:
        draft_profiles(data, **options)
    assert caught.value.reason == reason
