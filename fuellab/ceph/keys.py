"""cephx secrets and keyring files, as ceph-authtool writes and reads them.

A cephx key is the base64 of CryptoKey's encoding: u16 type (1 = AES), the
creation time (u32 seconds, u32 nanoseconds), u16 length (16) and the 16-byte
secret, so every key starts with "AQ" and is 40 characters long. A keyring is
an INI-like file of sections named by entity:

    [client.admin]
    \tkey = AQBn0DdWAAAAABAAOQ2G6SyY4/Yn1Ff35sLAGw==
    \tcaps mon = "allow *"
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from dataclasses import dataclass, field

from fuellab.ceph.timefmt import epoch_seconds

KEY_BLOB_LEN = 28


def new_key(lab_now: float = 0.0) -> str:
    blob = struct.pack("<HIIH", 1, int(epoch_seconds(lab_now)), 0, 16) + os.urandom(16)
    return base64.b64encode(blob).decode()


def valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) == KEY_BLOB_LEN
    except (binascii.Error, ValueError):
        return False


@dataclass
class Entity:
    name: str  # client.admin, osd.3, mon.
    key: str = ""
    caps: dict[str, str] = field(default_factory=dict)  # subsystem -> capability string


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_SETTING = re.compile(r"^\s*([A-Za-z_ ]+?)\s*=\s*(.*?)\s*$")


def parse_keyring(text: str) -> dict[str, Entity]:
    """Entities of a keyring file, in file order; unknown settings are ignored."""
    out: dict[str, Entity] = {}
    current: Entity | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if match := _SECTION.match(line):
            current = out.setdefault(match.group(1).strip(), Entity(match.group(1).strip()))
            continue
        match = _SETTING.match(line)
        if current is None or not match:
            continue
        name, value = match.group(1).strip(), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "key":
            current.key = value
        elif name.startswith("caps "):
            current.caps[name[5:].strip()] = value
    return out


def render_entity(entity: Entity) -> str:
    lines = [f"[{entity.name}]", f"\tkey = {entity.key}"]
    lines += [f'\tcaps {svc} = "{cap}"' for svc, cap in sorted(entity.caps.items())]
    return "\n".join(lines) + "\n"


def render_keyring(entities: list[Entity] | dict[str, Entity]) -> str:
    items = entities.values() if isinstance(entities, dict) else entities
    return "".join(render_entity(e) for e in items)


def entity_from_auth(name: str, record: dict) -> Entity:
    """An entity of the MON's auth database ({"key": ..., "caps": {...}})."""
    return Entity(name, record.get("key", ""), dict(record.get("caps", {})))
