"""runbook.config: the target is read from the lab's own target.yaml; every problem names key, file and fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbook import redact
from runbook.config import ENV_VAR, load_target
from runbook.errors import ConfigError


def write_target(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_loads_the_labs_target_and_registers_the_password(shared_lab):
    target = load_target(shared_lab.dir / "target.yaml")
    raw = shared_lab.target
    assert target.fuel.address == raw["fuel"]["address"] and target.fuel.port == raw["fuel"]["port"]
    assert target.fuel.url == f"http://{raw['fuel']['address']}:{raw['fuel']['port']}"
    assert target.ssh.key == shared_lab.key.resolve() and target.ssh.known_hosts == shared_lab.known_hosts.resolve()
    assert target.ssh.config == shared_lab.ssh_config.resolve()
    assert target.env == 1 and target.journal_dir == (shared_lab.dir / "journal").resolve()
    password = Path(raw["fuel"]["password_file"]).read_text().strip()
    assert target.fuel.password == password
    assert password not in repr(target)  # a target printed in a log does not show it
    assert redact.redact(f"token for {password}") == "token for ***"


def test_explicit_path_wins_over_the_environment(shared_lab, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match="nowhere.yaml does not exist"):
        load_target()
    assert load_target(shared_lab.dir / "target.yaml").env == 1
    monkeypatch.setenv(ENV_VAR, str(shared_lab.dir / "target.yaml"))
    assert load_target().path == (shared_lab.dir / "target.yaml").resolve()


def test_missing_target_file_names_the_fix(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_target(tmp_path / "target.yaml")
    assert str(tmp_path / "target.yaml") in str(caught.value) and "--target" in caught.value.fix


@pytest.mark.parametrize("section,key", [("fuel", "address"), ("ssh", "known_hosts"), ("clouds", "file"),
                                         (None, "journal_dir"), (None, "env")])
def test_missing_key_is_named_with_file_and_fix(shared_lab, tmp_path, section, key):
    data = shared_lab.target
    del (data[section] if section else data)[key]
    path = write_target(tmp_path, data)
    dotted = f"{section}.{key}" if section else key
    with pytest.raises(ConfigError) as caught:
        load_target(path)
    assert f"`{dotted}` is missing" in str(caught.value) and str(path) in str(caught.value)
    assert caught.value.fix == f"add `{dotted}` to {path}"


@pytest.mark.parametrize("key,value,problem", [
    ("port", "eight thousand", "must be an integer"),
    ("port", 70000, "must be an integer from 1 to 65535"),
    ("address", "", "is missing"),
])
def test_invalid_value_is_named(shared_lab, tmp_path, key, value, problem):
    data = shared_lab.target
    data["fuel"][key] = value if value != "" else None
    path = write_target(tmp_path, data)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_target(path)
    assert f"`fuel.{key}`" in str(caught.value)


def test_unknown_key_is_refused(shared_lab, tmp_path):
    data = shared_lab.target
    data["fuel"]["pasword_file"] = data["fuel"].pop("password_file")
    with pytest.raises(ConfigError, match=r"unknown key `fuel.pasword_file`"):
        load_target(write_target(tmp_path, data))


def test_world_readable_password_file_is_refused_with_the_chmod_fix(shared_lab, tmp_path):
    data = shared_lab.target
    secret = tmp_path / "fuel_password"
    shutil.copy(data["fuel"]["password_file"], secret)
    secret.chmod(0o644)
    data["fuel"]["password_file"] = str(secret)
    path = write_target(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_target(path)
    assert "`fuel.password_file`" in str(caught.value) and "0644" in str(caught.value)
    assert caught.value.fix == f"chmod 600 {secret}"
    secret.chmod(0o600)
    assert load_target(path).fuel.password == secret.read_text().strip()


def test_password_from_the_named_environment_variable_only(shared_lab, tmp_path, monkeypatch):
    data = shared_lab.target
    password = Path(data["fuel"].pop("password_file")).read_text().strip()
    data["fuel"]["password_env"] = "OCTANE_TEST_FUEL_PASSWORD"
    path = write_target(tmp_path, data)
    monkeypatch.delenv("OCTANE_TEST_FUEL_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"names \$OCTANE_TEST_FUEL_PASSWORD, which is not set") as caught:
        load_target(path)
    assert caught.value.fix == "export OCTANE_TEST_FUEL_PASSWORD before running"
    monkeypatch.setenv("OCTANE_TEST_FUEL_PASSWORD", password)
    assert load_target(path).fuel.password == password
    data["fuel"]["password_file"] = "secret"  # both at once: ambiguous
    with pytest.raises(ConfigError, match="exactly one must be set"):
        load_target(write_target(tmp_path, data))


def test_relative_paths_resolve_against_the_target_folder(shared_lab, tmp_path, monkeypatch):
    folder = tmp_path / "site"
    (folder / "secrets").mkdir(parents=True)
    data = shared_lab.target
    for section, key, name in [("ssh", "key", "id_ed25519"), ("ssh", "known_hosts", "known_hosts"),
                               ("ssh", "config", "ssh_config"), ("clouds", "file", "clouds.yaml"),
                               ("fuel", "password_file", "secrets/fuel")]:
        shutil.copy2(data[section][key], folder / name)
        data[section][key] = name
    data["journal_dir"] = "journal"
    path = write_target(folder, data)
    monkeypatch.chdir(tmp_path)  # not the target's folder
    target = load_target(path)
    assert target.ssh.key == folder / "id_ed25519" and target.clouds.file == folder / "clouds.yaml"
    assert target.journal_dir == folder / "journal"


def test_group_readable_ssh_key_is_refused(shared_lab, tmp_path):
    data = shared_lab.target
    key = tmp_path / "id"
    shutil.copy(data["ssh"]["key"], key)
    key.chmod(0o640)
    data["ssh"]["key"] = str(key)
    with pytest.raises(ConfigError, match="`ssh.key`") as caught:
        load_target(write_target(tmp_path, data))
    assert caught.value.fix == f"chmod 600 {key}"


def test_default_target_starts_then_reuses_the_embedded_lab(tmp_path, monkeypatch, spare_prefix):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    lab_dir = tmp_path / ".lab"
    try:
        target = load_target(prefix=spare_prefix)
        assert target.path == (lab_dir / "target.yaml").resolve()
        assert target.fuel.address == f"127.{spare_prefix}.0.2"
        pid = (lab_dir / "lab.pid").read_text().strip()
        os.kill(int(pid), 0)  # the lab process runs
        again = load_target(prefix=spare_prefix)
        assert again == target and (lab_dir / "lab.pid").read_text().strip() == pid  # reused, not restarted
    finally:
        subprocess.run([sys.executable, "-m", "fuellab.cli", "down", "--dir", str(lab_dir)],
                       capture_output=True, timeout=60, check=False)


def test_the_readmes_target_example_loads(tmp_path, monkeypatch):
    """README's target.yaml for a real Fuel master is one octane accepts (its paths moved under tmp)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = example.replace("/root/.ssh/id_rsa", str(tmp_path / "id_rsa")) \
                     .replace("/var/lib/octane/journal", str(tmp_path / "journal"))
    for name in ("id_rsa", "known_hosts", "clouds.yaml"):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o600)
    (tmp_path / "target.yaml").write_text(example)
    monkeypatch.setenv("OCTANE_FUEL_PASSWORD", "not-a-real-password")
    target = load_target(tmp_path / "target.yaml")
    assert (target.name, target.env, target.fuel.port, target.ssh.known_hosts) == \
        ("production-dc1", 1, 8000, tmp_path / "known_hosts")
