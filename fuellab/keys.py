"""SSH keys: the master's client key pair and one host key per node.

A node's host key is its identity and is kept outside its rootfs, so a
re-provisioned node keeps it and the pinned `known_hosts` stays valid (the Fuel
master provisioned the node and vouches for its key).
"""

from __future__ import annotations

from pathlib import Path

import asyncssh

from fuellab.lab import write_secret_file


def ensure_key(path: Path, comment: str) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    write_secret_file(path, key.export_private_key().decode())
    path.with_name(path.name + ".pub").write_text(key.export_public_key().decode())
    return key


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key().decode().strip()
