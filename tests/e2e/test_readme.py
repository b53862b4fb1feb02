"""The README's command blocks work as written.

Every ```sh block after the two top commands is run as one bash script (``set -e``,
``pipefail``) in an empty folder, with this environment's ``meterhub`` first on PATH; a
block that fails, or prints a traceback, fails the test. Usage lines that are not meant
to be pasted are ```text blocks. The two top commands are checked against what CI runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
BLOCKS = [(lang, body) for lang, body in _BLOCK.findall(README)]
SH = [body for lang, body in BLOCKS if lang == "sh"]
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/meterhub run\n"
TEST_COMMAND = "bash scripts/test.sh\n"


def test_the_two_commands_are_the_ones_ci_and_the_demo_use() -> None:
    assert SH[:2] == [DEMO_COMMAND, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec bash scripts/test.sh" in ci


@pytest.mark.parametrize("block", SH[2:], ids=lambda b: b.splitlines()[0][:50])
def test_command_block_runs_as_written(block: str, tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("METERHUB_DATA_DIR", None)
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{block}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_readme_meter_example_passes_config_check(tmp_path: Path) -> None:
    (toml,) = [body for lang, body in BLOCKS if lang == "toml" and "[[meters]]" in body]
    assert tomllib.loads(toml)["meters"][0]["id"]
    path = tmp_path / "site.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{toml}', encoding="utf-8")
    env = {**os.environ, "HOUSE_KEY": "3A3CB52714A95A22BD8D3493D9A29EFE"}
    result = subprocess.run(
        [sys.executable, "-m", "meterhub.cli", "config", "check", str(path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
