"""Rollback (`octane rollback SEED`): the original env back in service, the seed isolated again.

The disaster-recovery path of the spec, for an upgrade given up after
upgrade-db (stage 3), upgrade-ceph (4) or upgrade-control (5), finished or
stopped half-way. What is undone follows from how far the upgrade got: the
journal says which stages acted (and keeps what they recorded: the dump, the
patch ports unplugged, the GRE overlay, the Juno package versions, the Ceph
flags octane set); the world says what is still to undo (who is on the
wires, which computes run Kilo or carry the pin), so every step is safe to
run again.

Refused before any change (`RollbackRefused`, exit 2 in `octane`):

- nothing to roll back: no step of upgrade-db acted yet, or a rollback already
  put the env back and the upgrade was not started again;
- upgrade-node (stage 6) acted on a node (disabled it, moved its VMs,
  reassigned or reinstalled it) or Fuel lists a compute or OSD node in the
  seed env: a node reinstalled with 7.0 cannot go back under the Juno control
  plane, and the VMs' placement now lives in the seed's database only;
- the seed accepted writes after upgrade-control left maintenance (the seed's
  databases compared with the stage-3 dump restored into scratch databases on
  a seed controller: rows created, removed or soft-deleted per table, the
  tables the services and the upgrade write by themselves excepted,
  `SELF_WRITTEN`): they are listed, and the rollback refuses unless
  `discard_seed_writes` (`--discard-seed-writes`) says to lose them. Updates
  of existing rows are not detected.

Steps, each journaled (a re-run continues where a failure stopped it; a done
step is not repeated), those that do not apply skipped:

1. `plan`: the above, and what to undo (no change).
2. While the seed serves: `seed read-only` (its HAProxy refuses writes, so the
   list of discarded writes is final), `seed writes` (the final list, kept in
   the journal); `<compute>: juno packages` (the 7.0 repository removed,
   nova-compute and the OVS agent downgraded to the versions stage 5 recorded:
   a Juno nova-compute under the pinned Kilo control plane is a supported
   mix, so this costs the VMs nothing).
3. Control back, as the spec's "Rollback of control" and upgrade-control's own
   failure path do it: `stop seed cluster`, `isolate seed` (br-mgmt/br-ex
   patch ports deleted, the GRE overlay of stage 2 back), `plug original`
   (the patch ports stage 5 removed), `start original cluster` (formed, Galera
   synced), `original mysql read-only` (mysqld restarted without it: the
   original stays frozen until its data is proved), then per compute
   `<compute>: original rabbit, no pin` and `<compute>: restart services`.
4. `original database`: the original's databases against the stage-3 dump,
   restored into scratch databases on an original controller: row counts and
   a checksum of each database's content (mysqldump, AUTO_INCREMENT counters
   aside). Equal: kept as they are; different: the dump (sha256-checked) is
   restored over them.
5. `original addresses` (every VIP and original controller address answered
   by original controllers only, seen from them and the computes),
   `leave maintenance` (upgrade-db's: HAProxy normal, MySQL writable, the
   writers it stopped started), `ceph` (the OSDs back with the original's
   monitors, the flags upgrade-ceph set unset, HEALTH_OK), `computes in the
   original control plane`, `routers` (each on a live L3 agent of the
   original), `volumes` (`cinder-manage volume update_host` for volumes on a
   backend no live cinder-volume of the original serves),
   `seed cluster on its overlay` (the seed's own cluster running again,
   isolated, as upgrade-env left it), `verify` (what the tests check).
6. `reset upgrade stages`: the records of stages 3-6 are removed from the
   journal, so upgrade-db can run again; the fact `rollbacks` keeps the
   history (when, from which stage, the writes discarded).

Restarting the upgrade afterwards: `octane upgrade-db SEED`, then
upgrade-ceph and upgrade-control. upgrade-env is not repeated (the seed env
and its isolated controllers stay as it left them). upgrade-db must run again
because the original takes writes again (a new dump); upgrade-ceph must run
again because the original's monitors go on from their own store (the copy
the seed's monitors hold is stale).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import time
from collections.abc import Callable, Iterator
from typing import Any

from runbook import redact
from runbook.errors import JournalError, OctaneError
from runbook.journal import DONE, FAILED, PENDING, RUNNING, Stage
from runbook.lib import apt, ceph, cloud, db, haproxy, ini, network, pacemaker, upstart
from runbook.procedure import (
    dbcopy,
    preflight,
    upgrade_ceph,
    upgrade_control,
    upgrade_db,
    upgrade_env,
    upgrade_node,
)
from runbook.procedure.context import Context, Hook, raise_fan_out, run_step

log = logging.getLogger(__name__)

STAGE = "rollback"
HISTORY_FACT = "rollbacks"
STAGES = (upgrade_db.STAGE, upgrade_ceph.STAGE, upgrade_control.STAGE, upgrade_node.STAGE)
# Steps of each stage that change nothing (a stage that ran only those did not act).
READ_ONLY_STEPS = {upgrade_db.STAGE: ("preconditions",), upgrade_ceph.STAGE: ("plan",),
                   upgrade_control.STAGE: ("preconditions", "seed monitors"), upgrade_node.STAGE: ("plan", "moves")}
# Tables the services write by themselves (registrations, heartbeats, schema versions) or the upgrade
# rewrites (routers moved to the seed's L3 agents): not tenant data, not compared.
SELF_WRITTEN = {
    "nova": ("services", "compute_nodes", "migrate_version"),
    "neutron": ("agents", "routerl3agentbindings", "alembic_version"),
    "cinder": ("services", "migrate_version"),
    "heat": ("service", "migrate_version"),
    "glance": ("migrate_version",),
    "keystone": ("migrate_version", "token", "revocation_event"),
}
COMPUTE_PACKAGES = upgrade_control.COMPUTE_PACKAGES
COMPUTE_JOBS = upgrade_control.COMPUTE_JOBS
KILO = upgrade_control.KILO
BRIDGES = upgrade_control.BRIDGES
RABBIT_KEYS = upgrade_control.RABBIT_KEYS
PIN_KEYS = {section: list(values) for section, values in upgrade_control.PIN.items()}
LIST_LIMIT = 1000  # rows per table and kind kept in the journal when listing the seed's writes
SHOWN = 5  # rows per table named in a message

CLUSTER_TIMEOUT = upgrade_control.CLUSTER_TIMEOUT
ADDRESS_TIMEOUT = upgrade_control.ADDRESS_TIMEOUT
CEPH_TIMEOUT = upgrade_control.CEPH_TIMEOUT
COMPUTE_TIMEOUT = upgrade_control.COMPUTE_TIMEOUT
VERIFY_TIMEOUT = 300.0  # seconds for the original to serve as it should (agents report, VMs answer)

wait_until = upgrade_control.wait_until
Fatal = upgrade_control.Fatal


class RollbackError(OctaneError):
    """The rollback cannot go on: what is wrong, and what to do."""


class RollbackRefused(RollbackError):
    """The rollback is refused before any change (bad input or an unmet precondition)."""


def _optional_fact(ctx: Context, key: str, default: Any) -> Any:
    return ctx.journal.fact_or(key, default)


def _raise_fan_out(errors: dict[str, BaseException], what: str) -> None:
    raise_fan_out(errors, what, RollbackError, "fix the nodes named, then run rollback again: done steps are not repeated")


# --------------------------------------------------------------------------- what the journal says


def acted(record: dict[str, Any], stage: str) -> list[str]:
    """The steps of a stage's record that may have changed something (started, whatever their status)."""
    harmless = READ_ONLY_STEPS.get(stage, ())
    return [name for name in record.get("steps", {})
            if name.split(" #")[0] not in harmless and name.rsplit(": ", 1)[-1] not in harmless]


def progress(records: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """{stage: the steps that acted} for stages 3-6, from their journal records."""
    return {stage: acted(records.get(stage, {}), stage) for stage in STAGES}


def moved_nodes(steps: list[str], nodes: list[dict[str, Any]], seed: int, seed_controllers: list[str]) -> list[str]:
    """Why upgrade-node makes a rollback impossible: its steps that acted, and the nodes Fuel lists in the
    seed env besides its controllers (reassigned, whatever the journal says)."""
    found = [f"upgrade-node step {name!r}" for name in steps]
    found += [f"{n['hostname']} is in the seed env ({', '.join(n.get('roles') or n.get('pending_roles') or [])})"
              for n in nodes if n.get("cluster") == seed and n.get("hostname") not in seed_controllers]
    return found


def juno_versions(record: dict[str, Any], hosts: list[str]) -> dict[str, dict[str, str]]:
    """{compute: {package: version}}: what stage 5 found installed before it upgraded each compute
    (a compute whose record is missing takes another's: they ran one release)."""
    found = {}
    for name, step in record.get("steps", {}).items():
        node, _, what = name.partition(": ")
        if what == "kilo packages" and step.get("status") == DONE and (step.get("result") or {}).get("before"):
            found[node] = dict(step["result"]["before"])
    common: dict[str, str] = {}
    for versions in found.values():
        for package, version in versions.items():
            common.setdefault(package, version)
    return {host: {**common, **found.get(host, {})} for host in hosts}


# --------------------------------------------------------------------------- comparing databases


def _ident(name: str) -> str:
    return f"`{name}`"


def diff_sql(name: str, scratch: str, tables: dict[str, set[str]]) -> str:
    """One query: per table of database `name`, rows created (live or deleted again), removed, and soft-
    deleted (or undeleted) since the copy in `scratch`; tables without an `id` column: the row count's
    difference. `tables`: table -> the columns both copies have."""
    parts = []
    for table, columns in sorted(tables.items()):
        now, then = f"{_ident(name)}.{_ident(table)}", f"{_ident(scratch)}.{_ident(table)}"
        if "id" not in columns:
            parts.append(f"SELECT '{table}', 'rows', (SELECT COUNT(*) FROM {now}) - (SELECT COUNT(*) FROM {then})")
            continue
        new = f"FROM {now} WHERE id NOT IN (SELECT id FROM {then})"
        if "deleted" in columns:
            parts.append(f"SELECT '{table}', 'created', COUNT(*) {new} AND COALESCE(deleted, 0) = 0")
            parts.append(f"SELECT '{table}', 'churn', COUNT(*) {new} AND COALESCE(deleted, 0) <> 0")
            parts.append(f"SELECT '{table}', 'deleted', COUNT(*) FROM {now} s JOIN {then} c ON c.id = s.id "
                         "WHERE COALESCE(s.deleted, 0) <> COALESCE(c.deleted, 0)")
        else:
            parts.append(f"SELECT '{table}', 'created', COUNT(*) {new}")
        parts.append(f"SELECT '{table}', 'removed', COUNT(*) FROM {then} WHERE id NOT IN (SELECT id FROM {now})")
    return " UNION ALL ".join(parts)


def detail_sql(name: str, scratch: str, table: str, kind: str, columns: set[str]) -> str:
    """The rows of one kind of change (see `diff_sql`), by id, with their name where the table has one."""
    now, then = f"{_ident(name)}.{_ident(table)}", f"{_ident(scratch)}.{_ident(table)}"
    shown = "s.id, s.name" if "name" in columns else "s.id, ''"
    where = {
        "created": f"FROM {now} s WHERE s.id NOT IN (SELECT id FROM {then})"
                   + (" AND COALESCE(s.deleted, 0) = 0" if "deleted" in columns else ""),
        "churn": f"FROM {now} s WHERE s.id NOT IN (SELECT id FROM {then}) AND COALESCE(s.deleted, 0) <> 0",
        "deleted": f"FROM {now} s JOIN {then} c ON c.id = s.id WHERE COALESCE(s.deleted, 0) <> COALESCE(c.deleted, 0)",
        "removed": f"FROM {then} s WHERE s.id NOT IN (SELECT id FROM {now})",
    }[kind]
    return f"SELECT {shown} {where} ORDER BY s.id LIMIT {LIST_LIMIT}"


def _columns(ctx: Context, node: str, schema: str) -> dict[str, set[str]]:
    """{table: {id, deleted, name} ∩ its columns} for every table of `schema`."""
    rows = db.query(ctx.pool, node, "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
                                    f"WHERE TABLE_SCHEMA = '{schema}' AND COLUMN_NAME IN ('id', 'deleted', 'name')")
    found: dict[str, set[str]] = {t[0]: set() for t in db.query(ctx.pool, node, f"SHOW TABLES FROM {_ident(schema)}")}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def compared_tables(ctx: Context, node: str, name: str) -> dict[str, set[str]]:
    """The tables of `name` its scratch copy also has, but those in SELF_WRITTEN; their common columns."""
    now, then = _columns(ctx, node, name), _columns(ctx, node, dbcopy.SCRATCH + name)
    return {t: now[t] & then[t] for t in sorted(set(now) & set(then)) if t not in SELF_WRITTEN.get(name, ())}


def differences(ctx: Context, node: str, dbs: list[str]) -> dict[str, dict[str, Any]]:
    """{db: {table: {kind: count, "listed": {kind: ["id name", ...]}}}} of every table that differs from its
    scratch copy (restored from the dump on the same node)."""
    out: dict[str, dict[str, Any]] = {}
    for name in dbs:
        tables = compared_tables(ctx, node, name)
        if not tables:
            continue
        for table, kind, count in db.query(ctx.pool, node, diff_sql(name, dbcopy.SCRATCH + name, tables)):
            if int(count) == 0:
                continue
            entry = out.setdefault(name, {}).setdefault(table, {"listed": {}})
            entry[kind] = int(count)
            if kind != "rows":
                rows = db.query(ctx.pool, node, detail_sql(name, dbcopy.SCRATCH + name, table, kind, tables[table]))
                entry["listed"][kind] = [" ".join(r).strip() for r in rows]
    return out


def describe(found: dict[str, dict[str, Any]]) -> str:
    """The differences as a line an operator reads: `nova.key_pairs: 3 created (id name, ...)`."""
    words = {"created": "created", "churn": "created and deleted again", "deleted": "deleted or undeleted",
             "removed": "removed", "rows": "rows more (or fewer)"}
    parts = []
    for name, tables in sorted(found.items()):
        for table, entry in sorted(tables.items()):
            kinds = []
            for kind, word in words.items():
                if entry.get(kind):
                    rows = entry["listed"].get(kind, [])
                    more = f", +{entry[kind] - SHOWN} more" if entry[kind] > SHOWN else ""
                    shown = f" ({', '.join(rows[:SHOWN])}{more})" if rows else ""
                    kinds.append(f"{entry[kind]} {word}{shown}")
            parts.append(f"{name}.{table}: {'; '.join(kinds)}")
    return "; ".join(parts)


@contextlib.contextmanager
def scratch_copy(ctx: Context, node: str, record: dict[str, Any]) -> Iterator[None]:
    """The stage-3 dump (sha256-checked) restored into `octane_check_<db>` databases on `node` for the
    duration of the block, then dropped with the node's copy of the dump."""
    remote = dbcopy.upload(ctx.pool, node, record)
    try:
        dbcopy.drop_scratch(ctx.pool, node, record["dbs"])  # left by an interrupted earlier attempt
        db.restore_renamed(ctx.pool, node, remote, dbcopy.SCRATCH)
        yield
    finally:
        dbcopy.drop_scratch(ctx.pool, node, record["dbs"])
        dbcopy.discard(ctx.pool, node, record)


def content_digest(ctx: Context, node: str, name: str, tables: list[str]) -> str:
    """sha256 of a dump of `tables` of `name` without comments and AUTO_INCREMENT counters (InnoDB
    forgets those on restart): equal content gives equal digests, whichever database holds it."""
    listed = " ".join(shlex.quote(t) for t in tables)
    command = (f"set -o pipefail; mysqldump --skip-comments {shlex.quote(name)} {listed} | "
               "sed -e 's/ AUTO_INCREMENT=[0-9]*//' | sha256sum")
    out = ctx.pool.check(node, command, timeout=db.DUMP_TIMEOUT,
                         fix=f"check MySQL on {node} (mysqldump), then run rollback again").stdout
    return out.split()[0]


# --------------------------------------------------------------------------- reads of the world


def _sorted(names: list[str]) -> list[str]:
    return sorted(names, key=lambda h: (len(h), h))


def wiring(ctx: Context, seeds: list[str], originals: list[str]) -> dict[str, Any]:
    """Who is on the wires: seed controllers patched to the physical network, original controllers not
    (fully) patched or with their cluster stack stopped. Any of them: control is not the original's."""
    def read(node: str) -> dict[str, Any]:
        ports = network.ovs_ports(ctx.pool, node)
        wired = [b for b in BRIDGES if any(p["peer_bridge"] not in BRIDGES for p in network.patches(ports, b))]
        jobs = upstart.jobs(ctx.pool, node)
        return {"wired": wired, "cluster": all(jobs.get(j) for j in upgrade_control.CLUSTER_JOBS)}

    seen = ctx.pool.fan_out([*seeds, *originals], read)
    if seen.errors:
        raise RollbackRefused("the controllers' wiring cannot be read: "
                              + "; ".join(f"{n}: {e}" for n, e in sorted(seen.errors.items())),
                              "check SSH to the seed and original controllers, then run rollback again")
    state = seen.results
    found = {"seed on the wires": [n for n in seeds if state[n]["wired"]],
             "original off the wires": [n for n in originals if set(state[n]["wired"]) != set(BRIDGES)],
             "original cluster stopped": [n for n in originals if not state[n]["cluster"]]}
    return {**found, "control on the seed": any(found.values())}


def rabbit_of(ctx: Context, node: str, path: str) -> dict[str, str]:
    """The RabbitMQ settings of a controller's config file (the password registered with the redactor)."""
    found = ini.options(ctx.pool.read_text(node, path)).get("DEFAULT", {})
    if found.get("rabbit_password"):
        redact.register(found["rabbit_password"])
    return {k: found[k] for k in RABBIT_KEYS if found.get(k)}


def original_rabbit(ctx: Context, original: str) -> dict[str, dict[str, str]]:
    """{file on a compute: the original's RabbitMQ settings for it}: nova.conf's from an original
    controller's nova.conf, neutron.conf's from its neutron.conf (nova.conf's where it names none)."""
    nova = rabbit_of(ctx, original, upgrade_control.NOVA_CONF)
    if set(nova) != set(RABBIT_KEYS):
        raise RollbackRefused(f"{original}:{upgrade_control.NOVA_CONF} names no complete RabbitMQ settings",
                              "check the original controller's nova.conf (written by Fuel)")
    neutron = rabbit_of(ctx, original, upgrade_control.NEUTRON_CONF)
    return {upgrade_control.NOVA_CONF: nova,
            upgrade_control.NEUTRON_CONF: neutron if set(neutron) == set(RABBIT_KEYS) else nova}


def compute_revert(ctx: Context, node: str, juno: dict[str, str], rabbit: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What stage 5 left on a compute that the original's control plane does not take: packages of 7.0
    (-> the Juno versions to install), the 7.0 repository, the pin, the seed's RabbitMQ settings."""
    installed = apt.versions(ctx.pool, node, COMPUTE_PACKAGES)
    kilo = sorted(name for name, version in installed.items() if version.startswith(KILO))
    unknown = [name for name in kilo if not juno.get(name)]
    if unknown:
        raise RollbackRefused(f"{node} runs Kilo's {', '.join(unknown)} and the journal holds no Juno version "
                              "of it (stage 5 recorded none)",
                              f"install the 6.1 version on {node} by hand (apt-get install --force-yes "
                              "PACKAGE=VERSION), then run rollback again")
    repo = ctx.pool.run(node, f"test -f {apt.SOURCES_D}/{upgrade_control.SOURCE_NAME}.list", timeout=apt.TIMEOUT).ok
    configs = {path: ini.options(ctx.pool.read_text(node, path)) for path in rabbit}
    pinned = bool(configs[upgrade_control.NOVA_CONF].get("upgrade_levels", {}).get("compute"))
    foreign = sorted(path for path, values in rabbit.items()
                     if any(configs[path].get("DEFAULT", {}).get(k) != v for k, v in values.items()))
    return {"downgrade": {name: juno[name] for name in kilo}, "repository": repo, "pinned": pinned,
            "rabbit": foreign}


def seed_served(records: dict[str, dict[str, Any]]) -> bool:
    """upgrade-control got as far as leaving the seed's maintenance (tenants could write through it)."""
    steps = records.get(upgrade_control.STAGE, {}).get("steps", {})
    return steps.get("leave maintenance", {}).get("status", PENDING) != PENDING


def seed_writes(ctx: Context, node: str, record: dict[str, Any]) -> dict[str, Any]:
    """What the seed's databases hold that the stage-3 dump does not (see `differences`)."""
    with scratch_copy(ctx, node, record):
        found = differences(ctx, node, list(record["dbs"]))
    return {"node": node, "found": found, "summary": describe(found)}


# --------------------------------------------------------------------------- 1. plan


def _seed(ctx: Context) -> tuple[int, list[str]]:
    try:
        return int(ctx.journal.fact(upgrade_env.SEED_FACT)), _sorted(list(ctx.journal.fact(upgrade_env.CONTROLLERS_FACT)))
    except JournalError:
        raise RollbackRefused(f"env {ctx.env_id} has no seed env in its journal: there is nothing to roll back",
                              "nothing to do: the upgrade never went past upgrade-env") from None


def _refuse_nothing(ctx: Context, records: dict[str, dict[str, Any]]) -> None:
    done = ctx.journal.stage_record(STAGE)
    if done.get("status") == DONE:
        raise RollbackRefused(f"env {ctx.env_id} was rolled back at {done.get('ended')} and the upgrade has not "
                              "been started again: there is nothing to roll back",
                              "nothing to do; `octane status` shows the journal")
    raise RollbackRefused(f"upgrade-db has not acted on env {ctx.env_id} (stage 3: "
                          f"{records.get(upgrade_db.STAGE, {}).get('status', PENDING)}): the original was never "
                          "frozen, there is nothing to roll back",
                          "nothing to do: the original serves as it did; the seed env stays isolated")


def plan(ctx: Context, discard_seed_writes: bool) -> dict[str, Any]:
    """What the rollback will undo, after every refusal; changes nothing (the seed-writes check restores the
    dump into scratch databases on a seed controller and drops them)."""
    seed, seeds = _seed(ctx)
    records = {stage: ctx.journal.stage_record(stage) for stage in STAGES}
    acted_steps = progress(records)
    if not acted_steps[upgrade_db.STAGE] and not upgrade_db_frozen(ctx):
        _refuse_nothing(ctx, records)
    moved = moved_nodes(acted_steps[upgrade_node.STAGE], ctx.fuel.nodes(), seed, seeds)
    if moved:
        raise RollbackRefused(
            f"upgrade-node has acted on env {ctx.env_id}: {'; '.join(moved)} — a node reinstalled with 7.0 (or "
            "whose VMs moved under the seed's control) cannot go back to the Juno control plane",
            f"finish the upgrade instead (octane upgrade-node {seed}) and fix the seed forward; the original "
            "controllers stay untouched until cleanup")
    originals = ctx.facts.controllers()
    hosts = upgrade_control.computes(ctx)
    where = wiring(ctx, seeds, originals)
    rabbit = original_rabbit(ctx, originals[0])
    juno = juno_versions(records.get(upgrade_control.STAGE, {}), hosts)
    seen = ctx.pool.fan_out(hosts, lambda node: compute_revert(ctx, node, juno[node], rabbit))
    if seen.errors:
        first = next(iter(seen.errors.values()))
        if len(seen.errors) == 1 and isinstance(first, OctaneError):
            raise first
        raise RollbackRefused("the computes cannot be read: " + "; ".join(f"{n}: {e}" for n, e in sorted(seen.errors.items())),
                              "check SSH to the computes, then run rollback again")
    dump = upgrade_db.recorded_dump(ctx)
    writes = _seed_writes_check(ctx, records, seeds, where, dump, discard_seed_writes)
    baseline = preflight.recorded_baseline(ctx)
    return {"seed_env_id": seed, "seed_controllers": seeds, "original_controllers": originals, "computes": hosts,
            "acted": {stage: bool(steps) for stage, steps in acted_steps.items()}, "wiring": where,
            "control": where["control on the seed"], "revert": seen.results, "dump": dump,
            "flags": list(_optional_fact(ctx, upgrade_ceph.ISOLATION_FLAGS_FACT, []))
            if acted_steps[upgrade_ceph.STAGE] else [],
            "seed_writes": writes, "fsid": baseline["ceph"]["fsid"], "osd_ids": baseline["ceph"]["osd_ids"],
            "vms": upgrade_control.baseline_vms(ctx)}


def upgrade_db_frozen(ctx: Context) -> bool:
    """The original is (or may be) in upgrade-db's maintenance, whatever the stage records say."""
    return bool(_optional_fact(ctx, upgrade_db.MAINTENANCE_FACT, {}).get("active"))


def _seed_writes_check(ctx: Context, records: dict[str, dict[str, Any]], seeds: list[str], where: dict[str, Any],
                       dump: dict[str, Any] | None, discard: bool) -> dict[str, Any] | None:
    """None when the seed never took tenant writes; else what it holds beyond the dump, refused unless
    `discard`."""
    if not seed_served(records) and not where["seed on the wires"]:
        return None
    if dump is None:
        raise RollbackRefused("the journal holds no upgrade-db dump to compare the seed with",
                              "restore the journal from a backup; without the dump the rollback cannot tell "
                              "what the seed's databases gained")
    try:
        found = seed_writes(ctx, seeds[0], dump)
    except OctaneError as exc:
        if discard or not seed_served(records):
            return {"node": seeds[0], "found": {}, "summary": f"not compared: {exc.message}"}
        raise RollbackRefused(f"the seed's databases cannot be compared with the dump ({exc.message}): writes the "
                              "seed accepted after upgrade-control would be lost unseen",
                              "bring the seed's MySQL back to compare, or pass --discard-seed-writes to lose "
                              "whatever it accepted") from None
    if found["found"] and not discard:
        raise RollbackRefused(
            f"the seed accepted writes since upgrade-control left maintenance, which the rollback would lose: "
            f"{found['summary']}",
            "export what must be kept from the seed's APIs first, then run `octane rollback "
            f"{ctx.journal.fact(upgrade_env.SEED_FACT)} --discard-seed-writes`; or keep the upgrade and fix the "
            "seed forward")
    return found


# --------------------------------------------------------------------------- 2. while the seed serves


def seed_read_only(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """The seed's HAProxy refuses writes (GET still served): the seed's writes are final from here."""
    changed = ctx.pool.fan_out(seeds, lambda node: haproxy.set_mode(ctx.pool, node, "read-only"))
    _raise_fan_out(changed.errors, "writing HAProxy's read-only mode on the seed")
    if any(changed.results.values()):
        haproxy.restart(ctx.pool, seeds[0])
    return {"changed": changed.results}


def final_seed_writes(ctx: Context, seeds: list[str], record: dict[str, Any], discard: bool) -> dict[str, Any]:
    """The seed's writes once it is read-only: the list that the journal keeps as discarded. Writes that
    arrived after the plan's check, without the operator's consent, stop the rollback."""
    found = seed_writes(ctx, seeds[0], record)
    if found["found"] and not discard:
        raise RollbackError(f"the seed accepted writes after the rollback checked it: {found['summary']}",
                            "its HAProxy is read-only now (nothing else changed): run rollback again with "
                            "--discard-seed-writes to lose them, or leave the seed's maintenance "
                            "(upgrade_control.leave_maintenance) to keep the upgrade")
    return found


def juno_packages(ctx: Context, node: str, versions: dict[str, str]) -> dict[str, Any]:
    """The 7.0 repository removed, nova-compute and the OVS agent back to the Juno versions (configuration
    files kept); a package already back is left alone."""
    removed = apt.remove_source(ctx.pool, node, upgrade_control.SOURCE_NAME)
    installed = apt.versions(ctx.pool, node, sorted(versions))
    wanted = [f"{name}={version}" for name, version in sorted(versions.items()) if installed.get(name) != version]
    if wanted:
        apt.update(ctx.pool, node)
        apt.install(ctx.pool, node, wanted, downgrade=True)
    after = apt.versions(ctx.pool, node, sorted(versions))
    wrong = {name: after.get(name) for name, version in versions.items() if after.get(name) != version}
    if wrong:
        raise RollbackError(f"{node}: not the Juno versions after apt-get install: {wrong}",
                            f"check apt's output on {node} (the 6.1 repository), then run rollback again")
    return {"repository removed": removed, "installed": after}


# --------------------------------------------------------------------------- 3. control back


def isolate_seed(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """Each seed controller's br-mgmt/br-ex patch ports deleted and its GRE overlay (upgrade-control's fact
    `seed_overlay`) added back: off the wires, its own cluster joined again, as upgrade-env left it."""
    overlay = dict(_optional_fact(ctx, upgrade_control.OVERLAY_FACT, {}))

    def one(node: str) -> dict[str, Any]:
        removed = network.unplug(ctx.pool, node, BRIDGES)
        network.add_gre(ctx.pool, node, overlay.get(node, []))
        return {"unplugged": [f"{p['bridge']}<->{p['peer_bridge']}" for p in removed],
                "gre": [g["port"] for g in overlay.get(node, [])]}

    seen = ctx.pool.fan_out(seeds, one)
    _raise_fan_out(seen.errors, "isolating the seed")
    return seen.results


def original_patches(ctx: Context, originals: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The patch ports upgrade-control removed from each original controller (its fact `orig_unplugged`);
    for one it did not journal, those of Nailgun's default network scheme."""
    unplugged = dict(_optional_fact(ctx, upgrade_control.UNPLUGGED_FACT, {}))
    missing = [node for node in originals if not unplugged.get(node)]
    if missing:
        by_name = {n["hostname"]: n["id"] for n in ctx.fuel.nodes(ctx.env_id)}
        ids = [by_name[n] for n in missing if n in by_name]
        for entry in ctx.fuel.deployment_info_defaults(ctx.env_id, ids) if ids else []:
            node = next((n for n in missing if str(by_name.get(n)) == str(entry.get("uid"))), None)
            if node is not None:
                unplugged[node] = upgrade_control.wire_patches(entry)
    return {node: list(unplugged.get(node, [])) for node in originals}


def plug_original(ctx: Context, originals: list[str]) -> dict[str, Any]:
    patches = original_patches(ctx, originals)
    bare = [node for node, pairs in patches.items() if not pairs]
    if bare:
        raise RollbackError(f"no patch ports are known for {', '.join(bare)}",
                            "add their br-mgmt/br-ex patch ports by hand (ovs-vsctl), then run rollback again")
    seen = ctx.pool.fan_out(originals, lambda node: network.plug(ctx.pool, node, patches[node]))
    _raise_fan_out(seen.errors, "re-plugging the original")
    return {node: [f"{p['bridge']}<->{p['peer_bridge']}" for p in pairs] for node, pairs in patches.items()}


def start_cluster(ctx: Context, nodes: list[str], what: str) -> dict[str, Any]:
    """`pcs cluster start --all`, then wait for the cluster to form with every node (Galera synced)."""
    pacemaker.cluster_start(ctx.pool, nodes[0], all_nodes=True)
    wait_until(f"{what}'s cluster formed", lambda: upgrade_control.cluster_problems(ctx, nodes), CLUSTER_TIMEOUT,
               f"check corosync/pacemaker and br-mgmt on {', '.join(nodes)} (pcs status), then run rollback again")
    return {"members": nodes}


def original_read_only(ctx: Context, originals: list[str]) -> dict[str, bool]:
    """MySQL read_only again on the original (mysqld restarted without it): frozen until proved."""
    seen = ctx.pool.fan_out(originals, lambda node: db.set_read_only(ctx.pool, node, True))
    _raise_fan_out(seen.errors, "setting MySQL read_only on the original")
    return {node: db.read_only(ctx.pool, node) for node in originals}


def configure_compute(ctx: Context, node: str, original: str) -> dict[str, Any]:
    """nova.conf and neutron.conf: the original's RabbitMQ settings (over SFTP, never in argv), no pin."""
    changed = {}
    for path, values in original_rabbit(ctx, original).items():
        def edit(text: str, values: dict[str, str] = values, path: str = path) -> str:
            text = ini.set_options(text, {"DEFAULT": values})
            return ini.remove_options(text, PIN_KEYS) if path == upgrade_control.NOVA_CONF else text

        changed[path] = ctx.pool.edit(node, path, edit)
    return {"changed": changed}


def restart_compute(ctx: Context, node: str) -> dict[str, Any]:
    for job in COMPUTE_JOBS:
        upstart.restart(ctx.pool, node, job)
    return {"restarted": list(COMPUTE_JOBS)}


# --------------------------------------------------------------------------- 4. the original's databases


def original_database(ctx: Context, node: str, record: dict[str, Any]) -> dict[str, Any]:
    """The original's databases against the dump (row counts, then content in scratch copies); the dump is
    restored over them only when they differ."""
    dbs = list(record["dbs"])
    counts = dbcopy.row_counts(ctx.pool, node, dbs)
    moved = [m for m in dbcopy.moved(record["counts"], counts) if not _self_written(m)]
    digests: dict[str, tuple[str, str]] = {}
    with scratch_copy(ctx, node, record):
        found = differences(ctx, node, dbs)
        for name in dbs:
            tables = sorted(compared_tables(ctx, node, name))
            if tables:
                digests[name] = (content_digest(ctx, node, name, tables),
                                 content_digest(ctx, node, dbcopy.SCRATCH + name, tables))
    changed = sorted(name for name, (now, then) in digests.items() if now != then)
    result = {"node": node, "counts differ": moved, "rows differ": describe(found), "content differs": changed,
              "restored": False}
    if moved or found or changed:
        log.warning("%s env %s: the original's databases differ from the dump (%s): restoring the dump", STAGE,
                    ctx.env_id, "; ".join(moved[:5]) or describe(found) or ", ".join(changed))
        remote = dbcopy.upload(ctx.pool, node, record)
        try:
            db.restore(ctx.pool, node, remote)
        finally:
            dbcopy.discard(ctx.pool, node, record)
        again = dbcopy.compare(dbcopy.row_counts(ctx.pool, node, dbs), record["counts"], record["counts"])
        if again:
            raise RollbackError(f"the original's databases on {node} differ from the dump after restoring it: "
                                + "; ".join(again[:10]),
                                "check the restore's output and MySQL on the original, then run rollback again")
        result["restored"] = True
    return result


def _self_written(moved: str) -> bool:
    """A `db.table before -> after` line of a table in SELF_WRITTEN."""
    name, _, table = moved.split(" ", 1)[0].partition(".")
    return table in SELF_WRITTEN.get(name, ())


# --------------------------------------------------------------------------- 5. the original serves


def original_addresses(ctx: Context, originals: list[str], hosts: list[str]) -> dict[str, Any]:
    """Every VIP and original controller address answered by original controllers only (another holder
    ends the wait at once: two clusters on one address do not sort themselves out)."""
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        found.clear()
        found.update(upgrade_control.address_holders(ctx, originals, hosts))
        others = [p for p in found["problems"] if "besides" in p]
        if others:
            raise Fatal("; ".join(others))
        return found["problems"]

    wait_until("the original's addresses answered by its controllers only", problems, ADDRESS_TIMEOUT,
               "find who else answers (arping from an original controller) and unplug it at once")
    return {"answers": found["answers"]}


def ceph_back(ctx: Context, originals: list[str], fsid: str, osd_ids: list[int], flags: list[str]) -> dict[str, Any]:
    """The OSDs up and in with the original's monitors in quorum, the flags upgrade-ceph set unset, HEALTH_OK."""
    found: dict[str, Any] = {}
    fix = "check `ceph -s` on an original controller: monitors, OSD logs on the ceph-osd nodes"

    def problems(health: bool) -> list[str]:
        found.clear()
        found.update(upgrade_control.ceph_state(ctx, originals, fsid, osd_ids))
        return [p for p in found["problems"] if health or not p.startswith("health ")]

    wait_until("the OSDs with the original's monitors", lambda: problems(False), CEPH_TIMEOUT, fix)
    unset = [f for f in flags if f in ceph.flags(ctx.pool, originals[0])]
    for flag in unset:
        ceph.unset_flag(ctx.pool, originals[0], flag)
    wait_until("Ceph HEALTH_OK on the original's monitors", lambda: problems(True), CEPH_TIMEOUT, fix)
    return {"status": found["status"], "unset": unset}


def original_cloud(ctx: Context) -> Any:
    """A fresh connection to the original's APIs (at the VIPs, whoever answers them)."""
    return cloud.from_target(ctx.target, ctx.env_id)


def compute_state(ctx: Context, conn: Any, hosts: list[str], originals: list[str]) -> dict[str, Any]:
    """Each compute's nova-compute up in the original's API (its conductors the live ones), on Juno
    packages, without the pin."""
    services = cloud.compute_services(conn)
    state = {s["host"]: s["state"] for s in services if s["binary"] == "nova-compute"}
    conductors = sorted(s["host"] for s in services if s["binary"] == "nova-conductor" and s["state"] == "up")
    problems = []
    if not conductors or not set(conductors) <= set(originals):
        problems.append(f"the API's live conductors are {conductors}, not the original controllers'")
    problems += [f"{h}: nova-compute {state.get(h, 'not listed')} in the original's API" for h in hosts
                 if state.get(h) != "up"]
    pins, versions = upgrade_control.node_files(ctx, [], hosts)  # on many nodes at once
    static = [f"{h}: [upgrade_levels] compute pinned in {upgrade_control.NOVA_CONF}" for h in hosts if pins[h]]
    static += [f"{h}: {name} {versions[h].get(name, 'not installed')} is Kilo's" for h in hosts
               for name in COMPUTE_JOBS if versions[h].get(name, "").startswith(KILO)]
    return {"problems": problems + static, "static": static, "nova-compute": state, "conductors": conductors,
            "packages": versions}


def computes_in(ctx: Context, hosts: list[str], originals: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        conn = original_cloud(ctx)
        found.update(computes=compute_state(ctx, conn, hosts, originals),
                     agents=upgrade_control.agent_state(conn, originals, hosts))
        if found["computes"]["static"]:
            raise Fatal("; ".join(found["computes"]["static"]))
        return found["computes"]["problems"] + found["agents"]["problems"]

    wait_until("the computes in the original control plane", problems, COMPUTE_TIMEOUT,
               "read nova-compute's and the OVS agent's logs on the computes named (RabbitMQ, conductors)")
    return {"nova-compute": found["computes"]["nova-compute"], "agents": found["agents"]["agents"]}


def routers_back(ctx: Context, originals: list[str]) -> list[dict[str, Any]]:
    """Each router not hosted by a live L3 agent of the original moves to its least loaded live one (the
    original's database kept its bindings: usually none moves)."""
    conn = original_cloud(ctx)
    agents = cloud.network_agents(conn)
    targets = {a["id"]: 0 for a in agents if a["binary"] == upgrade_control.L3_AGENT and a["alive"]
               and a["host"] in originals}
    if not targets:
        raise RollbackError("no L3 agent of the original is alive",
                            "check neutron-l3-agent on the original controllers (crm status), then run rollback again")
    hosting = {r["id"]: cloud.router_hosts(conn, r["id"]) for r in cloud.routers(conn)}
    for ids in hosting.values():
        for i in ids:
            if i in targets:
                targets[i] += 1
    host_of = {a["id"]: a["host"] for a in agents}
    moved = []
    for router, ids in sorted(hosting.items()):
        if any(i in targets for i in ids):
            continue
        target = min(sorted(targets), key=lambda i: targets[i])
        for old in ids:
            cloud.remove_router_from_agent(conn, old, router)
        cloud.add_router_to_agent(conn, target, router)
        targets[target] += 1
        moved.append({"router": router, "from": [host_of.get(i, i) for i in ids], "to": host_of[target]})
    return moved


def volumes_back(ctx: Context, originals: list[str]) -> list[dict[str, Any]]:
    """Volumes whose host no live cinder-volume of the original serves move to its backend of that name
    (`cinder-manage volume update_host`, as upgrade-control moved them the other way)."""
    conn = original_cloud(ctx)
    live: list[str] = []

    def problems() -> list[str]:
        live[:] = [s["host"] for s in cloud.volume_services(conn) if s["binary"] == "cinder-volume"
                   and s["state"] == "up"]
        return [] if live else ["no cinder-volume of the original is up"]

    wait_until("cinder-volume up on the original", problems, COMPUTE_TIMEOUT,
               "check cinder-volume on the original controllers (crm status), then run rollback again")
    return upgrade_control.move_volume_hosts(ctx, conn, originals[0], live, "the original", RollbackError)


def seed_cluster_back(ctx: Context, seeds: list[str]) -> dict[str, Any]:
    """The seed's own cluster on its overlay, isolated (the wiring checked first: never on the wires)."""
    wired = wiring(ctx, seeds, [])["seed on the wires"]
    if wired:
        raise RollbackError(f"{', '.join(wired)} still on the wires: the seed's cluster must not start there",
                            "delete their br-mgmt/br-ex patch ports (ovs-vsctl), then run rollback again")
    return start_cluster(ctx, seeds, "the seed")


def state(ctx: Context, planned: dict[str, Any]) -> dict[str, Any]:
    """The original serving as before the upgrade, the seed isolated: {check: {"problems": [...], ...}}."""
    originals, hosts, seeds = planned["original_controllers"], planned["computes"], planned["seed_controllers"]
    conn = original_cloud(ctx)
    seed_nodes = [{"hostname": n["hostname"], "ip": upgrade_env.admin_ip(n)}
                  for n in ctx.fuel.nodes(planned["seed_env_id"]) if n["hostname"] in seeds]
    ceph_found = upgrade_control.ceph_state(ctx, originals, planned["fsid"], planned["osd_ids"])
    left = [f for f in planned["flags"] if f in ceph.flags(ctx.pool, originals[0])]
    ceph_found["problems"] += [f"flag {f} still set" for f in left]
    read_only = [n for n in originals if db.read_only(ctx.pool, n)]
    writes = upgrade_control.write_state(ctx, conn, originals)
    writes["problems"] += [f"{n}: MySQL read_only" for n in read_only]
    return {
        "addresses": upgrade_control.address_holders(ctx, originals, hosts),
        "seed isolated": upgrade_env.wiring_problems(ctx, seed_nodes),
        "cluster": {"problems": upgrade_control.cluster_problems(ctx, originals)},
        "ceph": ceph_found,
        "computes": compute_state(ctx, conn, hosts, originals),
        "agents": upgrade_control.agent_state(conn, originals, hosts),
        "routers": upgrade_control.router_state(conn, originals),
        "vms": upgrade_control.vm_state(ctx, conn, planned["vms"], hosts),
        "volumes": upgrade_control.volume_state(conn),
        "writes": writes,
        "baseline": baseline_state(ctx, conn),
    }


def baseline_state(ctx: Context, conn: Any) -> dict[str, Any]:
    """Every resource of the stage-0 baseline still listed by the original's APIs, by id."""
    recorded = preflight.recorded_baseline(ctx)["cloud"]
    readers = {"servers": cloud.servers, "volumes": cloud.volumes, "images": cloud.images,
               "networks": cloud.networks, "routers": cloud.routers, "floating_ips": cloud.floating_ips}
    missing = {}
    for kind, reader in readers.items():
        gone = sorted({r["id"] for r in recorded.get(kind, [])} - {r["id"] for r in reader(conn)})
        if gone:
            missing[kind] = gone
    return {"problems": [f"baseline {kind} missing: {ids}" for kind, ids in missing.items()], "missing": missing}


def verify(ctx: Context, planned: dict[str, Any]) -> dict[str, Any]:
    """`state` until it shows no problem (agents report, VMs answer), within VERIFY_TIMEOUT."""
    found: dict[str, Any] = {}

    def problems() -> list[str]:
        found.clear()
        found.update(state(ctx, planned))
        return [f"{what}: {p}" for what, seen in found.items() for p in seen["problems"]]

    wait_until("the original serving as before the upgrade", problems, VERIFY_TIMEOUT,
               "fix what is named, then run rollback again (done steps are not repeated)")
    return {"vms": len(found["vms"]["vms"]), "computes": found["computes"]["nova-compute"],
            "ceph": found["ceph"]["status"].get("health")}


# --------------------------------------------------------------------------- 6. the journal


def reset_stages(ctx: Context, planned: dict[str, Any], discarded: dict[str, Any] | None) -> dict[str, Any]:
    """Stages 3-6 forgotten (their effects are undone), the rollback kept in the fact `rollbacks`."""
    reset = [stage for stage in STAGES if ctx.journal.stage_status(stage) != PENDING]
    for stage in reset:
        ctx.journal.reset(stage)
    entry = {"at": time.time(), "undone": [s for s, did in planned["acted"].items() if did],
             "control was on the seed": planned["control"],
             "seed writes discarded": (discarded or {}).get("summary") or None}
    history = list(_optional_fact(ctx, HISTORY_FACT, []))
    ctx.journal.fact(HISTORY_FACT, [*history, entry])
    return {"reset": reset, "next": f"octane upgrade-db {planned['seed_env_id']}"}


# --------------------------------------------------------------------------- the rollback


def _per_compute(stage: Stage, hook: Hook, ctx: Context, hosts: list[str], what: str,
                 fn: Callable[[str], Any]) -> None:
    """One journaled step per compute, in parallel (bounded by the SSH pool)."""
    seen = ctx.pool.fan_out(hosts, lambda node: stage.call(f"{node}: {what}", fn, node))
    for node, result in sorted(seen.results.items()):
        hook(f"{node}: {what}", result)
    if seen.errors:
        raise RollbackError(f"{what} failed on " + "; ".join(f"{n}: {e}" for n, e in sorted(seen.errors.items())),
                            "fix the computes named, then run rollback again: done steps are not repeated")


def _start(ctx: Context, discard_seed_writes: bool) -> dict[str, Any] | None:
    """The plan of a rollback to start (refusals raised before the journal changes), or None when an
    interrupted one continues with its own."""
    record = ctx.journal.stage_record(STAGE)
    resuming = record.get("status") in (RUNNING, FAILED) and record["steps"].get("plan", {}).get("status") == DONE
    if resuming:
        return None
    planned = plan(ctx, discard_seed_writes)
    if record.get("status") == DONE:  # an earlier rollback, and the upgrade started again since
        ctx.journal.reset(STAGE)
    return planned


def run(ctx: Context, discard_seed_writes: bool = False, step_hook: Hook | None = None) -> dict[str, Any]:
    """The rollback: refused before any change when it cannot or need not be done; otherwise the original
    serves again, the seed is isolated, and the journal is ready for upgrade-db. A re-run continues."""
    hook = step_hook or (lambda name, result: None)
    fresh = _start(ctx, discard_seed_writes)
    inputs = {"env_id": ctx.env_id, "seed_env_id": int(ctx.journal.fact(upgrade_env.SEED_FACT))}
    with ctx.journal.stage(STAGE, inputs=inputs) as stage:
        planned = run_step(stage, hook, "plan", lambda: fresh)
        seeds, originals, hosts = planned["seed_controllers"], planned["original_controllers"], planned["computes"]
        revert = planned["revert"]
        discarded = planned["seed_writes"]
        if planned["control"] and planned["seed_writes"] is not None:
            run_step(stage, hook, "seed read-only", seed_read_only, ctx, seeds)
            discarded = run_step(stage, hook, "seed writes", final_seed_writes, ctx, seeds, planned["dump"],
                              discard_seed_writes or bool(planned["seed_writes"]["found"]))
        downgrade = [h for h in hosts if revert[h]["downgrade"] or revert[h]["repository"]]
        _per_compute(stage, hook, ctx, downgrade, "juno packages",
                     lambda node: juno_packages(ctx, node, revert[node]["downgrade"]))
        if planned["control"]:
            run_step(stage, hook, "stop seed cluster", upgrade_control.stop_seed_cluster, ctx, seeds)
            run_step(stage, hook, "isolate seed", isolate_seed, ctx, seeds)
            run_step(stage, hook, "plug original", plug_original, ctx, originals)
            run_step(stage, hook, "start original cluster", start_cluster, ctx, originals, "the original")
            run_step(stage, hook, "original mysql read-only", original_read_only, ctx, originals)
        configure = [h for h in hosts if revert[h]["pinned"] or revert[h]["rabbit"] or revert[h]["downgrade"]]
        _per_compute(stage, hook, ctx, configure, "original rabbit, no pin",
                     lambda node: configure_compute(ctx, node, originals[0]))
        _per_compute(stage, hook, ctx, configure, "restart services", lambda node: restart_compute(ctx, node))
        if planned["control"]:
            run_step(stage, hook, "original database", original_database, ctx, originals[0], planned["dump"])
        run_step(stage, hook, "original addresses", original_addresses, ctx, originals, hosts)
        run_step(stage, hook, "leave maintenance", upgrade_db.leave_maintenance, ctx)
        run_step(stage, hook, "ceph", ceph_back, ctx, originals, planned["fsid"], planned["osd_ids"], planned["flags"])
        run_step(stage, hook, "computes in the original control plane", computes_in, ctx, hosts, originals)
        run_step(stage, hook, "routers", routers_back, ctx, originals)
        run_step(stage, hook, "volumes", volumes_back, ctx, originals)
        if planned["control"]:
            run_step(stage, hook, "seed cluster on its overlay", seed_cluster_back, ctx, seeds)
        result = run_step(stage, hook, "verify", verify, ctx, planned)
        reset = run_step(stage, hook, "reset upgrade stages", reset_stages, ctx, planned, discarded)
        return {"seed_env_id": planned["seed_env_id"], "undone": [s for s, did in planned["acted"].items() if did],
                "seed writes discarded": (discarded or {}).get("summary") or None, **result, **reset}
