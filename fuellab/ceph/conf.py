"""ceph.conf as Ceph reads it: INI sections, option names with spaces or underscores,
and the monitor addresses a client or daemon dials (`mon_host`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MON_PORT = 6789
DEFAULT_KEYRINGS = ("/etc/ceph/$cluster.$name.keyring", "/etc/ceph/$cluster.keyring",
                    "/etc/ceph/keyring", "/etc/ceph/keyring.bin")


def norm(name: str) -> str:
    """Ceph treats `mon host`, `mon_host` and `mon-host` as one option."""
    return re.sub(r"[\s_-]+", "_", name.strip().lower())


@dataclass
class CephConf:
    sections: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, option: str, entity: str = "client.admin", default: str | None = None) -> str | None:
        """An option as `entity` sees it: [client.admin], then [client], then [global]."""
        kind = entity.split(".", 1)[0]
        for section in (entity, kind, "global"):
            value = self.sections.get(section, {}).get(norm(option))
            if value is not None:
                return value
        return default

    @property
    def fsid(self) -> str | None:
        return self.get("fsid", "global")

    def mon_addrs(self, entity: str = "client.admin") -> list[tuple[str, int]]:
        return parse_addrs(self.get("mon_host", entity) or "")


def parse(text: str) -> CephConf:
    conf = CephConf()
    section = "global"
    for raw in text.splitlines():
        line = raw.split(";", 1)[0] if not raw.lstrip().startswith("#") else ""
        line = line.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            conf.sections.setdefault(section, {})
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            value = value.split("#", 1)[0].strip()
            conf.sections.setdefault(section, {})[norm(name)] = value
    return conf


def parse_addrs(value: str) -> list[tuple[str, int]]:
    """`127.21.0.10 127.21.0.11:6789,[::1]:6789` -> [(ip, port), ...]."""
    out = []
    for item in re.split(r"[,\s]+", value.strip()):
        if not item:
            continue
        item = item.split("/", 1)[0]
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        else:
            host, port = item, ""
        out.append((host, int(port) if port.isdigit() else MON_PORT))
    return out


def keyring_paths(conf: CephConf | None, entity: str, cluster: str = "ceph") -> list[str]:
    """Where librados looks for `entity`'s key: the `keyring` option or the default list."""
    value = conf.get("keyring", entity) if conf else None
    paths = re.split(r"[,\s]+", value.strip()) if value else list(DEFAULT_KEYRINGS)
    return [p.replace("$cluster", cluster).replace("$name", entity) for p in paths if p]


def set_option(text: str, section: str, option: str, value: str) -> str:
    """Replace (or add) one option in a conf text, keeping everything else as written."""
    lines = text.splitlines()
    current = "global"
    insert_at = None
    for i, raw in enumerate(lines):
        stripped = raw.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if current == section and insert_at is None:
                insert_at = i
            current = stripped[1:-1].strip()
            continue
        if current == section and "=" in stripped and norm(stripped.split("=", 1)[0]) == norm(option):
            lines[i] = f"{option} = {value}"
            return "\n".join(lines) + "\n"
    if current == section and insert_at is None:
        insert_at = len(lines)
    if insert_at is None:
        lines += [f"[{section}]", f"{option} = {value}"]
    else:
        lines.insert(insert_at, f"{option} = {value}")
    return "\n".join(lines) + "\n"
