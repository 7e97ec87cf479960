"""Stage 4, upgrade-ceph (`octane upgrade-ceph SEED`): the seed's monitors become the original cluster's.

The seed's first deployment made a Ceph cluster of its own (its own fsid and
keys, no OSD). OSDs only talk to monitors of their cluster (fsid) that know
their keys, at the addresses their ceph.conf names. So each seed controller's
monitor takes over the store and keys of the original monitor whose management
address it will hold after the switch-over (stage 5), keeps its own name, and
is told the original fsid. MON addresses never change: the seed controllers
hold the original controllers' management addresses (cluster_upgrade keeps
them), isolated until upgrade-control plugs them in.

Steps, each journaled (a re-run continues from the first step not done, and a
done step is never repeated: after the store is replaced, extracting the
monmap again would read the original's map, not the seed's):

1. `plan`: the original cluster (a quorum on the fsid the baseline recorded),
   the seed's monitors (a quorum listing every seed controller at its
   management address), and which original monitor each seed controller
   replaces (the one at the same address; it takes that monitor's store, or the
   quorum's first member's if that one is out of quorum: its store is stale).
   Refused here, before any change.
2. `archive <orig>`: on each of those original controllers, /etc/ceph, the
   monitor's store and the bootstrap keyrings in a tar (0600), fetched into the
   master's private workspace (0600: it holds every key of the cluster),
   checked by sha256, removed from the node.
3. Per seed controller, in order: `copy archive` (sha256 checked), `stop mon`,
   `extract monmap` (the seed's own map: its names at the original addresses),
   `replace store and keyrings` (the original's store under the seed's name,
   and the original's keyrings), `fsid in ceph.conf`, `monmap fsid`
   (`monmaptool --fsid --clobber`), `inject monmap`, `start mon`.
4. `seed quorum`: the seed's monitors form their quorum with the original
   fsid (on the seed's own overlay: they reach no OSD until stage 5).
5. `import bootstrap-osd key`: the bootstrap-osd key with its caps in the
   monitors' database, so OSD nodes deployed into the seed later can join.
6. `verify`, then `clean up` (the archive copies on the seed controllers).

Facts for later stages: `ceph_fsid`, `ceph_mons` ({seed controller: address}).
"""

from __future__ import annotations

import logging
import os
import posixpath
import shlex
from pathlib import Path
from typing import Any

from tenacity import retry_if_exception_type, stop_after_delay, wait_fixed

from runbook.errors import JournalError, OctaneError, RemoteError
from runbook.journal import Stage
from runbook.lib import ceph, waits
from runbook.lib.ssh import local_sha256
from runbook.procedure import preflight, prepare
from runbook.procedure.context import Context, Hook, run_step

log = logging.getLogger(__name__)

STAGE = "stage4_upgrade_ceph"
ISOLATION_FLAGS_FACT = "seed_ceph_flags"  # OSD flags set for the seed's isolation; upgrade-control unsets them
PREVIOUS = "stage3_upgrade_db"
SEED_FACT = "seed_env_id"
CONTROLLERS_FACT = "seed_controllers"
FSID_FACT = "ceph_fsid"
MONS_FACT = "ceph_mons"
REMOTE_DIR = "/root/octane/ceph"  # on the nodes: root's, 0700
MONMAP = f"{REMOTE_DIR}/monmap"
ARCHIVE_PREFIX = "ceph-"  # workspace/ceph-<original controller>.tgz
# Where Fuel keeps the keys a controller needs besides /etc/ceph (those that exist are archived).
KEYRINGS = ("/root/ceph.client.admin.keyring", "/root/ceph.bootstrap-osd.keyring",
            "/root/ceph.bootstrap-mds.keyring", "/var/lib/ceph/bootstrap-osd/ceph.keyring")
BOOTSTRAP_OSD = "client.bootstrap-osd"
BOOTSTRAP_OSD_KEYRING = "/root/ceph.bootstrap-osd.keyring"
BOOTSTRAP_OSD_CAPS = {"mon": "allow profile bootstrap-osd"}
# The keys that make a monitor, an admin and a new OSD members of the cluster: path -> entity.
IDENTITY_KEYRINGS = {"/etc/ceph/ceph.client.admin.keyring": "client.admin",
                     BOOTSTRAP_OSD_KEYRING: BOOTSTRAP_OSD,
                     "/var/lib/ceph/bootstrap-osd/ceph.keyring": BOOTSTRAP_OSD}
FILE_TIMEOUT = 120.0  # seconds for tar, sha256sum, cp on a node
QUORUM_TIMEOUT = 300.0  # seconds for the seed's monitors to form their quorum once started
QUORUM_POLL = 2.0


class UpgradeCephError(OctaneError):
    """upgrade-ceph cannot go on: what is wrong, and what to do."""


# --------------------------------------------------------------------------- reads


def _sorted_hosts(names: list[str]) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def seed_controllers(ctx: Context) -> list[str]:
    """The seed controllers stage 2 recorded."""
    return _sorted_hosts(list(ctx.journal.fact(CONTROLLERS_FACT)))


def original_controllers(ctx: Context) -> list[str]:
    """The original env's controllers (each runs one of the original monitors, named by its host)."""
    return ctx.facts.controllers()


def management_ip(node: dict[str, Any]) -> str | None:
    """A node's management address, from Fuel's network_data."""
    for entry in node.get("network_data") or []:
        if entry.get("name") == "management" and entry.get("ip"):
            return str(entry["ip"]).split("/")[0]
    return None


def seed_addresses(ctx: Context, seeds: list[str]) -> dict[str, str]:
    """{seed controller: its management address} as Fuel assigned them; refused when one has none."""
    by_name = {n["hostname"]: n for n in ctx.fuel.nodes()}
    found = {}
    for seed in seeds:
        node = by_name.get(seed)
        address = management_ip(node) if node else None
        if address is None:
            raise UpgradeCephError(f"seed controller {seed} has no management address in Fuel",
                                   "check the seed env's nodes (fuel2 node list) and stage 2's result")
        found[seed] = address
    return found


def baseline_fsid(ctx: Context) -> str:
    """The fsid stage 0 saw: the cluster the seed must join is the one the baseline describes."""
    return str(preflight.recorded_baseline(ctx)["ceph"]["fsid"])


def original_quorum(ctx: Context) -> dict[str, Any]:
    """The original cluster's quorum as its first controller sees it."""
    return ceph.quorum(ctx.pool, original_controllers(ctx)[0])


def seed_quorum(ctx: Context, seeds: list[str] | None = None) -> dict[str, Any]:
    """The seed monitors' quorum as the first seed controller sees it (through its own ceph.conf)."""
    return ceph.quorum(ctx.pool, (seeds or seed_controllers(ctx))[0])


# --------------------------------------------------------------------------- 1. plan


def replacements(ctx: Context, seeds: list[str], original: dict[str, Any]
                 ) -> tuple[dict[str, dict[str, str]], list[str]]:
    """({seed: {"replaces": the original monitor at its management address, "address", "source": whose
    store it takes}}, problems). The source is the monitor it replaces, unless that one is out of the
    original's quorum (its store is stale): then the quorum's first member."""
    mons, members = original["mons"], original["names"]
    by_ip = {ceph.addr_ip(addr): name for name, addr in mons.items()}
    moves: dict[str, dict[str, str]] = {}
    problems = []
    for seed, ip in seed_addresses(ctx, seeds).items():
        replaced = by_ip.get(ip)
        if replaced is None:
            problems.append(f"seed controller {seed} holds {ip}, where no original monitor listens "
                            f"(original monitors: {mons})")
            continue
        moves[seed] = {"replaces": replaced, "address": mons[replaced],
                       "source": replaced if replaced in members else members[0]}
    return moves, problems


def current_moves(ctx: Context) -> dict[str, dict[str, str]]:
    """Which original monitor each seed controller replaces, read from Fuel and the original's quorum."""
    moves, problems = replacements(ctx, seed_controllers(ctx), original_quorum(ctx))
    if problems:
        raise UpgradeCephError("; ".join(problems), "check the seed controllers' management addresses in Fuel")
    return moves


def recorded_moves(ctx: Context) -> dict[str, dict[str, str]]:
    """The moves the stage planned and acted on (journal), else as they read now."""
    planned = ctx.journal.stage_record(STAGE).get("steps", {}).get("plan", {})
    if planned.get("status") == "done":
        return planned["result"]["moves"]
    return current_moves(ctx)


def plan(ctx: Context) -> dict[str, Any]:
    """Which original monitor each seed controller replaces, after checking both clusters; no change."""
    seeds = seed_controllers(ctx)
    seed_env = int(ctx.journal.fact(SEED_FACT))
    fsid = baseline_fsid(ctx)
    orig = original_quorum(ctx)
    problems = []
    if orig["fsid"] != fsid:
        problems.append(f"the original cluster's fsid is {orig['fsid']}, the baseline recorded {fsid}")
    stale = sorted(set(orig["mons"]) - set(orig["names"]))
    if stale:
        log.warning("original monitors out of quorum: %s; their successors take the store of %s",
                    ", ".join(stale), orig["names"][0])
    moves, unmatched = replacements(ctx, seeds, orig)
    problems += unmatched
    own = seed_quorum(ctx, seeds)
    wanted = {seed: move["address"] for seed, move in moves.items()}
    if own["mons"] != wanted or sorted(own["names"]) != sorted(seeds):
        problems.append(f"the seed's monitors are not one per seed controller at its address: monmap "
                        f"{own['mons']}, quorum {own['names']}; expected {wanted}")
    if problems:
        raise UpgradeCephError("upgrade-ceph cannot start: " + "; ".join(problems),
                               "repair the named cluster (every monitor running and in quorum, the seed as "
                               "stage 2 deployed it), then run upgrade-ceph again; nothing was changed")
    return {"fsid": fsid, "seed_env_id": seed_env, "original_mons": orig["mons"], "stale": stale,
            "seed_fsid_before": own["fsid"], "moves": moves}


# --------------------------------------------------------------------------- 2. archives


def hold_osds_in(ctx: Context, node: str) -> list[str]:
    """`noout` on the original before its store is copied, so the flag travels with the store.

    The seed's monitors form their quorum while isolated and hear from no OSD: without the
    flag they would mark every OSD out after the down-out interval, and at the switch-over
    every PG would re-peer and backfill. Recorded for upgrade-control, which unsets it once
    the OSDs are back with the seed's monitors; a flag the operator had set stays theirs."""
    if "noout" in ceph.flags(ctx.pool, node):
        ctx.journal.fact(ISOLATION_FLAGS_FACT, [])
        return []
    ceph.set_flag(ctx.pool, node, "noout")
    ctx.journal.fact(ISOLATION_FLAGS_FACT, ["noout"])
    return ["noout"]


def archive_path(ctx: Context, source: str) -> Path:
    """Where the master keeps `source`'s archive: the private workspace stage 1 made."""
    return prepare.workspace(ctx) / f"{ARCHIVE_PREFIX}{source}.tgz"


def remote_archive(source: str) -> str:
    """The archive's path on a node (the original it is made on, the seed controllers it goes to)."""
    return f"{REMOTE_DIR}/{source}.tgz"


def _private_dir(ctx: Context, node: str) -> None:
    parent = posixpath.dirname(REMOTE_DIR)
    ctx.pool.check(node, f"mkdir -p -m 0700 {REMOTE_DIR} && chmod 0700 {parent} {REMOTE_DIR}",
                   timeout=FILE_TIMEOUT, fix=f"check {REMOTE_DIR} and the root filesystem on {node}")


def existing(ctx: Context, node: str, paths: tuple[str, ...]) -> list[str]:
    """Those of `paths` that exist on the node."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    out = ctx.pool.run(node, f"ls -d {quoted}", timeout=FILE_TIMEOUT).stdout
    return [p for p in paths if p in out.split()]


def make_archive(ctx: Context, source: str) -> dict[str, Any]:
    """tar /etc/ceph, the monitor's store and the keyrings on `source`, 0600; {remote, paths, members}."""
    _private_dir(ctx, source)
    remote = remote_archive(source)
    paths = ["/etc/ceph", ceph.mon_dir(source), *existing(ctx, source, KEYRINGS)]
    quoted = shlex.quote(remote)
    # The file is private before a byte of a key is written into it: `>` keeps its mode.
    ctx.pool.check(source, f"rm -f {quoted} && touch {quoted} && chmod 600 {quoted} && "
                           f"tar czf - {' '.join(shlex.quote(p) for p in paths)} > {quoted}",
                   timeout=FILE_TIMEOUT, fix=f"check /etc/ceph and {ceph.mon_dir(source)} on {source}")
    members = ctx.pool.check(source, f"tar tzf {quoted}", timeout=FILE_TIMEOUT).stdout.split()
    return {"remote": remote, "paths": paths, "members": members}


def fetch_private(ctx: Context, node: str, remote: str, local: Path) -> None:
    """SFTP `remote` to `local` through a temporary file that is 0600 before a byte arrives."""
    tmp = local.with_name(f".{local.name}.{os.getpid()}.part")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        ctx.pool.get(node, remote, str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, local)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def archive(ctx: Context, source: str) -> dict[str, Any]:
    """The original controller's Ceph identity in the master's workspace; what the journal keeps of it."""
    made = make_archive(ctx, source)
    local = archive_path(ctx, source)
    fetch_private(ctx, source, made["remote"], local)
    digest = local_sha256(local)
    if ctx.pool.sha256(source, made["remote"], timeout=FILE_TIMEOUT) != digest:
        local.unlink(missing_ok=True)
        raise UpgradeCephError(f"the archive fetched from {source} differs from the node's copy",
                               "check the master's disk and the network, then run upgrade-ceph again")
    ctx.pool.check(source, f"rm -f {shlex.quote(made['remote'])}", timeout=FILE_TIMEOUT)
    store = ceph.mon_dir(source).lstrip("/")
    if not any(m.rstrip("/").startswith(f"{store}/") and m.endswith("keyring") for m in made["members"]):
        raise UpgradeCephError(f"the archive of {source} holds no monitor keyring under /{store}",
                               f"check the monitor's data directory on {source}")
    return {"file": str(local), "sha256": digest, "bytes": local.stat().st_size, "members": made["members"]}


def check_archive(record: dict[str, Any]) -> Path:
    """The workspace copy still the one archived (a changed file is never used)."""
    path = Path(record["file"])
    if not path.is_file() or local_sha256(path) != record["sha256"]:
        raise UpgradeCephError(f"the archive {path} is missing or changed since it was taken",
                               "reset stage4 in the journal once its done steps are undone, or restore the file")
    return path


# --------------------------------------------------------------------------- 3. per seed controller


def copy_archive(ctx: Context, seed: str, source: str, record: dict[str, Any]) -> dict[str, Any]:
    """The master's archive of `source` onto the seed controller, 0600 in a 0700 folder, sha256 checked."""
    local = check_archive(record)
    _private_dir(ctx, seed)
    remote = remote_archive(source)
    ctx.pool.put(seed, str(local), remote, mode=0o600)
    if ctx.pool.sha256(seed, remote, timeout=FILE_TIMEOUT) != record["sha256"]:
        raise UpgradeCephError(f"the archive copied to {seed} differs from the master's",
                               "check the node's disk, then run upgrade-ceph again")
    return {"remote": remote, "sha256": record["sha256"][:16]}


def stop_mon(ctx: Context, seed: str) -> dict[str, Any]:
    """The seed's monitor stopped: its store is locked while it runs, and is about to be replaced."""
    ceph.stop_mon(ctx.pool, seed, seed)
    if ceph.mon_running(ctx.pool, seed, seed):
        raise UpgradeCephError(f"ceph-mon id={seed} still runs after `stop`",
                               f"stop it by hand on {seed}, then run upgrade-ceph again")
    return {"stopped": seed}


def extract_monmap(ctx: Context, seed: str, expected: dict[str, str]) -> dict[str, Any]:
    """The seed monitor's own monmap to a file; it must list the seed controllers at their addresses."""
    ceph.extract_monmap(ctx.pool, seed, seed, MONMAP)
    found = ceph.print_monmap(ctx.pool, seed, MONMAP)
    if found["mons"] != expected:
        raise UpgradeCephError(f"{seed}: the extracted monmap lists {found['mons']}, not {expected}",
                               "the seed's monitors changed since the plan: check `ceph mon dump` on the seed")
    return found


def keyring_members(members: list[str], source: str) -> list[str]:
    """The archive's keyrings outside the monitor's store, as absolute paths."""
    store = ceph.mon_dir(source).lstrip("/") + "/"
    return ["/" + m for m in members if m.endswith(".keyring") and not m.startswith(store)]


def replace_store(ctx: Context, seed: str, source: str, members: list[str]) -> dict[str, Any]:
    """The original's monitor store under the seed's monitor name, and the original's keyrings."""
    staging = f"{REMOTE_DIR}/staging-{source}"
    target = ceph.mon_dir(seed)
    # cp -p: the original's owner and mode (a service's keyring may be readable by its group).
    copies = [f"mkdir -p {shlex.quote(posixpath.dirname(p))} && cp -p {shlex.quote(staging + p)} {shlex.quote(p)}"
              for p in keyring_members(members, source)]
    steps = [f"rm -rf {staging}", f"mkdir -m 0700 {staging}",
             f"tar xzf {shlex.quote(remote_archive(source))} -C {staging}",
             f"test -f {staging}{ceph.mon_dir(source)}/keyring",
             f"rm -rf {target}", f"mv {staging}{ceph.mon_dir(source)} {target}",
             f"rm -f {target}/sysvinit", f"touch {target}/upstart {target}/done",
             *copies, f"rm -rf {staging}"]
    ctx.pool.check(seed, " && ".join(steps), timeout=FILE_TIMEOUT,
                   fix=f"check {REMOTE_DIR} and {target} on {seed}, then run upgrade-ceph again")
    return {"store": f"{target} (from {ceph.mon_dir(source)})", "keyrings": keyring_members(members, source)}


def set_conf_fsid(ctx: Context, seed: str, fsid: str) -> dict[str, Any]:
    """The seed's ceph.conf names the original fsid: clients and daemons there refuse a quorum of another."""
    before = ceph.conf_fsid(ctx.pool, seed)
    ceph.set_conf_fsid(ctx.pool, seed, fsid)
    after = ceph.conf_fsid(ctx.pool, seed)
    if after != fsid:
        raise UpgradeCephError(f"{seed}: ceph.conf names fsid {after} after setting {fsid}",
                               f"set `fsid = {fsid}` in [global] of {ceph.CONF} on {seed}")
    return {"before": before, "after": after}


def monmap_fsid(ctx: Context, seed: str, fsid: str, expected: dict[str, str]) -> dict[str, Any]:
    """The extracted map given the original fsid (its monitors kept): a monitor refuses a store whose
    cluster differs from its monmap's fsid."""
    ceph.monmap_set_fsid(ctx.pool, seed, MONMAP, fsid)
    found = ceph.print_monmap(ctx.pool, seed, MONMAP)
    if found["fsid"] != fsid or found["mons"] != expected:
        raise UpgradeCephError(f"{seed}: {MONMAP} is {found} after monmaptool, not fsid {fsid} with {expected}",
                               "check the file with monmaptool --print")
    return found


def inject_monmap(ctx: Context, seed: str) -> dict[str, Any]:
    """The seed's map, now with the original fsid, into the original's store (its next monmap epoch)."""
    ceph.inject_monmap(ctx.pool, seed, seed, MONMAP)
    return {"injected": MONMAP}


def start_mon(ctx: Context, seed: str) -> dict[str, Any]:
    """The monitor started on its new store; whether it stays up is `seed quorum`'s to see."""
    ceph.start_mon(ctx.pool, seed, seed)
    return {"started": seed}


# --------------------------------------------------------------------------- 4-6. quorum, key, verify


class _NotYet(Exception):
    """The seed's monitors have not formed the expected quorum yet (retried until the deadline)."""


class _Fatal(Exception):
    """The seed's monitors cannot form the expected quorum: waiting longer will not help."""


def quorum_problems(found: dict[str, Any], fsid: str, wanted: dict[str, str]) -> list[str]:
    """How a quorum differs from the seed's monitors, with fsid `fsid`, each at its address."""
    problems = []
    if found["fsid"] != fsid:
        problems.append(f"fsid {found['fsid']}, not {fsid}")
    if found["mons"] != wanted:
        problems.append(f"monmap {found['mons']}, not {wanted}")
    if sorted(found["names"]) != sorted(wanted):
        problems.append(f"quorum {found['names']}, not {sorted(wanted)}")
    return problems


def mon_log_tail(ctx: Context, node: str, mon_id: str) -> str:
    log_file = f"/var/log/ceph/ceph-mon.{mon_id}.log"
    return ctx.pool.run(node, f"tail -n 1 {shlex.quote(log_file)}", timeout=FILE_TIMEOUT).stdout.strip() or "no log"


def own_map_problems(status: dict[str, Any], fsid: str, wanted: dict[str, str]) -> list[str]:
    """How a monitor's own monmap (its admin socket's mon_status) differs from the one injected."""
    problems = []
    if status["monmap"]["fsid"] != fsid:
        problems.append(f"its monmap names fsid {status['monmap']['fsid']}, not {fsid}")
    if status["monmap"]["mons"] != wanted:
        problems.append(f"its monmap lists {status['monmap']['mons']}, not {wanted}")
    if status["rank"] < 0:
        problems.append("its monmap lacks it: it can never join a quorum")
    return problems


def seed_mon_problems(ctx: Context, seeds: list[str], fsid: str, wanted: dict[str, str]) -> dict[str, Any]:
    """{"fatal": [...], "waiting": [...], "dead": {seed: log line}} of the seed's monitors now."""
    fatal: list[str] = []
    waiting: list[str] = []
    dead: dict[str, str] = {}
    for seed in seeds:
        status = ceph.mon_status(ctx.pool, seed, seed)
        if status is None:
            dead[seed] = mon_log_tail(ctx, seed, seed)
            continue
        fatal += [f"{seed}: {p}" for p in own_map_problems(status, fsid, wanted)]
        if status["state"] not in ("leader", "peon"):
            waiting.append(f"{seed}: {status['state']}")
    if not fatal and not dead and not waiting:
        try:
            waiting += [f"seed quorum: {p}" for p in quorum_problems(seed_quorum(ctx, seeds), fsid, wanted)]
        except RemoteError as exc:
            # No quorum reachable yet is worth waiting for; a refusal (keys, fsid) is not.
            (waiting if exc.fix == ceph.FIX_QUORUM else fatal).append(exc.message)
    return {"fatal": fatal, "waiting": waiting, "dead": dead}


def wait_seed_quorum(ctx: Context, seeds: list[str], fsid: str, wanted: dict[str, str]) -> dict[str, Any]:
    """The seed's monitors in one quorum with the original fsid and the injected map: polled until
    QUORUM_TIMEOUT; a monitor whose own map is wrong, one found dead twice in a row (it refused its
    store) or a client refused ends the wait at once."""
    last: dict[str, Any] = {"dead": {}}

    def attempt() -> dict[str, Any]:
        found = seed_mon_problems(ctx, seeds, fsid, wanted)
        still_dead = {seed: line for seed, line in found["dead"].items() if seed in last["dead"]}
        last.update(found)
        fatal = found["fatal"] + [f"{seed}: its daemon died: {line}" for seed, line in still_dead.items()]
        if fatal:
            raise _Fatal("; ".join(fatal))
        if found["waiting"] or found["dead"]:
            raise _NotYet("; ".join(found["waiting"] + [f"{seed}: not running" for seed in found["dead"]]))
        return {"quorum": seed_quorum(ctx, seeds)["names"], "fsid": fsid, "mons": wanted}

    fix = ("read /var/log/ceph/ceph-mon.<host>.log and `ceph daemon mon.<host> mon_status` on the seed "
           "controllers (a store refused for its fsid, a wrong monmap or keyring), fix it, then run "
           "upgrade-ceph again")
    try:
        return waits.retrying(f"a quorum of {', '.join(seeds)} with fsid {fsid}",
                              stop=stop_after_delay(QUORUM_TIMEOUT), wait=wait_fixed(QUORUM_POLL),
                              retry=retry_if_exception_type(_NotYet), reraise=True)(attempt)
    except _Fatal as exc:
        raise UpgradeCephError(f"the seed's monitors cannot form a quorum of the original cluster: {exc}",
                               fix) from None
    except _NotYet as exc:
        raise UpgradeCephError(f"the seed's monitors did not form a quorum with fsid {fsid} within "
                               f"{QUORUM_TIMEOUT:g} s: {exc}", fix) from None


def import_bootstrap_osd(ctx: Context, seed: str) -> dict[str, Any]:
    """The bootstrap-osd key and its caps in the monitors' database; its fingerprint."""
    ceph.auth_import(ctx.pool, seed, BOOTSTRAP_OSD_KEYRING)
    ceph.auth_caps(ctx.pool, seed, BOOTSTRAP_OSD, BOOTSTRAP_OSD_CAPS)
    return {BOOTSTRAP_OSD: ceph.auth_key_fingerprint(ctx.pool, seed, BOOTSTRAP_OSD)}


def identity_fingerprints(ctx: Context, node: str, mon_id: str) -> dict[str, str]:
    """{what: sha256 prefix of the key} of one controller: its monitor's `mon.` key and the
    admin and bootstrap-osd keyrings ("missing" where the file or the entity is absent)."""
    paths = {"mon.": (f"{ceph.mon_dir(mon_id)}/keyring", "mon.")}
    paths.update({path: (path, entity) for path, entity in IDENTITY_KEYRINGS.items()})
    found = {}
    for label, (path, entity) in paths.items():
        try:
            found[label] = ceph.keyring_fingerprints(ctx.pool, node, path).get(entity, "missing")
        except OctaneError:
            found[label] = "missing"
    return found


def key_differences(ctx: Context, moves: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Per seed controller: its key fingerprints, and those that differ from the original
    controller's it replaced."""
    out: dict[str, Any] = {}
    for seed, move in moves.items():
        mine = identity_fingerprints(ctx, seed, seed)
        theirs = identity_fingerprints(ctx, move["source"], move["source"])
        differ = {label: f"{mine[label]} != {move['source']}'s {theirs[label]}" for label in mine
                  if mine[label] != theirs[label] or mine[label] == "missing"}
        out[seed] = {"fingerprints": mine, "original": theirs, "differ": differ}
    return out


def verify(ctx: Context, planned: dict[str, Any]) -> dict[str, Any]:
    """Every seed controller names the original fsid and holds its keys; the seed's quorum and the
    original's both hold."""
    fsid, moves = planned["fsid"], planned["moves"]
    seeds = _sorted_hosts(list(moves))
    problems = []
    confs = {seed: ceph.conf_fsid(ctx.pool, seed) for seed in seeds}
    problems += [f"{seed}: ceph.conf names fsid {got}" for seed, got in confs.items() if got != fsid]
    keys = key_differences(ctx, moves)
    problems += [f"{seed} {label}: {what}" for seed in seeds for label, what in keys[seed]["differ"].items()]
    wanted = {seed: moves[seed]["address"] for seed in seeds}
    problems += [f"seed quorum: {p}" for p in quorum_problems(seed_quorum(ctx, seeds), fsid, wanted)]
    orig = original_quorum(ctx)
    if orig["fsid"] != fsid:
        problems.append(f"the original's quorum has fsid {orig['fsid']}")
    if problems:
        raise UpgradeCephError("the seed's monitors are not the original cluster's: " + "; ".join(problems),
                               "fix what is named, then run upgrade-ceph again (done steps are not repeated)")
    return {"conf_fsid": confs, "keys": {seed: keys[seed]["fingerprints"] for seed in seeds},
            "original_quorum": orig["names"]}


def clean_up(ctx: Context, seeds: list[str]) -> list[str]:
    """The archive copies on the seed controllers removed (the master keeps its copy)."""
    for seed in seeds:
        ctx.pool.check(seed, f"rm -rf {REMOTE_DIR}/*.tgz {REMOTE_DIR}/staging-*", timeout=FILE_TIMEOUT)
    return seeds


# --------------------------------------------------------------------------- the stage


def _recorded_seed(ctx: Context) -> int | None:
    try:
        return int(ctx.journal.fact(SEED_FACT))
    except JournalError:
        return None


def move_mon(stage: Stage, hook: Hook, ctx: Context, seed: str, planned: dict[str, Any],
             archives: dict[str, dict[str, Any]]) -> None:
    """One seed controller's monitor made the original's, step by step."""
    fsid, move = planned["fsid"], planned["moves"][seed]
    expected = {name: m["address"] for name, m in planned["moves"].items()}
    record = archives[move["source"]]
    run_step(stage, hook, f"{seed}: copy archive", copy_archive, ctx, seed, move["source"], record)
    run_step(stage, hook, f"{seed}: stop mon", stop_mon, ctx, seed)
    run_step(stage, hook, f"{seed}: extract monmap", extract_monmap, ctx, seed, expected)
    run_step(stage, hook, f"{seed}: replace store and keyrings", replace_store, ctx, seed, move["source"],
          record["members"])
    run_step(stage, hook, f"{seed}: fsid in ceph.conf", set_conf_fsid, ctx, seed, fsid)
    run_step(stage, hook, f"{seed}: monmap fsid", monmap_fsid, ctx, seed, fsid, expected)
    run_step(stage, hook, f"{seed}: inject monmap", inject_monmap, ctx, seed)
    run_step(stage, hook, f"{seed}: start mon", start_mon, ctx, seed)


def run(ctx: Context, step_hook: Hook | None = None) -> dict[str, Any]:
    """upgrade-ceph: the seed's monitors carry the original fsid, store and keys. A re-run continues."""
    env_id = ctx.facts.env()["id"]
    hook = step_hook or (lambda name, result: None)
    inputs = {"env_id": env_id, "seed_env_id": _recorded_seed(ctx)}
    with ctx.journal.stage(STAGE, inputs=inputs, requires=[PREVIOUS]) as stage:
        planned = run_step(stage, hook, "plan", plan, ctx)
        sources = sorted({m["source"] for m in planned["moves"].values()}, key=lambda h: (len(h), h))
        run_step(stage, hook, "noout for the isolation", hold_osds_in, ctx, sources[0])
        archives = {source: run_step(stage, hook, f"archive {source}", archive, ctx, source) for source in sources}
        seeds = _sorted_hosts(list(planned["moves"]))
        for seed in seeds:
            move_mon(stage, hook, ctx, seed, planned, archives)
        wanted = {seed: planned["moves"][seed]["address"] for seed in seeds}
        run_step(stage, hook, "seed quorum", wait_seed_quorum, ctx, seeds, planned["fsid"], wanted)
        run_step(stage, hook, "import bootstrap-osd key", import_bootstrap_osd, ctx, seeds[0])
        run_step(stage, hook, "verify", verify, ctx, planned)
        run_step(stage, hook, "clean up", clean_up, ctx, seeds)
        ctx.journal.fact(FSID_FACT, planned["fsid"])
        ctx.journal.fact(MONS_FACT, wanted)
        return {"fsid": planned["fsid"], "mons": wanted}
