"""Stage 6, upgrade-node (`octane upgrade-node SEED [NODE...]`): computes and OSD nodes on 7.0 in the seed.

The action runs `procedure.upgrade_node`: batch by batch as planned, computes
drained by live migration and OSD nodes taken down under `noout` with their
ceph volumes kept, reinstalled into the seed env, the RPC pin put back, the
computes enabled again. The tests read what an operator can see, against the
baseline of stage 0 (not against what the procedure says it did): Fuel's node
list, each node's /etc/fuel_release over SSH, the seed's APIs (services,
agents, servers), libvirt on the computes, a TCP probe of each VM's floating
IP, `ceph` on a seed controller and the monitors' cluster log.

What `test_computes_up_with_the_pin` asserts about the pin: every compute is
Kilo now, so nova-compute would be up without it; the pin stays on every
compute and seed controller until cleanup (stage 7) removes it everywhere at
once, so the test asserts it is present on all of them (a compute deployed
without it is one the procedure forgot); once cleanup has started, the test is
superseded (stage 7 asserts the computes up and the pin gone).
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from runbook.errors import ConfigError
from runbook.fixtures import action
from runbook.fixtures.reads import read_or_fail
from runbook.lib import ceph, cloud
from runbook.plugins.path_61_70 import TO_VERSION
from runbook.procedure import plan as octane_plan
from runbook.procedure import preflight, upgrade_control
from runbook.procedure import upgrade_node as procedure
from runbook.report import evidence

_suite = evidence.suite(procedure.STAGE)
MOVED_ROLES = (procedure.COMPUTE, procedure.OSD)


def upgrade_nodes(option: str | None) -> list[int] | None:
    """`--upgrade-nodes 4,7` (what `octane upgrade-node SEED NODE...` passes) as node ids."""
    if not option:
        return None
    try:
        return [int(word) for word in option.split(",") if word.strip()]
    except ValueError:
        raise ConfigError(f"--upgrade-nodes {option!r} is not a list of node ids",
                          "give node ids separated by commas, e.g. --upgrade-nodes 4,7") from None


@pytest.fixture(scope="module", autouse=True)
def upgrade_node_action(ctx, validate_only, request) -> None:  # noqa: ANN001 - fixtures
    nodes = upgrade_nodes(request.config.getoption("--upgrade-nodes"))
    action.perform(ctx, validate_only, procedure.STAGE, functools.partial(procedure.run, nodes=nodes))


@pytest.fixture(scope="module")
def seed(ctx) -> int:  # noqa: ANN001
    return procedure.seed_id(ctx)


@pytest.fixture(scope="module")
def seeds(ctx) -> list[str]:  # noqa: ANN001
    return upgrade_control.seed_controllers(ctx)


@pytest.fixture(scope="module")
def moved(baseline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The baseline's computes and OSD nodes (by hostname): every one must be in the seed now."""
    return {n["hostname"]: n for n in baseline["fuel"]["nodes"]
            if set(n.get("roles") or []) & set(MOVED_ROLES)}


def _seed_computes(ctx, seed: int) -> list[str]:  # noqa: ANN001
    return sorted((n["hostname"] for n in ctx.fuel.nodes(seed) if procedure.COMPUTE in (n.get("roles") or [])),
                  key=lambda h: (len(h), h))


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, procedure.STAGE)


@_suite
def test_nodes_in_the_seed_on_7_0(ctx, seed: int, moved: dict[str, dict[str, Any]]) -> None:  # noqa: ANN001
    """Every compute and OSD node of the baseline is in the seed env, ready and online with its roles, and
    runs 7.0 (its /etc/fuel_release); the plan the journal keeps is shown beside what ran."""
    nodes = {n["hostname"]: n for n in read_or_fail("Fuel's nodes", ctx.fuel.nodes)}
    read = ctx.pool.fan_out(sorted(moved), lambda name: procedure.release_of(ctx, name),
                            max_workers=procedure.MAX_SOURCES)
    seen, problems = {}, []
    for name, before in sorted(moved.items()):
        node = nodes.get(name, {})
        release = read.results.get(name) or f"unreadable: {read.errors.get(name)}"
        seen[name] = {"env": node.get("cluster"), "status": node.get("status"), "online": node.get("online"),
                      "roles": node.get("roles"), "release": release}
        if node.get("cluster") != seed or node.get("status") != "ready" or not node.get("online"):
            problems.append(f"{name}: env {node.get('cluster')}, {node.get('status')} (wanted: env {seed}, ready)")
        if sorted(node.get("roles") or []) != sorted(before.get("roles") or []):
            problems.append(f"{name}: roles {node.get('roles')}, the baseline's {before.get('roles')}")
        if release != TO_VERSION:
            problems.append(f"{name}: runs {release}, not {TO_VERSION}")
    evidence.attach("nodes", seen)
    evidence.attach("plan", ctx.journal.facts().get(procedure.PLAN_FACT))
    first = ctx.journal.facts().get(octane_plan.FIRST_FACT)
    if first:  # `octane plan` was run before: what it said beside what ran
        evidence.attach("octane plan vs what ran", octane_plan.compare(first, ctx.journal))
    assert moved, "the baseline lists no compute or OSD node"
    assert not problems, "; ".join(problems)


@_suite
def test_baseline_vms_intact(ctx, seed: int) -> None:  # noqa: ANN001
    """Every ACTIVE VM of the baseline: listed with its id, ACTIVE, on a compute of the seed env whose
    libvirt runs it, answering a TCP probe on its floating IP with its own banner."""
    vms = upgrade_control.baseline_vms(ctx)
    assert vms, "the baseline has no ACTIVE VM"
    hosts = read_or_fail("the seed's computes", _seed_computes, ctx, seed)
    found = read_or_fail("the VMs", upgrade_control.vm_state, ctx, procedure.seed_cloud(ctx), vms, hosts)
    evidence.attach("vms", found["vms"])
    assert not found["problems"], "; ".join(found["problems"])


@_suite
@pytest.mark.superseded_by("stage7_cleanup")  # cleanup-env removes the pin everywhere
def test_computes_up_with_the_pin(ctx, seed: int, seeds: list[str]) -> None:  # noqa: ANN001
    """Each compute of the seed env: nova-compute up in the seed's API and not left disabled by octane, its
    OVS agent alive, Kilo packages, `[upgrade_levels] compute=juno` on it and on every seed controller."""
    hosts = read_or_fail("the seed's computes", _seed_computes, ctx, seed)
    conn = procedure.seed_cloud(ctx)
    found = read_or_fail("the computes", upgrade_control.compute_state, ctx, conn, hosts, seeds)
    agents = read_or_fail("neutron's agents", upgrade_control.agent_state, conn, seeds, hosts)
    services = {s["host"]: s for s in read_or_fail("nova's services", cloud.compute_services, conn)
                if s["binary"] == "nova-compute"}
    left = [f"{h}: nova-compute left disabled ({services[h]['disabled_reason']})" for h in hosts
            if h in services and services[h]["status"] == "disabled"
            and services[h]["disabled_reason"] == procedure.REASON]
    evidence.attach("nova-compute", found["nova-compute"])
    evidence.attach("pinned", found["pinned"])
    evidence.attach("packages", found["packages"])
    evidence.attach("agents", agents["agents"])
    assert hosts, f"the seed env {seed} has no compute"
    problems = found["problems"] + agents["problems"] + left
    assert not problems, "; ".join(problems)


@_suite
def test_osds_up_and_in_with_their_original_ids(ctx, baseline: dict[str, Any], seeds: list[str],  # noqa: ANN001
                                                moved: dict[str, dict[str, Any]]) -> None:
    """The baseline's OSD ids, every one up and in, each on the node that carried it before the stage (as
    its plan recorded), no other OSD; HEALTH_OK."""
    tree = read_or_fail("the OSD tree", ceph.osd_tree, ctx.pool, seeds[0])
    health, summary = read_or_fail("ceph health", ceph.health, ctx.pool, seeds[0])
    planned = procedure.recorded_plan(ctx) or {}
    before = {i: host for host, ids in planned.get("osds", {}).items() for i in ids}
    evidence.attach("osd tree", {"now": tree, "before (plan)": before, "health": [health, summary]})
    assert [o["id"] for o in tree] == baseline["ceph"]["osd_ids"], \
        f"OSD ids {[o['id'] for o in tree]}, the baseline's {baseline['ceph']['osd_ids']}"
    down = [f"osd.{o['id']}@{o['host']}" for o in tree if not (o["up"] and o["in"])]
    assert not down, f"OSDs not up and in: {down}"
    elsewhere = [f"osd.{o['id']} on {o['host']}, was on {before[o['id']]}" for o in tree
                 if o["id"] in before and o["host"] != before[o["id"]]]
    assert not elsewhere, "; ".join(elsewhere)
    assert health == "HEALTH_OK", f"{health}: {summary}"


@_suite
def test_no_data_moved(ctx, baseline: dict[str, Any], seeds: list[str]) -> None:  # noqa: ANN001
    """No OSD was marked out since the stage started (no new entry in any seed monitor's cluster log:
    an OSD out starts backfill, and the data moves back when it returns, so only the log keeps it),
    every baseline OSD fully in, every PG active+clean, the same object count per pool as the baseline."""
    before = (procedure.recorded_plan(ctx) or {}).get("marked_out_before", {})
    outs = {node: read_or_fail(f"the cluster log on {node}", ceph.marked_out, ctx.pool, node)[before.get(node, 0):]
            for node in seeds}
    objects = read_or_fail("ceph df", ceph.pool_objects, ctx.pool, seeds[0])
    weights = {o["id"]: o["reweight"] for o in read_or_fail("the OSD tree", ceph.osd_tree, ctx.pool, seeds[0])}
    pgs = read_or_fail("ceph pg stat", ceph.pg_stat, ctx.pool, seeds[0])
    evidence.attach("placement", {"marked out": outs, "objects": objects,
                                  "baseline objects": baseline["ceph"]["pool_objects"], "reweights": weights,
                                  "pgs": pgs})
    marked = sorted({line for lines in outs.values() for line in lines})
    assert not marked, f"OSDs were marked out (their data was backfilled): {marked[:10]}"
    assert objects == baseline["ceph"]["pool_objects"]
    assert weights == {osd: 1.0 for osd in baseline["ceph"]["osd_ids"]}, f"OSD weights changed: {weights}"
    assert pgs["by_state"] == {"active+clean": pgs["num_pgs"]}, f"PGs not all active+clean: {pgs['by_state']}"


@_suite
def test_noout_unset(ctx, seeds: list[str]) -> None:  # noqa: ANN001
    flags = read_or_fail("the OSD map's flags", ceph.flags, ctx.pool, seeds[0])
    evidence.attach("flags", flags)
    assert "noout" not in flags, f"noout is still set ({flags}): an OSD that fails now is never marked out"


@_suite
def test_servers_used(ctx, seed: int, baseline: dict[str, Any],  # noqa: ANN001
                      moved: dict[str, dict[str, Any]]) -> None:
    """The upgrade used at most 3 servers besides the original env's own: the seed env holds the baseline's
    computes and OSD nodes plus its controllers, and the original env only its controllers now."""
    nodes = read_or_fail("Fuel's nodes", ctx.fuel.nodes)
    original = {n["hostname"] for n in baseline["fuel"]["nodes"]}
    in_seed = sorted(n["hostname"] for n in nodes if n.get("cluster") == seed)
    extra = sorted(set(in_seed) - original, key=lambda h: (len(h), h))
    left = sorted(n["hostname"] for n in nodes if n.get("cluster") == ctx.env_id
                  and set(n.get("roles") or []) & set(MOVED_ROLES))
    evidence.attach("servers", {"seed env": in_seed, "extra": extra, "left in the original": left})
    assert len(extra) <= preflight.MAX_EXTRA_SERVERS, \
        f"{len(extra)} servers beyond the original env's ({extra}); at most {preflight.MAX_EXTRA_SERVERS}"
    assert not left, f"computes and OSD nodes left in the original env {ctx.env_id}: {left}"
    assert set(moved) <= set(in_seed), f"not in the seed env: {sorted(set(moved) - set(in_seed))}"
