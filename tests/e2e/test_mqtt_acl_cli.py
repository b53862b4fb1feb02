"""``meterhub mqtt-acl``, run as a user would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.test_cli import run

if TYPE_CHECKING:
    from pathlib import Path


def test_it_writes_the_acl_and_the_password_template(tmp_path: Path) -> None:
    out = tmp_path / "auth"
    result = run("mqtt-acl", "--out", str(out), "--device", "dev-a", "--device", "dev-b")
    assert result.returncode == 0, result.stderr
    acl = (out / "acl").read_text()
    assert "user meterhub\ntopic read iot/#\ntopic write iot/+/command\n" in acl
    assert "pattern write iot/%u/telemetry\n" in acl
    assert "pattern read iot/%u/command\n" in acl
    assert (out / "passwords").read_text() == (
        "meterhub:CHANGE-ME\ndev-a:CHANGE-ME\ndev-b:CHANGE-ME\n"
    )
    assert f"mosquitto_passwd -U {(out / 'passwords').resolve()}" in result.stdout
    assert f"acl_file {(out / 'acl').resolve()}" in result.stdout
    assert "allow_anonymous false" in result.stdout


def test_it_takes_prefix_and_site_user_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        '[mqtt]\nurl = "mqtt://127.0.0.1"\nprefix = "plant/iot"\nusername = "site-7"\n'
    )
    result = run("mqtt-acl", "-c", str(config), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    acl = (tmp_path / "acl").read_text()
    assert "user site-7\ntopic read plant/iot/#\n" in acl
    assert "pattern write plant/iot/%u/hello\n" in acl
    flag = run("mqtt-acl", "-c", str(config), "--site-user", "ops", "--out", str(tmp_path / "b"))
    assert "user ops\n" in (tmp_path / "b" / "acl").read_text(), flag.stderr


def test_a_device_id_that_would_widen_the_acl_is_refused(tmp_path: Path) -> None:
    for bad in ("dev/+", "#", "a" * 65, "", "dev a"):
        result = run("mqtt-acl", "--out", str(tmp_path), "--device", "ok", "--device", bad)
        assert result.returncode == 2, bad
        assert f"--device {bad!r}: expected 1 to 64 letters" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "acl").exists()
    result = run("mqtt-acl", "--out", str(tmp_path), "--device", "meterhub")
    assert result.returncode == 2
    assert "'meterhub' is the site user's name" in result.stderr


def test_it_does_not_overwrite_without_force(tmp_path: Path) -> None:
    assert run("mqtt-acl", "--out", str(tmp_path)).returncode == 0
    (tmp_path / "passwords").write_text("meterhub:$7$hashed\n")
    again = run("mqtt-acl", "--out", str(tmp_path), "--device", "dev-a")
    assert again.returncode == 2
    assert "already there; pass --force to overwrite" in again.stderr
    assert (tmp_path / "passwords").read_text() == "meterhub:$7$hashed\n"
    forced = run("mqtt-acl", "--out", str(tmp_path), "--device", "dev-a", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "dev-a:CHANGE-ME" in (tmp_path / "passwords").read_text()


def test_a_bad_config_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[mqtt]\nprefix = "iot/#"\n')
    result = run("mqtt-acl", "-c", str(config), "--out", str(tmp_path))
    assert result.returncode == 2
    assert f"{config}: mqtt.prefix" in result.stderr
