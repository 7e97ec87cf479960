"""The target: where the Fuel master, the nodes and the clouds are, read from `target.yaml`.

Which file: an explicit path (`--target`), else `$OCTANE_TARGET`, else the
embedded lab, started or reused through the `fuellab` command line (never
imported: the runbook reaches the lab only through the files it writes).

Everything is validated before anything else happens, and every problem is a
`ConfigError` naming the key, the file and the fix. Credentials come only from
the environment variable or the file the target names (never inline, never
argv); a password file must be private to its owner, like ssh's keys. Each
loaded secret is registered with `runbook.redact`.

Relative paths resolve against the folder of the target file, so a target
directory can be moved as a whole.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runbook import redact
from runbook.errors import ConfigError

ENV_VAR = "OCTANE_TARGET"
DEFAULT_LAB_DIR = ".lab"
LAB_START_TIMEOUT = 180.0  # seconds: `fuellab up` itself waits for every endpoint

# Allowed keys per section; anything else is most likely a typo worth refusing.
_SECTIONS: dict[str, set[str]] = {
    "fuel": {"address", "port", "username", "tenant", "password_file", "password_env"},
    "ssh": {"user", "port", "key", "known_hosts", "config"},
    "clouds": {"file"},
}
_TOP = {"name", "fuel", "ssh", "clouds", "env", "journal_dir", "vm_probe_port"}


@dataclass(frozen=True)
class FuelSettings:
    address: str
    port: int
    username: str
    tenant: str
    password: str = field(repr=False)  # a secret: kept out of repr, registered with redact

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


@dataclass(frozen=True)
class SSHSettings:
    user: str
    port: int
    key: Path
    known_hosts: Path
    config: Path | None  # ssh_config for hostname -> address (HostName) lookups


@dataclass(frozen=True)
class CloudsSettings:
    file: Path  # clouds.yaml; one cloud per env, named `env-<id>`


@dataclass(frozen=True)
class Target:
    path: Path  # the target file itself
    name: str
    fuel: FuelSettings
    ssh: SSHSettings
    clouds: CloudsSettings
    env: int  # the original env id
    journal_dir: Path
    vm_probe_port: int = 22


# ---------------------------------------------------------------------------- loading


def load_target(
    path: str | os.PathLike[str] | None = None,
    *,
    lab_dir: str | os.PathLike[str] = DEFAULT_LAB_DIR,
    prefix: int | None = None,
    lab_timeout: float = LAB_START_TIMEOUT,
) -> Target:
    """The target from `path`, else `$OCTANE_TARGET`, else the embedded lab in `lab_dir`.

    `prefix` (the lab's address block) applies only when the lab is created.
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        path = start_lab(Path(lab_dir), prefix=prefix, timeout=lab_timeout)
    return parse_target(Path(path))


def fuellab_command() -> list[str]:
    """The `fuellab` command line of this Python environment (the venv's script first)."""
    beside = Path(sys.executable).with_name("fuellab")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("fuellab")
    if found:
        return [found]
    return [sys.executable, "-m", "fuellab.cli"]


def start_lab(lab_dir: Path, *, prefix: int | None = None, timeout: float = LAB_START_TIMEOUT) -> Path:
    """Start the embedded lab in `lab_dir`, or reuse it when it runs; its target file."""
    argv = [*fuellab_command(), "up", "--detach", "--dir", str(lab_dir)]
    if prefix is not None:
        argv += ["--prefix", str(prefix)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"no target given and the embedded lab in {lab_dir} did not start within {timeout:.0f} s",
            f"see {lab_dir / 'lab.log'}, or pass --target / set {ENV_VAR}",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"no target given and the `fuellab` command could not run: {exc}",
            f"install the project (make venv), or pass --target / set {ENV_VAR}",
        ) from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise ConfigError(
            f"no target given and the embedded lab in {lab_dir} failed to start: {redact.redact(detail)}",
            f"see {lab_dir / 'lab.log'}, or pass --target / set {ENV_VAR}",
        )
    target = lab_dir / "target.yaml"
    if not target.is_file():
        raise ConfigError(f"the embedded lab in {lab_dir} wrote no target.yaml",
                          f"reset the lab (fuellab reset --dir {lab_dir})")
    return target


class _Reader:
    """Reads typed keys out of the parsed YAML, failing with the key, the file and the fix."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.path}: `{key}` {problem}", fix)

    def raw(self, key: str, required: bool = True) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or node.get(part) is None:
                if required:
                    raise self.fail(key, "is missing", f"add `{key}` to {self.path}")
                return None
            node = node[part]
        return node

    def text(self, key: str, required: bool = True) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise self.fail(key, f"must be a non-empty string, not {value!r}", f"fix `{key}` in {self.path}")
        return str(value)

    def integer(self, key: str, low: int, high: int, required: bool = True) -> int | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be an integer from {low} to {high}, not {value!r}",
                            f"fix `{key}` in {self.path}")
        return value

    def file(self, key: str, required: bool = True, private: bool = False) -> Path | None:
        value = self.text(key, required)
        if value is None:
            return None
        path = (self.path.parent / Path(value).expanduser()).resolve()
        if not path.is_file():
            raise self.fail(key, f"names {path}, which is not a file", f"create it or fix `{key}` in {self.path}")
        if private:
            _require_private(path, key, self.path)
        return path

    def folder(self, key: str) -> Path:
        value = self.text(key)
        assert value is not None
        path = (self.path.parent / Path(value).expanduser()).resolve()
        if path.exists() and not path.is_dir():
            raise self.fail(key, f"names {path}, which is not a folder", f"fix `{key}` in {self.path}")
        return path


def _require_private(path: Path, key: str, target: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{target}: `{key}` names {path}, which others can access (mode {mode:04o})",
            f"chmod 600 {path}",
        )


def parse_target(path: Path) -> Target:
    """Read and validate one target file; load (and register) its credentials."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"target file {path} does not exist",
                          f"pass an existing target.yaml with --target or {ENV_VAR}")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"target file {path} cannot be read: {exc}", "fix its YAML syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"target file {path} is not a mapping of keys", "see the lab's target.yaml for the schema")
    _refuse_unknown_keys(path, data)
    r = _Reader(path, data)
    fuel = FuelSettings(
        address=r.text("fuel.address") or "",
        port=r.integer("fuel.port", 1, 65535) or 0,
        username=r.text("fuel.username") or "",
        tenant=r.text("fuel.tenant") or "",
        password=_password(r),
    )
    ssh = SSHSettings(
        user=r.text("ssh.user") or "",
        port=r.integer("ssh.port", 1, 65535) or 0,
        key=r.file("ssh.key", private=True),  # type: ignore[arg-type]
        known_hosts=r.file("ssh.known_hosts"),  # type: ignore[arg-type]
        config=r.file("ssh.config", required=False),
    )
    clouds_file = r.file("clouds.file", private=True)
    target = Target(
        path=path,
        name=r.text("name", required=False) or path.parent.name,
        fuel=fuel,
        ssh=ssh,
        clouds=CloudsSettings(file=clouds_file),  # type: ignore[arg-type]
        env=r.integer("env", 1, 2**31) or 0,
        journal_dir=r.folder("journal_dir"),
        vm_probe_port=r.integer("vm_probe_port", 1, 65535, required=False) or 22,
    )
    return target


def _refuse_unknown_keys(path: Path, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key not in _TOP:
            raise ConfigError(f"{path}: unknown key `{key}`",
                              f"remove it or correct its spelling (known: {', '.join(sorted(_TOP))})")
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: `{key}` must be a mapping", f"see the lab's target.yaml for `{key}`")
            for sub in value:
                if sub not in _SECTIONS[key]:
                    raise ConfigError(f"{path}: unknown key `{key}.{sub}`",
                                      f"remove it or correct its spelling (known: {', '.join(sorted(_SECTIONS[key]))})")


def _password(r: _Reader) -> str:
    file_key, env_key = "fuel.password_file", "fuel.password_env"
    has_file, has_env = r.raw(file_key, False) is not None, r.raw(env_key, False) is not None
    if has_file == has_env:
        raise r.fail("fuel.password_file", "and `fuel.password_env`: exactly one must be set",
                     f"name the Fuel password's file or environment variable in {r.path} (never the password itself)")
    if has_env:
        var = r.text(env_key) or ""
        password = os.environ.get(var, "")
        if not password:
            raise r.fail(env_key, f"names ${var}, which is not set", f"export {var} before running")
    else:
        file = r.file(file_key, private=True)
        assert file is not None
        password = file.read_text().strip()
        if not password:
            raise r.fail(file_key, f"names {file}, which is empty", f"write the Fuel password into {file}")
    redact.register(password)
    return password
