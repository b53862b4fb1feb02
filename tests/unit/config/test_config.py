from __future__ import annotations

import os
import tomllib
from pathlib import Path

import msgspec
import pytest

from meterhub.platform import ConfigError, Secret, load_config
from meterhub.settings import EXAMPLE_PATH, MeterConfig, Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_documents_every_key_with_its_default() -> None:
    assert load_config(Settings, EXAMPLE_PATH, environ={}) == Settings()

    def keys(data: dict[str, object], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in data.items():
            if value is None:
                continue  # TOML has no null: such keys are shown commented out
            out.add(prefix + key)
            if isinstance(value, dict):
                out |= keys(value, f"{prefix}{key}.")
        return out

    documented = keys(tomllib.loads(EXAMPLE_PATH.read_text()))
    assert documented == keys(msgspec.to_builtins(Settings())) - {"meters"}


def test_example_meters_block_is_valid_once_uncommented() -> None:
    text = EXAMPLE_PATH.read_text()
    block = text.split("# --- example meters ---\n")[1].split("# --- end of example meters")[0]
    uncommented = "\n".join(
        line.removeprefix("# ").removeprefix("#") for line in block.splitlines()
    )
    settings = load_config(Settings, None, defaults=tomllib.loads(uncommented),
                           environ={"KAIFA_1_KEY": "00112233445566778899AABBCCDDEEFF",
                                    "KAIFA_1_AK": "FFEEDDCCBBAA99887766554433221100"})  # fmt: skip
    settings.check("example")
    assert [m.id for m in settings.meters] == ["kaifa-1", "sim-1"]
    assert settings.meters[1].simulator.pv
    # every key of a meter appears in one of the examples
    shown = {key for meter in tomllib.loads(uncommented)["meters"] for key in meter}
    assert shown == set(MeterConfig.__struct_fields__)


ALERT = '[[alerts]]\nname = "r"\n'
METER = '[[meters]]\nid = "m"\ntransport = "simulator"\n'


@pytest.mark.parametrize(("text", "key", "reason"), [
    (ALERT + 'kind = "above"\nmetric = "power_import_w"\n', "alerts.0.high",
     "an 'above' rule needs high"),
    (ALERT + 'kind = "below"\nmetric = "voltage_l1_v"\nhigh = 3.0\n', "alerts.0.low",
     "a 'below' rule needs low"),
    (ALERT + 'kind = "outside"\nmetric = "voltage_l1_v"\nlow = 1.0\n', "alerts.0.high",
     "needs low and high"),
    (ALERT + 'kind = "outside"\nmetric = "voltage_l1_v"\nlow = 253.0\nhigh = 207.0\n',
     "alerts.0.low", "low (253) must be below high (207)"),
    (ALERT + 'kind = "rate"\nmetric = "power_import_w"\n', "alerts.0.limit", "needs limit"),
    (ALERT + 'kind = "rate"\nmetric = "power_import_w"\nlimit = -1.0\n', "alerts.0.limit",
     "must be above 0"),
    (ALERT + 'kind = "above"\nhigh = 3.0\n', "alerts.0.metric", "needs the metric"),
    (ALERT + 'kind = "silent"\n' + ALERT + 'kind = "silent"\n', "alerts.1.name",
     "duplicate rule name 'r'"),
    (METER + "stale_after = 300.0\noffline_after = 120.0\n", "meters.0.stale_after",
     "300 s is longer than offline_after (120 s)"),
    ('[api]\nlisten = "0.0.0.0:8080"\nauth = "open-on-loopback"\n', "api.auth",
     "'open-on-loopback' needs a loopback api.listen"),
])  # fmt: skip
def test_settings_that_can_never_work_name_the_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = write(tmp_path, f'data_dir = "{tmp_path / "data"}"\n' + text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert (info.value.key, info.value.source) == (key, str(path))
    assert reason in info.value.reason


def test_a_data_dir_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    for data_dir, reason in [(blocker, "exists and is not a folder"),
                             (blocker / "sub" / "data", "is not a writable folder"),
                             (locked / "data", "is not a writable folder")]:  # fmt: skip
        if reason.endswith("writable folder") and os.geteuid() == 0 and "locked" in str(data_dir):
            continue  # root may write anywhere: only the file parent is unwritable for root
        path = write(tmp_path, f'data_dir = "{data_dir}"\n')
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        assert info.value.key == "data_dir"
        assert reason in info.value.reason
    # a folder that does not exist yet but can be made passes, and is not made by the check
    fine = tmp_path / "new" / "data"
    load_settings(write(tmp_path, f'data_dir = "{fine}"\n'))
    assert not fine.exists()


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[runtime]\nshutdown_timeout = "soon"\n', "runtime.shutdown_timeout",
         "Expected `float`, got `str`"),
        ("[runtime]\nshutdown_timeout = -1\n", "runtime.shutdown_timeout", "Expected `float` > 0"),
        ("[runtime.restart]\nmax_restart = 3\n", "runtime.restart.max_restart", "unknown key"),
        ('[api]\nlisten = "localhost"\n', "api.listen", "expected HOST:PORT"),
        ('[api]\nlisten = "127.0.0.1:70000"\n', "api.listen", "port in 1..65535"),
        ('[logging]\nlevel = "LOUD"\n', "logging.level", "Invalid enum value 'LOUD'"),
        ("[runtime.restart]\nbackoff_initial = 20.0\n", "runtime.restart.backoff_initial",
         "must not exceed backoff_max"),
    ],
)  # fmt: skip
def test_bad_values_name_the_file_the_key_and_the_expectation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, key: str, reason: str
) -> None:
    monkeypatch.delenv("METERHUB_API__LISTEN", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.source == str(path)
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nlisten = \n")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2") as info:
        load_settings(path)
    assert info.value.source == str(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_settings(tmp_path / "nope.toml")


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nlisten = "127.0.0.1:1"\n[runtime]\nshutdown_timeout = 5\n')
    env = {
        "METERHUB_API__LISTEN": "0.0.0.0:9000",
        "METERHUB_RUNTIME__SHUTDOWN_TIMEOUT": "2.5",
        "METERHUB_RUNTIME__RESTART__MAX_RESTARTS": "9",
        "METERHUB_SITE__NAME": "123",  # a string field keeps digits as text
        "UNRELATED": "x",
    }
    settings = load_config(Settings, path, environ=env)
    assert settings.api.listen == "0.0.0.0:9000"
    assert settings.runtime.shutdown_timeout == 2.5
    assert settings.runtime.restart.max_restarts == 9
    assert settings.site.name == "123"


def test_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(Settings, path, environ={"METERHUB_RUNTIME__SHUTDOWN_TIMEOUT": "later"})
    assert info.value.source == "environment variable METERHUB_RUNTIME__SHUTDOWN_TIMEOUT"
    assert info.value.key == "runtime.shutdown_timeout"
    with pytest.raises(ConfigError, match="METERHUB_RUNTIME__SHUTDOWN") as info:
        load_config(Settings, path, environ={"METERHUB_RUNTIME__SHUTDOWN": "1"})
    assert info.value.reason == "no such setting"


def test_command_line_overrides_name_the_flag() -> None:
    settings = load_settings(None, {"api.listen": ("--listen", "127.0.0.1:8081")})
    assert settings.api.port == 8081
    # the demo needs no key, so it stays on this machine
    with pytest.raises(ConfigError, match=r"api\.auth: 'open-on-loopback' needs a loopback"):
        load_settings(None, {"api.listen": ("--listen", "0.0.0.0:8081")})
    with pytest.raises(ConfigError, match=r"--listen: api\.listen"):
        load_settings(None, {"api.listen": ("--listen", "nowhere")})


class Meter(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    key: Secret | None = None


class WithSecrets(msgspec.Struct, forbid_unknown_fields=True):
    meters: list[Meter] = []
    password: Secret | None = None


def test_secrets_resolve_from_env_and_file_and_never_print(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("00112233445566778899AABBCCDDEEFF\n")
    path = write(
        tmp_path,
        '[[meters]]\nid = "a"\nkey = "env:A_KEY"\n'
        '[[meters]]\nid = "b"\nkey = "file:key.txt"\n'
        '[[meters]]\nid = "c"\nkey = "literal"\n',
    )
    cfg = load_config(WithSecrets, path, environ={"A_KEY": "s3cret", "METERHUB_PASSWORD": "pw"})
    keys = [m.key for m in cfg.meters]
    assert [k.reveal() for k in keys if k] == [
        "s3cret",
        "00112233445566778899AABBCCDDEEFF",
        "literal",
    ]
    assert cfg.password is not None
    assert cfg.password.reveal() == "pw"
    assert "s3cret" not in repr(cfg)
    assert "literal" not in repr(cfg)


def test_list_items_can_be_overridden_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[[meters]]\nid = "a"\n')
    cfg = load_config(WithSecrets, path, environ={"METERHUB_METERS__0__KEY": "env:K", "K": "v"})
    assert cfg.meters[0].key is not None
    assert cfg.meters[0].key.reveal() == "v"


def test_missing_secret_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[[meters]]\nid = "a"\nkey = "env:NOT_SET"\n')
    with pytest.raises(ConfigError) as info:
        load_config(WithSecrets, path, environ={})
    assert info.value.key == "meters.0.key"
    assert "NOT_SET is not set" in info.value.reason
    path = write(tmp_path, '[[meters]]\nid = "a"\nkey = "file:missing.key"\n')
    with pytest.raises(ConfigError, match="cannot read secret file"):
        load_config(WithSecrets, path, environ={})


def meters_toml(*entries: str) -> str:
    return "".join(f"[[meters]]\n{e}\n" for e in entries)


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        (meters_toml('id = "a"\nport = "/dev/x"', 'id = "a"\nport = "/dev/y"'), "meters.1.id",
         "duplicate meter id 'a'"),
        (meters_toml('id = "a"'), "meters.0.port", "a serial meter needs a port"),
        (meters_toml('id = "a"\nport = "/dev/x"\nkey = "0011"'), "meters.0.key",
         "expected 32 hexadecimal digits"),
        (meters_toml('id = "a"\nport = "/dev/x"\ntimezone = "Mars/Olympus"'), "meters.0.timezone",
         "unknown time zone"),
        (meters_toml('id = "a b"\nport = "/dev/x"'), "meters.0.id", "expected letters, digits"),
        (meters_toml('id = "a"\ntransport = "carrier-pigeon"'), "meters.0.transport",
         "Invalid enum value 'carrier-pigeon'"),
    ],
)  # fmt: skip
def test_meter_rules(tmp_path: Path, toml: str, key: str, reason: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.key == key
    assert reason in info.value.reason


def test_a_bad_key_is_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, meters_toml('id = "a"\nport = "/dev/x"\nkey = "TOPSECRETVALUE"'))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "TOPSECRETVALUE" not in str(info.value)


def test_the_demo_configuration_is_valid() -> None:
    settings = load_settings(None)
    assert [m.id for m in settings.meters] == ["kaifa-noe", "kaifa-tinetz", "kaifa-pv", "dsmr-p1"]
    assert all(m.transport == "simulator" for m in settings.meters)
