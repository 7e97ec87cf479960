"""Stage 7, cleanup (`octane cleanup-env SEED`, `octane cleanup-fuel`): the seed env on its own, the master reverted.

The action runs `procedure.cleanup`: the stale services and agents of the
original's hosts deleted from the seed's APIs, the RPC pin removed and the nova
services restarted, the seed compared with the baseline (cleanup-env); the
Nailgun extensions prepare enabled disabled again, the DB dumps kept
(cleanup-fuel). Which half runs is `--cleanup-part env|fuel|all` (default all;
`octane cleanup-env` passes env, `octane cleanup-fuel` fuel): see the
procedure's docstring for why one stage has two halves. A run of the env half
alone skips the tests of the fuel half (they run with cleanup-fuel), and its
`test_completed` asks for the env half only; the stage is done, and every test
runs, once both halves did.

The tests read what an operator can see, against stage 0's baseline: the
seed's APIs (os-services, agents, servers, volumes, images, networks, ...),
Fuel's seed env (settings, network configuration, nodes), each seed node's
nova.conf and its nova services' process start times (`status`, `ps -o
lstart`) over SSH, TCP probes of the VMs' floating IPs, `ceph` and the cluster
log on the seed's monitors, Nailgun's extensions and the dumps on the master.
"""

from __future__ import annotations

from typing import Any

import pytest

from runbook.fixtures import action
from runbook.fixtures.reads import read_or_fail
from runbook.lib import ceph, cloud
from runbook.procedure import cleanup as procedure
from runbook.procedure import fuelstate, upgrade_control
from runbook.report import evidence

_suite = evidence.suite(procedure.STAGE)


@pytest.fixture(scope="module")
def part(request) -> str:  # noqa: ANN001
    return request.config.getoption("--cleanup-part")


@pytest.fixture(scope="module", autouse=True)
def cleanup_action(ctx, validate_only, part: str) -> None:  # noqa: ANN001 - fixtures
    action.perform(ctx, validate_only, procedure.STAGE,
                   lambda ctx, step_hook=None: procedure.run(ctx, part, step_hook=step_hook))


@pytest.fixture
def fuel_half(part: str) -> None:
    """The tests of the fuel half run when this run includes it (cleanup-fuel checks them)."""
    if part == "env":
        pytest.skip("cleanup-fuel's state: this run is cleanup-env only (--cleanup-part env); "
                    "`octane cleanup-fuel` runs and checks it")


@pytest.fixture(scope="module")
def seeds(ctx) -> list[str]:  # noqa: ANN001
    return procedure.seed_controllers(ctx)


@pytest.fixture(scope="module")
def computes(ctx) -> list[str]:  # noqa: ANN001
    return read_or_fail("the seed's computes", procedure.seed_computes, ctx)


@pytest.fixture(scope="module")
def conn(ctx):  # noqa: ANN001, ANN201
    return procedure.seed_cloud(ctx)


@_suite
def test_completed(ctx, part: str) -> None:  # noqa: ANN001
    """The stage is done (both halves); a cleanup-env run asks only for its half."""
    halves = procedure.halves_done(ctx)
    evidence.attach("halves done", halves)
    if part == "env" and "env" in halves:
        return
    action.assert_completed(ctx, procedure.STAGE)


@_suite
def test_nothing_stale(ctx, conn) -> None:  # noqa: ANN001
    """No nova service and no neutron agent is registered under a host that is not a node of the seed env."""
    found = read_or_fail("the seed's services and agents", procedure.find_stale, ctx, conn)
    shown = {"services": [f"{s['binary']}@{s['host']} ({s['state']})" for s in found["services"]],
             "agents": [f"{a['binary']}@{a['host']} ({'alive' if a['alive'] else 'dead'})" for a in found["agents"]]}
    evidence.attach("stale", shown)
    assert not found["services"] and not found["agents"], f"stale in the seed's APIs: {shown}"


@_suite
def test_computes_up_and_enabled(ctx, conn, computes: list[str], baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """Every compute of the seed env: nova-compute up in the seed's API, enabled (unless the baseline
    had it disabled: the operator's choice stays)."""
    services = {s["host"]: s for s in read_or_fail("nova's services", cloud.compute_services, conn)
                if s["binary"] == procedure.COMPUTE_JOB}
    disabled_before = {s["host"] for s in baseline["cloud"]["compute_services"]
                       if s["binary"] == procedure.COMPUTE_JOB and s["status"] == "disabled"}
    shown = {h: f"{services[h]['status']}, {services[h]['state']}" if h in services else "not listed"
             for h in computes}
    evidence.attach("nova-compute", shown)
    assert computes, "the seed env has no compute"
    problems = [f"{h}: {shown[h]}" for h in computes if h not in services or services[h]["state"] != "up"
                or (services[h]["status"] != "enabled" and h not in disabled_before)]
    assert not problems, f"nova-compute not up and enabled: {problems}"


@_suite
def test_no_rpc_pin(ctx, seeds: list[str], computes: list[str]) -> None:  # noqa: ANN001
    """No `[upgrade_levels] compute` in nova.conf on any seed controller or compute."""
    pinned = read_or_fail("nova.conf", procedure.pins, ctx, seeds + computes)
    evidence.attach("pinned", pinned)
    assert seeds and computes
    left = sorted(node for node, on in pinned.items() if on)
    assert not left, f"[upgrade_levels] compute is still in {procedure.NOVA_CONF} on {left}"


@_suite
def test_nova_services_restarted_since_cleanup_started(ctx) -> None:  # noqa: ANN001
    """Every nova service that reads nova.conf on the seed's controllers and computes runs a process started
    after cleanup-env's first step recorded its start time (so it runs with the nova.conf cleanup left)."""
    before = procedure.recorded_start_times(ctx)
    assert before is not None, "cleanup-env recorded no start times (its preconditions never completed)"
    now = read_or_fail("the nova services' start times", procedure.start_times, ctx,
                {node: list(jobs) for node, jobs in before.items()})
    evidence.attach("start times", {"before": before, "now": {n: {j: str(t) for j, t in jobs.items()}
                                                             for n, jobs in now.items()}})
    problems = procedure.not_restarted(before, now)
    assert not problems, "; ".join(problems)


@_suite
def test_baseline_resources_in_the_seed(ctx, conn, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """Every resource of the baseline, as the baseline holds it (same ids, statuses, attachments,
    addresses...), in the seed's APIs; what the upgrade changes by design is left out (procedure.cleanup)."""
    now = read_or_fail("the seed's resources", procedure.read_resources, conn)
    drift = procedure.resource_drift(baseline["cloud"], now)
    evidence.attach("compared", {name: len(baseline["cloud"].get(name, [])) for name in procedure.COMPARED})
    evidence.attach("drift", drift)
    assert not drift, f"the seed differs from the baseline: {drift[:20]}"


@_suite
def test_baseline_vms_reachable(ctx, conn, computes: list[str]) -> None:  # noqa: ANN001
    """Every ACTIVE VM of the baseline: ACTIVE on a compute of the seed whose libvirt runs it, answering
    a TCP probe on its floating IP with its own banner."""
    vms = upgrade_control.baseline_vms(ctx)
    assert vms, "the baseline has no ACTIVE VM"
    found = read_or_fail("the VMs", upgrade_control.vm_state, ctx, conn, vms, computes)
    evidence.attach("vms", found["vms"])
    assert not found["problems"], "; ".join(found["problems"])


@_suite
def test_seed_settings_as_the_baseline(ctx, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """The seed env as Fuel describes it has the baseline env's mode, networking, settings, networks,
    VIPs and as many nodes of each role; what the 7.0 release changes by design is left out."""
    seed = read_or_fail("the seed env", fuelstate.env_state, ctx.fuel, procedure.seed_id(ctx))
    drift = procedure.settings_drift(baseline["fuel"], seed)
    evidence.attach("roles", {"baseline": procedure.role_census(baseline["fuel"]["nodes"]),
                              "seed": procedure.role_census(seed["nodes"])})
    evidence.attach("drift", drift)
    assert not drift, f"the seed env differs from the baseline: {drift}"


@_suite
def test_ceph_healthy_no_data_moved(ctx, baseline: dict[str, Any], seeds: list[str]) -> None:  # noqa: ANN001
    """HEALTH_OK; the baseline's OSD ids, every one up and fully in; every PG active+clean; the baseline's
    object count per pool; no OSD ever marked out in the seed monitors' cluster logs (they hold every
    entry since the seed's monitors took the original's store at stage 4)."""
    health, summary = read_or_fail("ceph health", ceph.health, ctx.pool, seeds[0])
    tree = read_or_fail("the OSD tree", ceph.osd_tree, ctx.pool, seeds[0])
    pgs = read_or_fail("ceph pg stat", ceph.pg_stat, ctx.pool, seeds[0])
    objects = read_or_fail("ceph df", ceph.pool_objects, ctx.pool, seeds[0])
    outs = {node: read_or_fail(f"the cluster log on {node}", ceph.marked_out, ctx.pool, node) for node in seeds}
    evidence.attach("ceph", {"health": [health, summary], "osds": tree, "pgs": pgs, "objects": objects,
                             "baseline objects": baseline["ceph"]["pool_objects"], "marked out": outs})
    assert health == "HEALTH_OK", f"{health}: {summary}"
    assert sorted(o["id"] for o in tree) == sorted(baseline["ceph"]["osd_ids"]), \
        f"OSD ids {[o['id'] for o in tree]}, the baseline's {baseline['ceph']['osd_ids']}"
    weak = [f"osd.{o['id']}" for o in tree if not (o["up"] and o["in"]) or o["reweight"] != 1.0]
    assert not weak, f"OSDs not up and fully in: {weak}"
    assert pgs["by_state"] == {"active+clean": pgs["num_pgs"]}, f"PGs not all active+clean: {pgs['by_state']}"
    marked = sorted({line for lines in outs.values() for line in lines})
    assert not marked, f"OSDs were marked out during the upgrade (their data was backfilled): {marked[:10]}"
    assert objects == baseline["ceph"]["pool_objects"], "object counts per pool differ from the baseline"


@_suite
def test_master_reverted(ctx, fuel_half: None) -> None:  # noqa: ANN001
    """Nailgun's extensions as before prepare: the original env has those it had, the seed none of those
    prepare enabled (it inherited them with the clone)."""
    state = read_or_fail("Nailgun's extensions", procedure.extension_state, ctx)
    evidence.attach("extensions", state)
    problems = procedure.extension_problems(state)
    assert not problems, "; ".join(problems)


@_suite
def test_db_dumps_kept(ctx, fuel_half: None) -> None:  # noqa: ANN001
    """The DB dumps (preflight's backup, upgrade-db's dump) are still on the master, unchanged: the only
    copies of the pre-upgrade databases."""
    found = procedure.dumps(ctx)
    evidence.attach("dumps kept", found)
    problems = procedure.dump_problems(ctx)
    assert not problems, "; ".join(problems)
