"""Fuzz every framer and decoder with random and mutated telegrams; count what comes out.

Run: ``.venv/bin/python bench/fuzz.py [--count 1000000] [--seed 0] [--workers 2]``.
Replay one input: ``.venv/bin/python bench/fuzz.py --seed S --replay INDEX``.

Inputs are built by ``tests/unit/adapters/_mutations.py`` from every vector of
``tests/data`` (with its keys, and the plaintext APDUs re-wrapped in clear): random
bytes, bit flips, byte edits, cuts, frame-length changes, A-XDR and ciphered lengths
and plaintext edits rebuilt behind valid checksums and tags, splices, reordered
segments and noise. Input ``i`` uses mutator ``i mod 13`` and its own generator
(``Random(f"{seed}:{i}")``), so a reproducer is the seed and the index. Each input goes
through every target of ``tests/unit/adapters/_oracle.py`` (``MeterDecoder`` fresh and
long-lived, ``auto``, without keys, ``iter_decode``, each framer, ``decode_apdu``,
``decode_dsmr``), fed in random chunks. The long-lived decoders live for a worker's whole
run, so their layout caches have learned shapes when mutated telegrams arrive.

Prints, per target and per mutator, the inputs, the outcomes by class and the broken
rules ("escape": an exception other than DecodeError; the others are named in
``_oracle.py``), inputs/s and the total time. Exits 1 when any rule is broken, after a
reproducer (seed, index, hex) for the first input that broke each rule.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.adapters._mutations import MUTATORS, seeds
from tests.unit.adapters._oracle import TARGETS, Harness

NAMES = list(MUTATORS)


def make_input(seed: int, index: int, pool: list[Any]) -> tuple[random.Random, str, Any, bytes]:
    rng = random.Random(f"{seed}:{index}")
    mutator = NAMES[index % len(NAMES)]
    base = rng.choice(pool)
    return rng, mutator, base, MUTATORS[mutator](rng, base, pool)


def run_slice(job: tuple[int, int, int, int]) -> dict[str, Any]:
    """Run inputs ``start, start + step, ...`` below ``stop`` in one process."""
    seed, start, stop, step = job
    pool = seeds()
    harness = Harness()
    targets: dict[str, Counter[str]] = {t: Counter() for t in TARGETS}
    mutators: dict[str, Counter[str]] = {m: Counter() for m in NAMES}
    seconds: dict[str, float] = dict.fromkeys(NAMES, 0.0)
    broken: Counter[tuple[str, str, str]] = Counter()
    first: dict[tuple[str, str], dict[str, Any]] = {}
    clock = time.perf_counter
    for index in range(start, stop, step):
        began = clock()
        rng, mutator, base, data = make_input(seed, index, pool)
        found, violations = harness.run(rng, base, data)
        seconds[mutator] += clock() - began
        tally = mutators[mutator]
        tally["inputs"] += 1
        tally.update(found.get("decoder", ["broken"]) or ["nothing"])
        for target, labels in found.items():
            targets[target]["inputs"] += 1
            targets[target].update(labels or ["nothing"])
        for v in violations:
            broken[v.target, v.kind, mutator] += 1
            first.setdefault((v.target, v.kind), {
                "seed": seed, "index": index, "mutator": mutator, "from": base.name,
                "detail": v.detail[:2000], "hex": data.hex().upper(),
            })  # fmt: skip
    return {"targets": targets, "mutators": mutators, "seconds": seconds, "broken": broken,
            "first": first, "shapes": harness.shape_statistics()}  # fmt: skip


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"targets": {}, "mutators": {}, "seconds": dict.fromkeys(NAMES, 0.0),
                             "broken": Counter(), "first": {}, "shapes": Counter()}  # fmt: skip
    for part in parts:
        for group in ("targets", "mutators"):
            for name, tally in part[group].items():
                total[group].setdefault(name, Counter()).update(tally)
        for name, spent in part["seconds"].items():
            total["seconds"][name] += spent
        total["broken"].update(part["broken"])
        total["shapes"].update(part["shapes"])
        for key, found in part["first"].items():
            old = total["first"].get(key)
            if old is None or found["index"] < old["index"]:
                total["first"][key] = found
    return total


def _outcomes(tally: Counter[str]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in tally.most_common() if name != "inputs")


def report(total: dict[str, Any], elapsed: float, args: argparse.Namespace) -> int:
    count = sum(t["inputs"] for t in total["mutators"].values())
    print(f"fuzz: {count:,} inputs, seed {args.seed}, {args.workers} worker(s), "
          f"{elapsed:.1f} s, {count / elapsed:,.0f} inputs/s")  # fmt: skip
    escapes: Counter[tuple[str, str]] = Counter()
    rules: Counter[tuple[str, str]] = Counter()
    for (target, kind, mutator), n in total["broken"].items():
        (escapes if kind == "escape" else rules)[target, mutator] += n
    print("\nper target: inputs | escapes | other broken rules | outcomes (items)")
    for target, tally in total["targets"].items():
        esc = sum(n for (t, _), n in escapes.items() if t == target)
        other = sum(n for (t, _), n in rules.items() if t == target)
        print(f"  {target:18} {tally['inputs']:>9,} | {esc:>5} | {other:>7,} | {_outcomes(tally)}")
    print("\nper mutator: inputs | escapes | inputs/s (one worker) | outcomes of MeterDecoder")
    for name, tally in total["mutators"].items():
        esc = sum(n for (_, m), n in escapes.items() if m == name)
        speed = tally["inputs"] / total["seconds"][name] if total["seconds"][name] else 0.0
        print(
            f"  {name:16} {tally['inputs']:>9,} | {esc:>5} | {speed:>7,.0f}/s | {_outcomes(tally)}"
        )
    print(f"\nlayout cache of the long-lived decoders: {dict(total['shapes'])}")
    by_kind: Counter[str] = Counter()
    for (_, kind, _), n in total["broken"].items():
        by_kind[kind] += n
    print(f"broken rules: {dict(by_kind) or 'none'} (escapes: {by_kind['escape']})")
    for (target, kind), found in sorted(total["first"].items()):
        print(f"\nREPRODUCER {kind} in {target}: --seed {found['seed']} --replay {found['index']} "
              f"({found['mutator']} of {found['from']})\n  {found['detail']}\n  hex {found['hex']}")  # fmt: skip
    return 1 if total["broken"] else 0


def replay(args: argparse.Namespace) -> int:
    pool = seeds()
    rng, mutator, base, data = make_input(args.seed, args.replay, pool)
    found, violations = Harness().run(rng, base, data)
    print(
        f"input {args.replay}: {mutator} of {base.name}, {len(data)} bytes\nhex {data.hex().upper()}"
    )
    for target, labels in found.items():
        print(f"  {target}: {labels}")
    for v in violations:
        print(f"BROKEN {v.target} {v.kind}: {v.detail}")
    print("(a fresh process: a layout-cache finding may need the inputs before it)")
    return 1 if violations else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replay", type=int, default=None, help="run one input index only")
    args = parser.parse_args()
    if args.replay is not None:
        return replay(args)
    jobs = [(args.seed, w, args.count, args.workers) for w in range(args.workers)]
    started = time.perf_counter()
    if args.workers == 1:
        parts = [run_slice(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(args.workers) as workers:
            parts = workers.map(run_slice, jobs)
    return report(merge(parts), time.perf_counter() - started, args)


if __name__ == "__main__":
    sys.exit(main())
