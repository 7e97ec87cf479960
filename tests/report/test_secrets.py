"""No lab secret in any report: every file under the reports folder of a real run, searched for
every password and key the lab holds, also inside what the single-file HTML embeds as base64.

Where the lab's secrets are (a test may read the lab's own files): the target's password file
(Fuel admin), clouds.yaml (keystone admin), the envs' generated secrets in world.db (keystone,
DB, rabbit, service users, metadata secret, the tenant's password, cephx keys), the nodes'
keyrings, and the SSH key the runbook logs in with.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.labkit import LabHandle
from tests.report.conftest import Built

pytestmark = pytest.mark.xdist_group("reports")
SECRET_WORDS = ("password", "secret", "token", "keys")
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")
MIN_SECRET = 8  # a shorter value would match ordinary text


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}/{key}")
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value, path)
    elif isinstance(node, str):
        yield path, node


def lab_secrets(lab: LabHandle) -> dict[str, str]:
    """{where: secret} for every secret the lab holds."""
    found: dict[str, str] = {}
    for path in (lab.dir / "secrets").iterdir():
        found[f"secrets/{path.name}"] = path.read_text().strip()
    for where, value in _leaves(yaml.safe_load((lab.dir / "clouds.yaml").read_text())):
        if "password" in where:
            found[f"clouds.yaml{where}"] = value
    db = sqlite3.connect(f"file:{lab.dir / 'world.db'}?mode=ro", uri=True)
    try:
        for cluster, data in db.execute("SELECT id, data FROM entities WHERE kind = 'cluster'"):
            for where, value in _leaves(json.loads(data).get("generated") or {}):
                if any(word in where for word in SECRET_WORDS):
                    found[f"env {cluster} generated{where}"] = value
    finally:
        db.close()
    for keyring in sorted(lab.dir.glob("nodes/*/rootfs/**/*keyring*")):
        for key in re.findall(r"^\s*key\s*=\s*(\S+)", keyring.read_text(errors="replace"), re.MULTILINE):
            found[f"{keyring.relative_to(lab.dir)}"] = key
    for line in (lab.dir / "id_ed25519").read_text().splitlines():
        if not line.startswith("-----") and len(line) >= 20:
            found[f"id_ed25519 line {line[:4]}…"] = line
    return {where: value for where, value in found.items() if len(value) >= MIN_SECRET}


def readable_texts(data: bytes, depth: int = 2) -> Iterator[bytes]:
    """The bytes of a file, and what every base64 run in it decodes to (single-file HTML embeds
    its data and scripts that way), nested `depth` deep."""
    yield data
    if depth == 0:
        return
    for run in BASE64_RUN.findall(data):
        try:
            decoded = base64.b64decode(run + b"=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            continue
        yield from readable_texts(decoded, depth - 1)


def test_the_lab_secrets_are_found(built_reports: Built) -> None:
    """The search below is only worth something if it knows the secrets: each kind is there."""
    where = " ".join(lab_secrets(built_reports.lab))
    for kind in ("fuel_admin_password", "clouds.yaml", "access/password", "mysql/root_password", "rabbit/password",
                 "nova/db_password", "ceph/keys", "keyring", "id_ed25519"):
        assert kind in where, f"no {kind} secret found in the lab"


def test_no_lab_secret_in_any_report(built_reports: Built) -> None:
    secrets = {where: value.encode() for where, value in lab_secrets(built_reports.lab).items()}
    files = sorted(p for p in built_reports.reports.rglob("*") if p.is_file())
    assert any(p.name == "index.html" for p in files) and len(files) > 10, files
    leaks = []
    for path in files:
        for text in readable_texts(path.read_bytes()):
            leaks += [f"{path.relative_to(built_reports.reports)}: {where}" for where, value in secrets.items()
                      if value in text]
    assert not leaks, f"secrets in the reports: {sorted(set(leaks))}"
