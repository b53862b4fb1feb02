"""A bounded, fixed-seed slice of ``bench/fuzz.py``: mutated real telegrams through every codec.

The slice runs the same seeds, mutators and oracle as the benchmark's million inputs
(``_mutations.py``, ``_oracle.py``), bounded by count so it does the same work on any
machine; each rule of the oracle is its own test, so a finding names the rule it broke.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from meterhub.adapters.codecs import (
    DecodeError,
    HdlcFramer,
    MbusFramer,
    MeterDecoder,
    Telegram,
    decode_dsmr,
    default_registry,
    iter_decode,
)
from tests.unit.adapters._mutations import MUTATORS, Seed, apdu_fields, build, seeds
from tests.unit.adapters._oracle import Harness, Violation, check_items
from tests.unit.adapters._vectors import load

SEED = 20_261_127
PER_MUTATOR = 500  # 6,500 inputs, about 15 s on one core of the CI machine
POOL = seeds()
REBUILT = [s for s in POOL if s.inner is not None]


def _values(seed: Seed, data: bytes) -> list[dict[str, Any]]:
    items = list(iter_decode(data, fmt=seed.fmt, key=seed.key, auth_key=seed.auth_key))  # type: ignore[arg-type]
    assert items
    assert all(isinstance(item, Telegram) for item in items), items
    return [item.values for item in items if isinstance(item, Telegram)]


@pytest.fixture(scope="module")
def slice_run() -> tuple[Counter[str], list[tuple[str, str, Violation, bytes]]]:
    harness = Harness()
    outcomes: Counter[str] = Counter()
    broken: list[tuple[str, str, Violation, bytes]] = []
    names = list(MUTATORS)
    for index in range(PER_MUTATOR * len(names)):
        rng = random.Random(f"{SEED}:{index}")  # noqa: S311 - reproducible on purpose
        mutator = names[index % len(names)]
        base = rng.choice(POOL)
        data = MUTATORS[mutator](rng, base, POOL)
        found, violations = harness.run(rng, base, data)
        outcomes.update(found.get("decoder", []))
        broken += [(mutator, base.name, v, data) for v in violations]
    return outcomes, broken


def _broken(run: Any, *kinds: str) -> list[str]:
    return [
        f"{mutator} of {name}: {v} hex {data.hex().upper()}"
        for mutator, name, v, data in run[1]
        if v.kind in kinds
    ][:3]


# ---------------------------------------------------------------- the seeds and builders


# The published Steiermark AK fails the recorded tag, so the rebuilt tag differs.
STEIERMARK = "dsmr_encrypted_steiermark_sagemcom_1"


@pytest.mark.parametrize("seed", [s for s in REBUILT if s.name != STEIERMARK], ids=lambda s: s.name)
def test_builders_give_the_recorded_bytes_back(seed: Seed) -> None:
    assert seed.inner is not None
    assert build(seed, seed.inner) == seed.stream


@pytest.mark.parametrize("seed", [s for s in POOL if "+" in s.name], ids=lambda s: s.name)
def test_rewrapped_seeds_decode_like_their_vector(seed: Seed) -> None:
    original = next(s for s in POOL if s.name == seed.name.split("+")[0])
    assert _values(seed, seed.stream) == _values(original, original.stream)


@pytest.mark.parametrize("mutator", ["axdr_length", "inner_edit", "values", "ciphered_length"])
def test_inner_mutations_pass_the_frame_checksums(mutator: str) -> None:
    framed = [s for s in REBUILT if s.framing in ("mbus", "hdlc", "gbt")]
    rng = random.Random(mutator)  # noqa: S311 - reproducible on purpose
    reasons: Counter[str] = Counter()
    for _ in range(200):
        seed = rng.choice(framed)
        data = MUTATORS[mutator](rng, seed, POOL)
        framer = MbusFramer() if seed.framing == "mbus" else HdlcFramer()
        reasons.update(
            "payload" if isinstance(item, bytes) else item.reason
            for item in framer.feed(data) + framer.flush()
        )
    assert reasons["checksum"] == 0, reasons
    assert reasons["payload"] >= 200, reasons


def test_apdu_fields_find_every_length_and_number() -> None:
    apdu = bytes.fromhex(load("mbus_dlms.json")[0]["plaintext_apdu_hex"])
    fields = apdu_fields(apdu)
    # Netz NÖ flat list: the header's date-time, then the structure of 35, its date-time,
    # 11 OBIS codes, 11 {scaler, unit} structures and the meter number.
    assert len(fields.lengths) == 1 + 1 + 1 + 11 + 11 + 1
    assert (1, 4) in fields.numbers  # the long-invoke-id
    # the invoke-id, the header's date-time, 11 values, 11 scalers and 11 units
    assert len(fields.numbers) == 1 + 1 + 11 + 22


# ---------------------------------------------------------------- the oracle catches things


def test_oracle_rejects_skipped_bytes_that_are_not_the_streams() -> None:
    wrong = DecodeError("unsupported", "noise", 2, b"\x00\x01")
    with pytest.raises(Violation, match="skipped_bytes"):
        check_items("t", b"\x00\x01\x02\x03", [wrong], (Telegram, DecodeError))
    check_items("t", b"\x00\x01\x00\x01", [wrong], (Telegram, DecodeError))


def test_oracle_rejects_non_finite_values_and_silence() -> None:
    nan = Telegram(
        format="apdu", meter_number=None, timestamp=None, values={"x": float("nan")}, units={}
    )
    with pytest.raises(Violation, match="value"):
        check_items("t", b"\x0f", [nan], (Telegram, DecodeError))
    with pytest.raises(Violation, match="silent"):
        check_items("t", b"\x55", [], (Telegram, DecodeError))
    check_items("t", b"\x7e\r\n", [], (Telegram, DecodeError))


# ---------------------------------------------------------------- the slice


def test_slice_reaches_every_outcome(slice_run: Any) -> None:
    outcomes = slice_run[0]
    for reason in (
        "telegram",
        "checksum",
        "truncated",
        "malformed",
        "wrong_key",
        "auth_tag",
        "no_key",
    ):
        assert outcomes[reason] > 0, outcomes


def test_no_exception_escapes(slice_run: Any) -> None:
    assert not _broken(slice_run, "escape")


def test_items_are_telegrams_or_errors_with_the_streams_bytes(slice_run: Any) -> None:
    assert not _broken(slice_run, "item_type", "skipped_bytes")


def test_telegram_values_are_finite_and_encode(slice_run: Any) -> None:
    assert not _broken(slice_run, "value", "json")


def test_layout_cache_agrees_with_the_full_walk(slice_run: Any) -> None:
    assert not _broken(slice_run, "shape_cache")


def test_every_input_gets_an_answer(slice_run: Any) -> None:
    assert not _broken(slice_run, "silent")


def test_long_lived_framing_forgets_the_previous_input(slice_run: Any) -> None:
    assert not _broken(slice_run, "stream_state")


# ---------------------------------------------------------------- what the first million found


def _e450() -> tuple[list[bytes], bytes, bytes, bytes]:
    vectors = {v["id"]: v for v in load("hdlc_dlms.json")}
    e450 = vectors["hdlc_landis_gyr_e450_gbt_encrypted"]
    frames = [bytes.fromhex(f) for f in e450["frames_hex"]]
    other = bytes.fromhex(vectors["hdlc_aidon_norway_1phase"]["frames_hex"][0])
    return frames, other, bytes.fromhex(e450["key_hex"]), bytes.fromhex(e450["auth_key_hex"])


def test_gbt_blocks_after_an_interruption_are_truncated() -> None:
    # Block 1, another meter's APDU, then blocks 2 and 3: blocks 2-3 lack block 1.
    frames, other, key, auth_key = _e450()
    decoder = MeterDecoder("hdlc", key, auth_key)
    out = decoder.feed(frames[0] + other + frames[1] + frames[2]) + decoder.flush()
    reasons = [item.reason if isinstance(item, DecodeError) else "telegram" for item in out]
    assert reasons[-1] == "truncated", reasons


def test_dsmr_superscript_digit_in_an_mbus_reference_is_rejected() -> None:
    text = str(load("dsmr_p1.json")[0]["telegram"]).replace("(0-1:24.2.1)", "(\u00b2-1:24.2.1)")
    telegram = decode_dsmr(text.encode("latin-1"), registry=default_registry())
    # the unreadable reference names nothing: the gas reading stays under its own code
    assert "mbus_1_volume_m3" not in telegram.values
    assert telegram.values["obis_0.1.24.3.0.255"] == pytest.approx(1.001)
