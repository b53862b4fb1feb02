"""The real ``meterhub`` process, started as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from meterhub import __version__
from tests.e2e.site_process import free_port

MHUB = [sys.executable, "-m", "meterhub.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MHUB, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          check=False)  # fmt: skip


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"meterhub {__version__}"


def test_config_example_is_valid_and_checks_ok(tmp_path: Path) -> None:
    example = run("config", "example")
    assert example.returncode == 0
    assert tomllib.loads(example.stdout)["api"]["listen"] == "127.0.0.1:8080"
    path = tmp_path / "site.toml"
    path.write_text(example.stdout)
    check = run("config", "check", str(path))
    assert check.returncode == 0, check.stderr
    assert f"{path}: OK" in check.stdout
    assert '"listen": "127.0.0.1:8080"' in check.stdout


def test_bad_config_is_refused_with_file_key_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[runtime]\nshutdown_timeout = "x"\n')
    for args in (["config", "check", str(path)], ["run", "-c", str(path)]):
        result = run(*args)
        assert result.returncode == 2
        assert f"{path}: runtime.shutdown_timeout: Expected `float`, got `str`" in result.stderr
        assert "Traceback" not in result.stderr


def test_run_starts_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "METERHUB_DEMO__HEARTBEAT_INTERVAL": "0.1"}
    data_dir = tmp_path / "data"
    with subprocess.Popen(
        [*MHUB, "run", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{free_port()}"],
        stderr=subprocess.PIPE, text=True, env=env,
    ) as proc:  # fmt: skip
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:  # wait for the heartbeat actor to report, not for a time
            lines.append(line)
            if "heartbeat" in line and "actor=heartbeat" in line:
                break
        proc.send_signal(signal.SIGTERM)
        try:
            _, rest = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - the failure being tested
            proc.kill()
            pytest.fail("meterhub did not stop within 30 s of SIGTERM")
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "received SIGTERM, stopping" in log
    assert "stopped cleanly" in log
    assert " ERROR " not in log
    assert " WARNING " not in log
    assert "Traceback" not in log
    assert data_dir.is_dir()


def test_config_demo_prints_the_built_in_demo_that_checks_ok(tmp_path: Path) -> None:
    demo = run("config", "demo")
    assert demo.returncode == 0
    settings = tomllib.loads(demo.stdout)
    assert settings["api"]["auth"] == "open-on-loopback"
    assert {m["id"] for m in settings["meters"]} >= {"kaifa-noe", "dsmr-p1"}
    path = tmp_path / "demo.toml"
    path.write_text(demo.stdout)
    assert run("config", "check", str(path)).returncode == 0


@pytest.mark.parametrize("command", [["simulate", "--count", "2000", "--interval", "0"],
                                     ["decode", "--objects", "--key", "KEY", "CAPTURE"]])  # fmt: skip
def test_output_cut_by_a_pipe_exits_quietly_with_141(tmp_path: Path, command: list[str]) -> None:
    capture = tmp_path / "capture.hex"
    capture.write_text(run("simulate", "--count", "300", "--interval", "0").stdout)
    key = run("simulate", "--show-key").stdout.strip()
    command = [{"CAPTURE": str(capture), "KEY": key}.get(arg, arg) for arg in command]
    # a reader that stops at once: every write after that meets a closed pipe
    producer = subprocess.Popen([*MHUB, *command],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert producer.stdout is not None
    producer.stdout.read(100)
    producer.stdout.close()
    _, err = producer.communicate(timeout=60)
    assert producer.returncode == 141
    assert err == b""


@pytest.mark.parametrize("options", [["--interval", "-1"], ["--interval", "nan"],
                                     ["--count", "-3"], ["--count", "many"]])  # fmt: skip
def test_bad_option_values_are_one_line_and_exit_2(options: list[str]) -> None:
    result = run("simulate", *options)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        f"meterhub simulate: error: argument {options[0]}"
    )
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_configuration_error_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*MHUB, "run", "--data-dir", str(tmp_path / "data"),
                                 "--listen", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"configuration error: api.listen: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_refuses_a_plugin_table_the_plugin_refuses(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n'
                    '[plugins.costs]\ncurrency = "EUR"\ntariffs = []\n'
                    "[plugins.nosuch]\n")  # fmt: skip
    check = run("config", "check", str(path))
    assert check.returncode == 2
    assert "plugin costs: plugins.costs.tariffs: at least one tariff is needed" in check.stderr
    assert "plugin nosuch: no installed plugin is named 'nosuch'" in check.stderr
    assert "runs without these plugins" in check.stderr
