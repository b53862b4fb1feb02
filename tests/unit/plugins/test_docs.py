"""The settings shown in docs/plugins.md are what the built-in plugins accept."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from meterhub.plugins import decode_settings
from meterhub.plugins.anomaly import AnomalySettings
from meterhub.plugins.costs import CostSettings, TariffPlan

DOC = Path(__file__).parents[3] / "docs" / "plugins.md"


def toml_blocks() -> list[dict[str, object]]:
    return [tomllib.loads(block) for block in
            re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)]  # fmt: skip


def test_the_documented_costs_and_anomaly_settings_decode() -> None:
    tables = {name: table for block in toml_blocks()
              for name, table in block.get("plugins", {}).items()}  # type: ignore[union-attr]  # fmt: skip
    costs = decode_settings("costs", CostSettings, tables["costs"])
    anomaly = decode_settings("anomaly", AnomalySettings, tables["anomaly"])
    plan = TariffPlan(costs)
    assert [t.valid_from.isoformat() for t in plan.tariffs] == ["2026-01-01", "2027-01-01"]
    assert plan.tariffs[1].dynamic
    assert anomaly == AnomalySettings()  # the block shows every default
