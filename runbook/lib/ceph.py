"""Ceph (firefly) through the `ceph` admin tool on a node: status, health, quorum, OSDs, flags.

JSON output (`-f json`) is parsed; a `ceph` that reaches no monitor quorum
gives up after `--connect-timeout` and raises a RemoteError saying so.

Monitor daemons and stores: a monitor's own view through its admin socket
(`ceph daemon mon.<id> mon_status`, no quorum needed), upstart stop/start,
`ceph-mon --extract-monmap/--inject-monmap`, `monmaptool`, the fsid of
ceph.conf, `ceph auth import/caps`. Keys are secrets: what reads keys from a
node returns sha256 prefixes (`keyring_fingerprints`, `auth_key_fingerprint`);
`keyring_keys` parses a keyring text the caller holds, and registers every key
it finds with the redactor.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import Any

from runbook import redact
from runbook.errors import RemoteError
from runbook.lib.ssh import SSHPool

CONNECT_TIMEOUT = 10  # seconds `ceph` waits for a monitor before giving up
FIX_QUORUM = "check that a majority of ceph-mon daemons run and ceph.conf names them"


def _ceph(pool: SSHPool, node: str, args: str, *, json_out: bool = True) -> Any:
    command = f"ceph --connect-timeout {CONNECT_TIMEOUT} {args}" + (" -f json" if json_out else "")
    result = pool.run(node, command, timeout=CONNECT_TIMEOUT + 60)
    if not result.ok:
        no_quorum = "connection aborted" in result.stderr.lower() or "timed out" in result.stderr.lower()
        raise RemoteError(node, command, result.status,
                          result.stderr + (f"\nno monitor quorum reachable within {CONNECT_TIMEOUT} s"
                                           if no_quorum else ""),
                          FIX_QUORUM if no_quorum else "read ceph's error and correct the command or cluster")
    if not json_out:
        return result.stdout.strip()
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise RemoteError(node, command, 0, f"unparseable JSON: {result.stdout[:200]!r}",
                          "check the ceph version on the node") from None


def status(pool: SSHPool, node: str) -> dict[str, Any]:
    """`ceph -s`: fsid, health, quorum names, osd counts, pg states and pool/object totals."""
    raw = _ceph(pool, node, "status")
    osdmap = raw["osdmap"]["osdmap"]
    pgmap = raw["pgmap"]
    return {
        "fsid": raw["fsid"],
        "health": raw["health"]["overall_status"],
        "quorum": list(raw["quorum_names"]),
        "osds": {"total": osdmap["num_osds"], "up": osdmap["num_up_osds"], "in": osdmap["num_in_osds"]},
        "pgs": {s["state_name"]: s["count"] for s in pgmap["pgs_by_state"]},
        "num_pgs": pgmap["num_pgs"],
    }


def health(pool: SSHPool, node: str) -> tuple[str, list[str]]:
    """(HEALTH_OK|HEALTH_WARN|HEALTH_ERR, summary lines)."""
    raw = _ceph(pool, node, "health")
    return raw["overall_status"], [s["summary"] for s in raw.get("summary", [])]


def quorum(pool: SSHPool, node: str) -> dict[str, Any]:
    """The quorum the node's ceph.conf reaches: fsid, members ("names"), leader, monmap {name: ip:port}."""
    return _quorum_of(_ceph(pool, node, "quorum_status"))


def _quorum_of(raw: dict[str, Any]) -> dict[str, Any]:
    return {"names": list(raw["quorum_names"]), "leader": raw.get("quorum_leader_name"),
            "fsid": raw["monmap"]["fsid"],
            "mons": {m["name"]: m["addr"].split("/")[0] for m in raw["monmap"]["mons"]}}


def osd_tree(pool: SSHPool, node: str) -> list[dict[str, Any]]:
    """Every OSD: id, host, up, in, reweight (1.0 fully in: what CRUSH places data by)."""
    raw = _ceph(pool, node, "osd tree")
    host_of = {child: n["name"] for n in raw["nodes"] if n["type"] == "host" for child in n.get("children", [])}
    return [{"id": n["id"], "host": host_of.get(n["id"]), "up": n.get("status") == "up",
             "in": float(n.get("reweight", 0)) > 0, "reweight": float(n.get("reweight", 0))}
            for n in sorted(raw["nodes"], key=lambda n: n["id"]) if n["type"] == "osd"]


def flags(pool: SSHPool, node: str) -> list[str]:
    raw = _ceph(pool, node, "osd dump")
    return [f for f in str(raw.get("flags", "")).split(",") if f]


def set_flag(pool: SSHPool, node: str, flag: str) -> None:
    _ceph(pool, node, f"osd set {flag}", json_out=False)


def unset_flag(pool: SSHPool, node: str, flag: str) -> None:
    _ceph(pool, node, f"osd unset {flag}", json_out=False)


def pg_stat(pool: SSHPool, node: str) -> dict[str, Any]:
    """PG count and counts by state (`active+clean`: n)."""
    raw = _ceph(pool, node, "pg stat")
    return {"num_pgs": raw["num_pgs"], "by_state": {s["name"]: s["num"] for s in raw["num_pg_by_state"]}}


def fsid(pool: SSHPool, node: str) -> str:
    return str(_ceph(pool, node, "fsid", json_out=False))


def pool_objects(pool: SSHPool, node: str) -> dict[str, int]:
    """Objects per pool, from `ceph df`."""
    raw = _ceph(pool, node, "df")
    return {p["name"]: int(p["stats"]["objects"]) for p in raw.get("pools", [])}


CLUSTER_LOG = "/var/log/ceph/ceph.log"  # mon_cluster_log_file: each monitor keeps the cluster log there


def marked_out(pool: SSHPool, node: str, path: str = CLUSTER_LOG) -> list[str]:
    """The cluster log entries of OSDs the monitors marked out (`osd.3 out (down for 300.1)`) kept on a
    monitor node: each one started backfill. [] when there are none (or no cluster log yet)."""
    command = f"grep -F -e ' out (down for ' {shlex.quote(path)}"
    result = pool.run(node, command, timeout=CONNECT_TIMEOUT + 60)
    if result.status == 1 or (result.status == 2 and "No such file" in result.stderr):
        return []
    if not result.ok:
        raise RemoteError(node, command, result.status, result.stderr, f"check {path} on {node}")
    return [line for line in result.stdout.splitlines() if line.strip()]


def mon_quorum(pool: SSHPool, node: str, mon_addr: str) -> dict[str, Any]:
    """`quorum()` asked of the one monitor at `mon_addr` (`ceph -m`): it answers only while it
    runs, and then names the quorum it belongs to (its fsid, members and monmap)."""
    return _quorum_of(_ceph(pool, node, f"-m {shlex.quote(mon_addr)} quorum_status"))


def addr_ip(addr: str) -> str:
    """The IP of a monitor address (`10.0.0.1:6789/0` or `10.0.0.1:6789` -> `10.0.0.1`)."""
    return addr.split("/")[0].rsplit(":", 1)[0] if ":" in addr else addr


# --------------------------------------------------------------------------- monitor daemons and stores

MON_DATA = "/var/lib/ceph/mon"
CONF = "/etc/ceph/ceph.conf"
TOOL_TIMEOUT = 120.0  # seconds for ceph-mon/monmaptool store and map operations
FIX_MON = "check the monitor's log (/var/log/ceph/ceph-mon.<id>.log) and its data directory"
_FSID_LINE = re.compile(r"^(\s*fsid\s*=\s*)(\S+)\s*$", re.MULTILINE)


def mon_dir(mon_id: str) -> str:
    """The data directory of monitor `mon_id` (its store and its `mon.` keyring)."""
    return f"{MON_DATA}/ceph-{mon_id}"


def mon_running(pool: SSHPool, node: str, mon_id: str) -> bool:
    """The upstart instance `ceph-mon id=<mon_id>` is start/running."""
    result = pool.run(node, f"status ceph-mon id={shlex.quote(mon_id)}", timeout=TOOL_TIMEOUT)
    return result.ok and "start/running" in result.stdout


def mon_status(pool: SSHPool, node: str, mon_id: str) -> dict[str, Any] | None:
    """What the monitor daemon on `node` says of itself through its admin socket (no quorum needed):
    {"state": leader|peon|probing|..., "rank" (-1: its monmap lacks it), "quorum",
    "monmap": {"fsid", "epoch", "mons": {name: ip:port}}}; None when it does not run (no socket)."""
    command = f"ceph daemon mon.{shlex.quote(mon_id)} mon_status"
    result = pool.run(node, command, timeout=TOOL_TIMEOUT)
    if not result.ok:
        if "admin_socket" in result.stderr:
            return None
        raise RemoteError(node, command, result.status, result.stderr, FIX_MON)
    try:
        raw = json.loads(result.stdout)
    except ValueError:
        raise RemoteError(node, command, 0, f"unparseable JSON: {result.stdout[:200]!r}",
                          "check the ceph version on the node") from None
    monmap = raw["monmap"]
    return {"name": raw["name"], "state": raw["state"], "rank": raw["rank"], "quorum": raw.get("quorum", []),
            "monmap": {"fsid": monmap["fsid"], "epoch": monmap["epoch"],
                       "mons": {m["name"]: m["addr"].split("/")[0] for m in monmap["mons"]}}}


def stop_mon(pool: SSHPool, node: str, mon_id: str) -> None:
    """Stop a monitor; one already stopped is fine (its store must be unlocked for ceph-mon's tools)."""
    result = pool.run(node, f"stop ceph-mon id={shlex.quote(mon_id)}", timeout=TOOL_TIMEOUT)
    if not result.ok and "Unknown instance" not in result.stderr:
        raise RemoteError(node, f"stop ceph-mon id={mon_id}", result.status, result.stderr, FIX_MON)


def start_mon(pool: SSHPool, node: str, mon_id: str) -> None:
    """Start a monitor; one already running is fine. Upstart says started even when the daemon
    dies at once (a store it refuses): callers check the quorum afterwards."""
    result = pool.run(node, f"start ceph-mon id={shlex.quote(mon_id)}", timeout=TOOL_TIMEOUT)
    if not result.ok and "already running" not in result.stderr:
        raise RemoteError(node, f"start ceph-mon id={mon_id}", result.status, result.stderr, FIX_MON)


def extract_monmap(pool: SSHPool, node: str, mon_id: str, path: str) -> None:
    """`ceph-mon --extract-monmap`: the store's monmap to a file (the monitor must be stopped)."""
    pool.check(node, f"ceph-mon -i {shlex.quote(mon_id)} --extract-monmap {shlex.quote(path)}",
               timeout=TOOL_TIMEOUT, fix=f"stop ceph-mon id={mon_id} first; {FIX_MON}")


def inject_monmap(pool: SSHPool, node: str, mon_id: str, path: str) -> None:
    """`ceph-mon --inject-monmap`: a monmap file into the store (the monitor must be stopped)."""
    pool.check(node, f"ceph-mon -i {shlex.quote(mon_id)} --inject-monmap {shlex.quote(path)}",
               timeout=TOOL_TIMEOUT, fix=f"stop ceph-mon id={mon_id} first; {FIX_MON}")


def monmap_set_fsid(pool: SSHPool, node: str, path: str, fsid: str) -> None:
    """`monmaptool --fsid F --clobber`: the map file's fsid replaced, its monitors kept."""
    pool.check(node, f"monmaptool --fsid {shlex.quote(fsid)} --clobber {shlex.quote(path)}",
               timeout=TOOL_TIMEOUT, fix="check that the file is a monmap (monmaptool --print)")


def print_monmap(pool: SSHPool, node: str, path: str) -> dict[str, Any]:
    """A monmap file as `monmaptool --print` shows it: {"epoch", "fsid", "mons": {name: ip:port}}."""
    out = pool.check(node, f"monmaptool --print {shlex.quote(path)}", timeout=TOOL_TIMEOUT,
                     fix="check that the file is a monmap").stdout
    found: dict[str, Any] = {"epoch": None, "fsid": None, "mons": {}}
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("epoch", "fsid"):
            found[words[0]] = int(words[1]) if words[0] == "epoch" else words[1]
        elif len(words) == 3 and words[0].rstrip(":").isdigit() and words[2].startswith("mon."):
            found["mons"][words[2][4:]] = words[1].split("/")[0]
    if found["fsid"] is None:
        raise RemoteError(node, f"monmaptool --print {path}", 0, f"no fsid in {out[:200]!r}",
                          "check that the file is a monmap")
    return found


def conf_fsid(pool: SSHPool, node: str, path: str = CONF) -> str | None:
    """The fsid ceph.conf names (None when it names none)."""
    found = _FSID_LINE.search(pool.read_text(node, path))
    return found.group(2) if found else None


def set_conf_fsid(pool: SSHPool, node: str, fsid: str, path: str = CONF) -> bool:
    """Make ceph.conf name `fsid` (written atomically, mode kept); False when it already did."""

    def edit(text: str) -> str:
        if _FSID_LINE.search(text):
            return _FSID_LINE.sub(lambda m: m.group(1) + fsid, text, count=1)
        raise RemoteError(node, f"edit {path}", 0, "no fsid line in ceph.conf",
                          f"add `fsid = {fsid}` to the [global] section of {path}")

    return pool.edit(node, path, edit)


def auth_import(pool: SSHPool, node: str, keyring: str) -> None:
    """`ceph auth import -i KEYRING`: the keyring's entities (keys and caps) into the monitors' database."""
    _ceph(pool, node, f"auth import -i {shlex.quote(keyring)}", json_out=False)


def auth_caps(pool: SSHPool, node: str, entity: str, caps: dict[str, str]) -> None:
    """`ceph auth caps`: an entity's capabilities, set as given."""
    words = " ".join(f"{shlex.quote(svc)} {shlex.quote(cap)}" for svc, cap in sorted(caps.items()))
    _ceph(pool, node, f"auth caps {shlex.quote(entity)} {words}", json_out=False)


def auth_key_fingerprint(pool: SSHPool, node: str, entity: str) -> str:
    """The sha256 prefix of the key the monitors hold for `entity` (the key itself never leaves here)."""
    raw = _ceph(pool, node, f"auth get {shlex.quote(entity)}", json_out=False)
    found = keyring_keys(raw).get(entity)
    if found is None:
        raise RemoteError(node, f"ceph auth get {entity}", 0, "no key in the answer",
                          "check the entity's name with `ceph auth list`")
    return fingerprint(found)


# --------------------------------------------------------------------------- keyrings, by fingerprint

FINGERPRINT_LENGTH = 16  # hex digits of sha256 shown for a key: enough to compare, useless to attack
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*key\s*=\s*(\S+)\s*$")


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def keyring_keys(text: str) -> dict[str, str]:
    """{entity: key} of a keyring's text. Keys are secrets: registered with the redactor at once."""
    found: dict[str, str] = {}
    entity = None
    for line in text.splitlines():
        if section := _SECTION.match(line):
            entity = section.group(1).strip()
        elif (key := _KEY.match(line)) and entity is not None:
            found[entity] = key.group(1)
    redact.register(*found.values())
    return found


def keyring_fingerprints(pool: SSHPool, node: str, path: str) -> dict[str, str]:
    """{entity: sha256 prefix of its key} of a keyring file on a node."""
    return {entity: fingerprint(key) for entity, key in keyring_keys(pool.read_text(node, path)).items()}
