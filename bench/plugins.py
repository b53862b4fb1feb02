"""What the built-in plugins cost: the whole pipeline with costs + anomaly, and without.

The same site as ``bench/ingest.py`` (simulated Kaifa meters, real encrypted telegrams,
journal with fsync, SQLite) is run alternately without plugins and with the demo site's
``[plugins.costs]`` and ``[plugins.anomaly]``. Pairs run back to back in one invocation;
ratios are taken per pair, then their median.

Three figures per run: the plugins' own handling time as a share of the process's CPU
time (exact, not noisy), committed telegrams per second, and the process's CPU seconds per
committed telegram. At an offered rate the site sustains (the default), both runs commit
what is offered and the CPU per telegram is the cost: the pipeline is CPU-bound on one
core, so ``cpu_without / cpu_with`` is the throughput the plugins leave. At a rate above
capacity (``--rate 20000``) the committed rate is the capacity itself, but overload runs
are noisy (the store writer falls back to catching up from the journal).

Run: ``.venv/bin/python bench/plugins.py [--rate 4000] [--meters 500] [--seconds 15]
[--repeat 5]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import anyio
import msgspec
from ingest import prepare, run_pipeline

from meterhub.settings import DEMO_PATH


def demo_plugins() -> dict[str, Any]:
    """The demo site's ``[plugins]`` tables, as shipped."""
    return tomllib.loads(DEMO_PATH.read_text(encoding="utf-8"))["plugins"]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plugins = demo_plugins()
    pairs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="meterhub-bench-plugins-") as name:
        for run in range(args.repeat):
            pair: dict[str, float] = {}
            # alternate which goes first, so a warming machine favours neither
            order = [("without", None), ("with", plugins)]
            for label, enabled in order if run % 2 == 0 else order[::-1]:
                interval, prepared = prepare(args.meters, args.rate, args.seconds + 4)
                url = f"sqlite:///{Path(name) / f'{label}-{run}.db'}"
                result = await run_pipeline(url, prepared, interval, args.seconds,
                                            plugins=enabled)  # fmt: skip
                pair[label] = result["telegrams_per_s"]
                pair[f"{label}_cpu_us"] = result["cpu_share"] / result["telegrams_per_s"] * 1e6
                pair[f"{label}_p99_ms"] = result["latency_p99_ms"]
                pair[f"{label}_dropped"] = result["plugin_dropped"]
                pair[f"{label}_share"] = result["plugin_share_of_cpu"]
            pair["ratio"] = pair["with"] / pair["without"]
            pair["cpu_ratio"] = pair["without_cpu_us"] / pair["with_cpu_us"]
            pairs.append(pair)
    ratios = [p["ratio"] for p in pairs]
    cpu_ratios = [p["cpu_ratio"] for p in pairs]
    return {
        "offered_per_s": args.rate, "meters": args.meters, "seconds": args.seconds,
        "plugins": sorted(plugins),
        "without_telegrams_per_s": [round(p["without"]) for p in pairs],
        "with_telegrams_per_s": [round(p["with"]) for p in pairs],
        "ratios": [round(r, 3) for r in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "median_cost_pct": round((1 - statistics.median(ratios)) * 100, 1),
        "cpu_us_per_telegram_without": [round(p["without_cpu_us"], 1) for p in pairs],
        "cpu_us_per_telegram_with": [round(p["with_cpu_us"], 1) for p in pairs],
        "cpu_ratios": [round(r, 3) for r in cpu_ratios],
        "median_cpu_ratio": round(statistics.median(cpu_ratios), 3),
        "median_cpu_cost_pct": round((1 - statistics.median(cpu_ratios)) * 100, 1),
        "p99_ms_without": [p["without_p99_ms"] for p in pairs],
        "p99_ms_with": [p["with_p99_ms"] for p in pairs],
        # messages the plugins' mailboxes dropped: 0 means they kept up with the site
        "plugin_dropped": [p["with_dropped"] for p in pairs],
        # the plugins' handlers' own seconds against the process's CPU seconds
        "plugin_share_of_cpu_pct": [round(p["with_share"] * 100, 2) for p in pairs],
    }  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=4000.0, help="offered telegrams/s")
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=5)
    result = anyio.run(main, parser.parse_args(), backend_options={"use_uvloop": True})
    print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
