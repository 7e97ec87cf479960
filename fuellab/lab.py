"""A lab instance on disk and at run time: settings, secrets, world, keys and client files.

Layout of a lab directory (default `.lab/`):

    lab.yaml            settings: address prefix, ports, time factor, scenario knobs
    world.db            the world (SQLite, 0600: it holds env passwords)
    secrets/            one file per password (0600)
    id_ed25519[.pub]    the master's key pair: what the runbook uses to reach nodes
    known_hosts         every node's host key, pinned
    ssh_config          how to reach every node (user, port, key, known_hosts)
    fuel_client.yaml    python-fuelclient settings (FUELCLIENT_CUSTOM_SETTINGS)
    clouds.yaml         one openstacksdk cloud per env, `env-<id>`
    target.yaml         what the runbook needs to find all of the above
    nodes/<host>/       rootfs/ (OS disk), disks/<dev>/ (data disks), host key
    snapshots/<name>/   saved copies of world.db and nodes/
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fuellab.clock import DEFAULT_FACTOR, Clock
from fuellab.faults import Faults
from fuellab.network import AddressMap
from fuellab.world import Node, World

DEFAULT_DIR = Path(".lab")


def default_ssh_port() -> int:
    """Real port 22 when the lab may bind it, a high port otherwise."""
    return 22 if os.geteuid() == 0 else 2222


@dataclass
class Settings:
    prefix: int = 20  # networks on 127.<prefix>.0.0/16 .. 127.<prefix+4>.0.0/16
    ssh_port: int = field(default_factory=default_ssh_port)
    fuel_port: int = 8000
    time_factor: float = DEFAULT_FACTOR
    scenario: str = "ha-61"
    knobs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, lab_dir: Path) -> Settings:
        path = lab_dir / "lab.yaml"
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})

    def save(self, lab_dir: Path) -> None:
        (lab_dir / "lab.yaml").write_text(yaml.safe_dump(asdict(self), sort_keys=False))


def write_secret_file(path: Path, text: str) -> None:
    """Replace a file readable by its owner only, never briefly world-readable.

    Written aside and renamed over the old one: clients read these files while the lab rewrites them
    (clouds.yaml when a seed env appears), and a reader must see the old file or the new one, never
    a truncated one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(aside, path)
    except BaseException:
        Path(aside).unlink(missing_ok=True)
        raise


class Secrets:
    """Per-lab passwords, one 0600 file each under `secrets/`."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir / "secrets"

    def get(self, name: str) -> str:
        path = self.dir / name
        if not path.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            self.dir.chmod(0o700)
            write_secret_file(path, secrets.token_urlsafe(18))
        return path.read_text().strip()

    def path(self, name: str) -> Path:
        self.get(name)
        return self.dir / name

    def all(self) -> dict[str, str]:
        if not self.dir.exists():
            return {}
        return {p.name: p.read_text().strip() for p in sorted(self.dir.iterdir())}


class Lab:
    """The running lab: one world, its clock, faults and address map, plus background tasks."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = Path(lab_dir).resolve()
        self.settings = Settings.load(self.dir)
        self.secrets = Secrets(self.dir)
        self.clock = Clock(factor=self.settings.time_factor)
        self.world = World(self.dir, self.clock)
        self.faults = Faults(self.world)
        self.addresses = AddressMap(self.world)
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def open(cls, lab_dir: Path) -> Lab:
        lab = cls(lab_dir)
        if not lab.world.db_path.exists():
            raise FileNotFoundError(f"no lab in {lab.dir}: run `fuellab up --dir {lab_dir}` first")
        lab.world.load()
        return lab

    # ------------------------------------------------------------------ background work

    def spawn(self, coro: Any, name: str | None = None) -> asyncio.Task[Any]:
        """Run `coro` in the background; kept referenced so it is not garbage collected."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_background(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ files for clients

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    def host_key_path(self, node: Node) -> Path:
        return self.world.node_dir(node) / "ssh_host_ed25519_key"

    def write_client_files(self) -> None:
        """fuel_client.yaml, ssh_config, known_hosts, clouds.yaml and target.yaml."""
        from fuellab import clientfiles

        clientfiles.write_all(self)
