"""``meterhub profile draft`` as a user runs it on a capture of a meter nobody profiled."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from pathlib import Path

from tests.e2e.test_decode_cli import load

MHUB = [sys.executable, "-m", "meterhub.cli"]
HDLC = {vector["id"]: vector for vector in load("hdlc_dlms.json")}
WIENER = HDLC["hdlc_wienernetze_siemens_im350_1"]
KEY = WIENER["key_hex"]


def mhub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MHUB, *args], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def capture(tmp_path: Path, vector: dict[str, Any] = WIENER) -> Path:
    path = tmp_path / "capture.hex"
    path.write_text("\n".join(vector["frames_hex"]) + "\n")
    return path


def test_the_draft_goes_to_stdout_and_decode_loads_it(tmp_path: Path) -> None:
    hexfile = capture(tmp_path)
    result = mhub("profile", "draft", str(hexfile), "--key", KEY, "--name", "vienna")
    assert result.returncode == 0, result.stderr
    (profile,) = tomllib.loads(result.stdout)["profile"]
    assert profile["name"] == "vienna"
    assert "capture.hex" in profile["description"]
    draft = tmp_path / "vienna.toml"
    draft.write_text(result.stdout)
    decoded = mhub("decode", "--profile", str(draft), "--key", KEY, str(hexfile))
    assert decoded.returncode == 0, decoded.stderr
    (telegram,) = [msgspec.json.decode(line) for line in decoded.stdout.splitlines()]
    assert telegram["profile"] == "vienna"
    assert telegram["values"]["energy_import_wh"] == 2946830
    assert telegram["units"]["energy_import_wh"] == "Wh"
    assert telegram["meter_number"] == "2221202033801"


def test_output_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    hexfile = capture(tmp_path)
    out = tmp_path / "my.toml"
    first = mhub("profile", "draft", str(hexfile), "--key", KEY, "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    assert f"wrote {out}" in first.stderr
    tomllib.loads(out.read_text())
    out.write_text("# my edits\n")
    again = mhub("profile", "draft", str(hexfile), "--key", KEY, "-o", str(out))
    assert again.returncode == 2
    assert again.stderr == f"meterhub: {out} exists; use --force to overwrite it\n"
    assert out.read_text() == "# my edits\n"
    forced = mhub("profile", "draft", str(hexfile), "--key", KEY, "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert tomllib.loads(out.read_text())["profile"][0]["name"] == "sms_12"


def test_wrong_or_missing_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    hexfile = capture(tmp_path)
    for args, reason in ((["--key", "00" * 16], "wrong_key"), ([], "no_key")):
        result = mhub("profile", "draft", str(hexfile), *args)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith(f"meterhub: error: {reason}: ")
        assert len(result.stderr.splitlines()) == 1


def test_a_capture_without_dlms_is_refused(tmp_path: Path) -> None:
    dsmr = next(v for v in load("dsmr_p1.json") if v.get("telegram"))
    path = tmp_path / "p1.txt"
    path.write_text(dsmr["telegram"])
    result = mhub("profile", "draft", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith("meterhub: error: unsupported: ")
    assert len(result.stderr.splitlines()) == 1


def test_unreadable_capture_and_bad_key_text_are_usage_errors(tmp_path: Path) -> None:
    missing = mhub("profile", "draft", str(tmp_path / "none.hex"))
    assert missing.returncode == 2
    assert "cannot read the capture" in missing.stderr
    badkey = mhub("profile", "draft", str(capture(tmp_path)), "--auth-key", "xyz")
    assert badkey.returncode == 2
    assert "--auth-key: expected 32 hexadecimal digits" in badkey.stderr


def test_stdin_and_format_are_accepted(tmp_path: Path) -> None:
    kaifa = HDLC["hdlc_kaifa_ma304h3e_norway"]
    result = subprocess.run([*MHUB, "profile", "draft", "--format", "hdlc", "-"],
                            input="".join(kaifa["frames_hex"]), capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["profile"][0]["name"] == "kfm_001_13"
    wrong = mhub("profile", "draft", "--format", "mbus", str(capture(tmp_path, kaifa)))
    assert wrong.returncode == 1


def test_ek_only_drafts_when_the_published_auth_key_fails(tmp_path: Path) -> None:
    kamstrup = HDLC["hdlc_kamstrup_omnipower_encrypted"]
    args = ["profile", "draft", str(capture(tmp_path, kamstrup)), "--key", kamstrup["key_hex"],
            "--auth-key", "00" * 16]  # fmt: skip
    refused = mhub(*args)
    assert refused.returncode == 1
    assert refused.stderr.startswith("meterhub: error: auth_tag: ")
    result = mhub(*args, "--ek-only")
    assert result.returncode == 0, result.stderr
    assert "1.1.31.7.0.255" in tomllib.loads(result.stdout)["profile"][0]["obis"]
