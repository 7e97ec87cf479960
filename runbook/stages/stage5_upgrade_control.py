"""Stage 5, upgrade-control (`octane upgrade-control SEED`): the seed's controllers serve the cloud.

The action runs `procedure.upgrade_control`: the original's cluster stopped and
its controllers unplugged, the seed's plugged in its place, its services
started, routers moved to its L3 agents, the computes' nova-compute and OVS
agent upgraded in place to Kilo under the RPC pin, then maintenance left. The
tests read what an operator can see: who answers ARP for the VIPs and the
controller addresses (arping from the seed controllers), the original
controllers' OVS and upstart jobs, `ceph` on a seed controller, the seed's APIs
through the VIPs (services, agents, routers, servers, a write that changes
nothing), the computes' packages, nova.conf and libvirt, and TCP probes of the
VMs' floating IPs. The baseline of stage 0 is the reference.
"""

from __future__ import annotations

from typing import Any

import pytest

from runbook.fixtures import action
from runbook.fixtures.reads import read_or_fail
from runbook.procedure import upgrade_control as procedure
from runbook.report import evidence

_suite = evidence.suite(procedure.STAGE)


@pytest.fixture(scope="module", autouse=True)
def upgrade_control_action(ctx, validate_only) -> None:  # noqa: ANN001 - fixtures
    action.perform(ctx, validate_only, procedure.STAGE, procedure.run)


@pytest.fixture(scope="module")
def seeds(ctx) -> list[str]:  # noqa: ANN001
    return procedure.seed_controllers(ctx)


@pytest.fixture(scope="module")
def computes(ctx) -> list[str]:  # noqa: ANN001
    return procedure.computes(ctx)


def _problems(found: dict[str, Any], *evidence_keys: str) -> None:
    for key in evidence_keys:
        evidence.attach(key, found[key])
    assert not found["problems"], "; ".join(found["problems"])


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, procedure.STAGE)


@_suite
def test_addresses_answered_by_the_seed_only(ctx, seeds, computes) -> None:  # noqa: ANN001
    """The seed controllers on the wires, and every VIP and every original controller's management and
    public address answering ARP (from the seed controllers, and from the computes for management) with
    one MAC, a seed controller's: no second cluster on the wires, no address left unanswered."""
    found = read_or_fail("who answers the original's addresses", procedure.address_holders, ctx, seeds, computes)
    _problems(found, "wiring", "answers", "seed_macs")


@_suite
@pytest.mark.superseded_by("stage7_cleanup")
def test_original_controllers_unplugged_and_stopped(ctx) -> None:  # noqa: ANN001
    """No patch joins an original controller's br-mgmt/br-ex to the wire; corosync and pacemaker are stopped."""
    found = read_or_fail("the original controllers", procedure.original_state, ctx, ctx.facts.controllers())
    _problems(found, "nodes")


@_suite
def test_ceph_on_the_seed_monitors(ctx, seeds, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """Quorum of the seed's monitors with the original fsid, HEALTH_OK, the baseline's OSDs up and in."""
    found = read_or_fail("ceph on the seed", procedure.ceph_state, ctx, seeds, baseline["ceph"]["fsid"],
                  baseline["ceph"]["osd_ids"])
    _problems(found, "status", "osds")


@_suite
@pytest.mark.superseded_by("stage7_cleanup")
def test_computes_up_in_the_new_control_plane_with_the_pin(ctx, seeds, computes) -> None:  # noqa: ANN001
    """Each compute's nova-compute up in the seed's os-services (the seed's conductors the live ones), Kilo
    packages, `[upgrade_levels] compute=juno` on every compute and seed controller."""
    found = read_or_fail("the computes", procedure.compute_state, ctx, procedure.seed_cloud(ctx), computes, seeds)
    _problems(found, "nova-compute", "conductors", "pinned", "packages")


@_suite
def test_neutron_agents_alive(ctx, seeds, computes) -> None:  # noqa: ANN001
    """L3, metadata and OVS agents of every seed controller, a DHCP agent, every compute's OVS agent: alive."""
    found = read_or_fail("neutron's agents", procedure.agent_state, procedure.seed_cloud(ctx), seeds, computes)
    _problems(found, "agents")


@_suite
def test_baseline_vms_active_and_reachable(ctx, computes) -> None:  # noqa: ANN001
    """Every ACTIVE VM of the baseline: listed with its id, ACTIVE, on a compute whose libvirt runs it,
    answering a TCP probe on its floating IP with its own banner."""
    vms = procedure.baseline_vms(ctx)
    assert vms, "the baseline has no ACTIVE VM"
    found = read_or_fail("the VMs", procedure.vm_state, ctx, procedure.seed_cloud(ctx), vms, computes)
    _problems(found, "vms")


@_suite
def test_routers_on_seed_l3_agents(ctx, seeds) -> None:  # noqa: ANN001
    found = read_or_fail("the routers", procedure.router_state, procedure.seed_cloud(ctx), seeds)
    _problems(found, "routers")


@_suite
def test_apis_writable(ctx, seeds) -> None:  # noqa: ANN001
    """Maintenance left: the seed's HAProxy files are in normal mode, and a request that changes nothing
    (nova's validation refuses it, or nothing has the random id it deletes) reaches each API instead
    of the 503 of the maintenance backend."""
    found = read_or_fail("the APIs", procedure.write_state, ctx, procedure.seed_cloud(ctx), seeds)
    _problems(found, "modes", "answers")
