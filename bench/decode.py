"""Decode benchmark: meterhub against dlms-cosem and gurux-dlms on the Kaifa MA309M vectors.

Prints one JSON object. Run: ``.venv/bin/python bench/decode.py [--repeat 5]``.

Input: the three M-Bus Kaifa vectors of ``tests/data/mbus_dlms.json`` (Netz NÖ flat,
TINETZ nested, Vorarlberg). Each is turned into ``--variants`` distinct telegrams, as a
meter would send them over time: new numbers in every value, new seconds in the
date-times, new invoke-id and frame counter, re-encrypted (AES-CTR of DLMS suite 0) and
re-framed, so no library sees the same bytes twice in a row. Every figure is telegrams
per second on one core (the process is pinned to one CPU where the OS allows), the
median of ``--repeat`` rounds; in each round every library runs on every task in turn,
so the figures and ratios come from the same run.

The peers are installed for the benchmark only (``pip install dlms-cosem gurux-dlms``);
a peer that is missing or cannot decode a task is reported with its error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meterhub.adapters.codecs import MeterDecoder, Telegram, decode_apdu

MISSING: dict[str, str] = {}
try:
    from dlms_cosem import security as dlms_cosem_security
    from dlms_cosem.dlms_data import DlmsDataParser
    from dlms_cosem.protocol.xdlms import DataNotification, GeneralGlobalCipher
except ImportError as exc:  # a peer for the benchmark only: report it, do not fail
    MISSING["dlms-cosem"] = f"{type(exc).__name__}: {exc}"
try:
    from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
    from gurux_dlms.enums import InterfaceType, Security
    from gurux_dlms.secure import GXDLMSSecureClient
except ImportError as exc:
    MISSING["gurux-dlms"] = f"{type(exc).__name__}: {exc}"

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mbus_dlms.json"
AUTH_KEY = bytes(range(0xD0, 0xE0))  # AK for the SC 0x30 telegrams built here
NUMBER_SIZES = {0x05: 4, 0x06: 4, 0x10: 2, 0x12: 2}  # A-XDR tags in the Kaifa lists
SEGMENT = 245

TASKS = {
    "mbus_full": (
        "M-Bus long-frame bytes of one telegram (2 frames, SC 0x20/0x21 encryption-only as "
        "the meters send) -> checksum + segment reassembly -> AES-CTR decryption -> A-XDR "
        "decode. meterhub also names and scales every value (canonical values, Telegram); "
        "gurux-dlms stops at its parsed value list (WIRED_MBUS interface); dlms-cosem has no "
        "M-Bus framing and cannot decrypt telegrams without a GCM tag."
    ),
    "apdu_plaintext": (
        "the decrypted data-notification APDU -> values. meterhub: decode_payload of a "
        "MeterDecoder('apdu'), names and scales values; dlms-cosem: DataNotification."
        "from_bytes + DlmsDataParser.parse + to_python (values unnamed, unscaled); "
        "gurux-dlms: GXDLMSClient(PDU).getData (values unnamed, unscaled)."
    ),
    "apdu_authenticated_sc30": (
        "a general-glo-ciphering APDU built here from the same plaintext with SC 0x30 "
        "(AES-128-GCM, encrypted + 12-byte tag, AAD = SC ‖ AK) -> tag verified, decrypted, "
        "values. meterhub: MeterDecoder('apdu', key, auth_key).decode_payload, names and "
        "scales; dlms-cosem: GeneralGlobalCipher.from_bytes + security.decrypt + the plaintext "
        "parse above; gurux-dlms: GXDLMSSecureClient(PDU, AUTHENTICATION_ENCRYPTION).getData."
    ),
}


class _Null:
    """A stdout that drops everything: gurux-dlms prints a line per decrypted telegram."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


# ---------------------------------------------------------------- building the telegrams


def _number_slots(apdu: bytes) -> list[tuple[int, int]]:
    slots = []
    pos = apdu.find(b"\x09\x06")
    while 0 <= pos < len(apdu) - 9:
        size = NUMBER_SIZES.get(apdu[pos + 8])
        if size is not None:
            slots.append((pos + 9, size))
        pos = apdu.find(b"\x09\x06", pos + 8)
    return slots


def _variant(apdu: bytes, rng: random.Random) -> bytes:
    out = bytearray(apdu)
    for offset, size in _number_slots(apdu):
        out[offset : offset + size] = rng.randrange(256 ** (size - 1)).to_bytes(size, "big")
    out[1:5] = rng.randrange(2**31).to_bytes(4, "big")
    header = apdu[6:18]
    second = rng.randrange(60)
    for start in [6, *(i + 2 for i in _find_all(apdu, b"\x09\x0c" + header))]:
        out[start + 7] = second  # byte 7 of a COSEM date-time: seconds
    return bytes(out)


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, pos = [], data.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = data.find(needle, pos + 1)
    return found


def _ber(size: int) -> bytes:
    # A-XDR/BER length, shortest form (the Kaifa meters send 81 F8 and 82 01 09).
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _glo(title: bytes, sc: int, counter: int, payload: bytes) -> bytes:
    content = bytes((sc,)) + counter.to_bytes(4, "big") + payload
    return b"\xdb\x08" + title + _ber(len(content)) + content


def _mbus(apdu: bytes) -> list[bytes]:
    segments = [apdu[i : i + SEGMENT] for i in range(0, len(apdu), SEGMENT)]
    frames = []
    for seq, segment in enumerate(segments):
        body = bytes((0x53, 0xFF, seq | (0x10 if seq == len(segments) - 1 else 0), 1, 0x67))
        body += segment
        frames.append(
            bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
        )
    return frames


def build(vector: dict[str, Any], count: int, seed: int) -> dict[str, Any]:
    """Return the vector's key material and ``count`` telegrams in every form."""
    rng = random.Random(seed)
    key = bytes.fromhex(vector["key_hex"])
    title = bytes.fromhex(vector["security"]["system_title_hex"])
    sc = int(vector["security"]["security_control"], 16)
    base = bytes.fromhex(vector["plaintext_apdu_hex"])
    plain, frames, sc30 = [], [], []
    for index in range(count):
        apdu = base if index == 0 else _variant(base, rng)
        counter = vector["security"]["frame_counter"] + index
        iv = title + counter.to_bytes(4, "big")
        ctr = Cipher(algorithms.AES(key), modes.CTR(iv + b"\0\0\0\2")).encryptor()
        plain.append(apdu)
        frames.append(_mbus(_glo(title, sc, counter, ctr.update(apdu) + ctr.finalize())))
        sealed = AESGCM(key).encrypt(iv, apdu, bytes((0x30,)) + AUTH_KEY)[:-4]
        sc30.append(_glo(title, 0x30, counter, sealed))
    if frames[0] != [bytes.fromhex(f) for f in vector["frames_hex"]]:
        msg = f"{vector['id']}: re-encrypting the plaintext does not give the recorded frames"
        raise SystemExit(msg)
    return {"key": key, "plain": plain, "mbus_full": frames, "apdu_plaintext": plain,
            "apdu_authenticated_sc30": sc30}  # fmt: skip


# ---------------------------------------------------------------- the libraries


def meterhub_decoders(case: dict[str, Any]) -> dict[str, Any]:
    key = case["key"]
    mbus = MeterDecoder("mbus", key)
    plain = MeterDecoder("apdu")
    sealed = MeterDecoder("apdu", key, AUTH_KEY)
    return {
        "mbus_full": lambda frames: mbus.feed(b"".join(frames)),
        "apdu_plaintext": plain.decode_payload,
        "apdu_authenticated_sc30": sealed.decode_payload,
        "_stats": mbus.statistics,
    }


def full_walk_decoders(case: dict[str, Any]) -> dict[str, Any]:
    """The same framing, then ``decode_apdu``, which has no layout cache."""
    key = case["key"]
    framer = MeterDecoder("mbus", key)

    def mbus(frames: list[bytes]) -> list[Any]:
        payloads = framer.frame(b"".join(frames))
        return [decode_apdu(p, fmt="mbus", key=key) for p in payloads]  # type: ignore[arg-type]

    return {
        "mbus_full": mbus,
        "apdu_plaintext": decode_apdu,
        "apdu_authenticated_sc30": lambda apdu: decode_apdu(apdu, key=key, auth_key=AUTH_KEY),
    }


def dlms_cosem_decoders(case: dict[str, Any]) -> dict[str, Any]:
    key = case["key"]

    def plaintext(apdu: bytes) -> Any:
        notification = DataNotification.from_bytes(apdu)
        return [item.to_python() for item in DlmsDataParser().parse(notification.body)]

    def sealed(apdu: bytes) -> Any:
        glo = GeneralGlobalCipher.from_bytes(apdu)
        clear = dlms_cosem_security.decrypt(glo.security_control, glo.system_title, glo.invocation_counter,
                                 key, glo.ciphered_text, AUTH_KEY)  # fmt: skip
        return plaintext(clear)

    def encryption_only(frames: list[bytes]) -> Any:
        # No M-Bus framer in dlms-cosem: hand it the reassembled APDU, as far as it goes.
        apdu = b"".join(frame[9:-2] for frame in frames)
        return sealed(apdu)

    return {"mbus_full": encryption_only, "apdu_plaintext": plaintext,
            "apdu_authenticated_sc30": sealed}  # fmt: skip


def gurux_decoders(case: dict[str, Any]) -> dict[str, Any]:
    key = case["key"]
    mbus = GXDLMSSecureClient(
        useLogicalNameReferencing=True, interfaceType=InterfaceType.WIRED_MBUS
    )
    mbus.ciphering.security = Security.ENCRYPTION
    mbus.ciphering.blockCipherKey = key
    plain = GXDLMSClient(useLogicalNameReferencing=True, interfaceType=InterfaceType.PDU)
    sealed = GXDLMSSecureClient(useLogicalNameReferencing=True, interfaceType=InterfaceType.PDU)
    sealed.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    sealed.ciphering.blockCipherKey = key
    sealed.ciphering.authenticationKey = AUTH_KEY

    def run(client: Any, chunks: list[bytes]) -> Any:
        reply, notify = GXReplyData(), GXReplyData()
        for chunk in chunks:
            client.getData(GXByteBuffer(chunk), reply, notify)
        if notify.value is None:
            raise ValueError("gurux-dlms returned no notification value")
        return notify.value

    return {"mbus_full": lambda frames: run(mbus, frames),
            "apdu_plaintext": lambda apdu: run(plain, [apdu]),
            "apdu_authenticated_sc30": lambda apdu: run(sealed, [apdu])}  # fmt: skip


PEERS = {"dlms-cosem": dlms_cosem_decoders, "gurux-dlms": gurux_decoders}


# ---------------------------------------------------------------- checking and timing


def _ints(value: Any) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, list | tuple):
        return set().union(*(_ints(item) for item in value)) if value else set()
    return set()


def check_peer(fn: Any, items: list[Any], plain: list[bytes]) -> None:
    """Decode every telegram once and make sure each raw number of it came out."""
    for item, apdu in zip(items, plain, strict=True):
        expected = {int.from_bytes(apdu[o : o + s], "big") for o, s in _number_slots(apdu)}
        missing = expected - _ints(fn(item))
        if missing:
            raise ValueError(f"decoded values lack {sorted(missing)[:5]}")


def check_meterhub(decoders: dict[str, Any], walker: dict[str, Any], case: dict[str, Any]) -> bool:
    """Every telegram decodes, and the layout cache agrees with the full walk."""
    same = True
    for frames, plain, sealed in zip(case["mbus_full"], case["plain"], case["apdu_authenticated_sc30"], strict=True):  # fmt: skip
        fast = decoders["mbus_full"](frames)
        slow = walker["mbus_full"](frames)
        assert len(fast) == 1, fast
        assert isinstance(fast[0], Telegram), fast
        same = same and fast == slow
        values = fast[0].values
        same = same and decoders["apdu_plaintext"](plain).values == values
        same = same and decoders["apdu_authenticated_sc30"](sealed).values == values
    return same


def rate(fn: Any, items: list[Any], seconds: float) -> float:
    """Telegrams per second of ``fn`` over ``items``, cycled for at least ``seconds``."""
    done = 0
    clock = time.perf_counter
    start = clock()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = clock() - start
        if elapsed >= seconds:
            return done / elapsed


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def prepare(vectors: list[dict[str, Any]], count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build every library's decoders per vector; record what a peer cannot do."""
    runners: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    for index, vector in enumerate(vectors):
        case = build(vector, count, seed=index)
        libs: dict[str, Any] = {
            "meterhub": meterhub_decoders(case),
            "meterhub_full_walk": full_walk_decoders(case),
        }
        ok = check_meterhub(libs["meterhub"], libs["meterhub_full_walk"], case)
        notes.setdefault("meterhub_layout_cache_equals_full_walk", {})[vector["id"]] = ok
        for peer, factory in PEERS.items():
            if peer in MISSING:
                notes.setdefault("errors", {})[peer] = MISSING[peer]
                continue
            try:
                decoders = factory(case)
            except Exception as exc:
                notes.setdefault("errors", {})[peer] = f"{type(exc).__name__}: {exc}"
                continue
            for task in list(decoders):
                try:
                    with contextlib.redirect_stdout(_Null()):
                        check_peer(decoders[task], case[task], case["plain"])
                except Exception as exc:
                    where = f"{peer} {task} {vector['id']}"
                    notes.setdefault("errors", {})[where] = f"{type(exc).__name__}: {exc}"[:300]
                    del decoders[task]
            libs[peer] = decoders
        runners[vector["id"]] = (case, libs)
    return runners, notes


def measure(runners: dict[str, Any], repeat: int, seconds: float) -> dict[str, Any]:
    samples: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(repeat):
        for vector_id, (case, libs) in runners.items():
            for lib, decoders in libs.items():
                for task, fn in decoders.items():
                    if task.startswith("_"):
                        continue
                    items = case[task]
                    with contextlib.redirect_stdout(_Null()):
                        value = rate(fn, items, seconds)
                    samples.setdefault((vector_id, task, lib), []).append(value)
    return {key: statistics.median(values) for key, values in samples.items()}


def report(medians: dict[tuple[str, str, str], float], runners: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for (vector_id, task, lib), value in sorted(medians.items()):
        figures.setdefault(vector_id, {}).setdefault(task, {})[lib] = round(value)
    for vector_id, tasks in figures.items():
        for task, libs in tasks.items():
            ratios = {
                f"{ours}/{peer}": round(libs[ours] / value, 2)
                for ours in ("meterhub", "meterhub_full_walk")
                for peer, value in libs.items()
                if peer in PEERS and ours in libs
            }
            tasks[task] = {"telegrams_per_s": libs, "ratio": ratios}
        tasks["meterhub_mbus_layout_cache"] = runners[vector_id][1]["meterhub"]["_stats"]()
    return figures


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("meterhub", "cryptography", "dlms-cosem", "gurux-dlms"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds; figures are medians")
    parser.add_argument("--seconds", type=float, default=0.3, help="time per figure per round")
    parser.add_argument("--variants", type=int, default=64, help="distinct telegrams per vector")
    args = parser.parse_args()
    pinning = pin_one_core()
    vectors = [v for v in msgspec.json.decode(DATA.read_bytes()) if v["frames_hex"]]
    runners, notes = prepare(vectors, args.variants)
    medians = measure(runners, args.repeat, args.seconds)
    result = {
        "benchmark": "decode",
        "unit": "telegrams per second, one core, median of --repeat rounds",
        "repeat": args.repeat,
        "seconds_per_figure": args.seconds,
        "variants_per_vector": args.variants,
        "cpu": pinning,
        "versions": versions(),
        "tasks": TASKS,
        "notes": {
            "meterhub": "MeterDecoder as the meter actors use it: learns each telegram "
            "layout and decodes later telegrams of that layout from fixed positions",
            "meterhub_full_walk": "the same framing with decode_apdu, which always walks "
            "the whole A-XDR tree (no layout cache: every telegram is a first telegram)",
            "meterhub_mbus_layout_cache": "statistics() of the mbus_full decoder after all "
            "rounds: telegrams decoded from a learned shape vs by the full walk",
            "peer output": "peers return nested lists of raw values; each was checked to "
            "contain every raw number of every telegram before timing",
            **notes,
        },
        "results": report(medians, runners),
    }
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
