"""Stage 2, upgrade-env (`octane upgrade-env ENV [NODE...]`): the Upgrade Seed env next to the original.

The action runs `procedure.upgrade_env`: clone to 7.0, VIPs copied, new
controllers deployed isolated from the physical management and public
networks. The tests read what an operator can see: Fuel's envs, nodes,
settings and network configuration; the seed controllers' OVS, pacemaker and
Galera over SSH; who answers ARP for the original's addresses (`arping` from
the original controllers); the original's APIs; the baseline of stage 0.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from runbook.errors import ConfigError
from runbook.fixtures import action
from runbook.lib import cloud, hosts
from runbook.plugins.path_61_70 import TO_VERSION
from runbook.procedure import fuelstate
from runbook.procedure import upgrade_env as procedure
from runbook.report import evidence

_suite = evidence.suite(procedure.STAGE)
KILO = "1:2015.1"  # the Kilo packages' version prefix (MOS 7.0)


def seed_nodes(option: str | None) -> list[int] | None:
    """`--seed-nodes 10,11,12` (what `octane upgrade-env ENV NODE...` passes) as node ids."""
    if not option:
        return None
    try:
        return [int(word) for word in option.split(",") if word.strip()]
    except ValueError:
        raise ConfigError(f"--seed-nodes {option!r} is not a list of node ids",
                          "give free node ids separated by commas, e.g. --seed-nodes 10,11,12") from None


@pytest.fixture(scope="module", autouse=True)
def upgrade_env_action(ctx, validate_only, request) -> None:  # noqa: ANN001 - fixtures
    nodes = seed_nodes(request.config.getoption("--seed-nodes"))
    action.perform(ctx, validate_only, procedure.STAGE, functools.partial(procedure.run, nodes=nodes))


def _seed_id(ctx) -> int:  # noqa: ANN001
    """The seed env the journal records (stage 3 reads the same fact)."""
    facts = ctx.journal.facts()
    assert procedure.SEED_FACT in facts, f"the journal of env {ctx.env_id} records no seed env ({procedure.SEED_FACT})"
    return int(facts[procedure.SEED_FACT])


def _seed_controllers(ctx) -> list[dict[str, Any]]:  # noqa: ANN001
    """The seed's controllers as Fuel lists them, with the admin address the GRE tunnels use."""
    seed = _seed_id(ctx)
    nodes = procedure.controllers_of(ctx.fuel.nodes(seed), seed)
    return [{"id": n["id"], "hostname": n["hostname"], "ip": procedure.admin_ip(n), "status": n.get("status"),
             "online": n.get("online"), "roles": n.get("roles")} for n in nodes]


def _original_controllers(baseline: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in baseline["fuel"]["nodes"] if procedure.ROLE in (n.get("roles") or [])]


@_suite
def test_completed(ctx) -> None:  # noqa: ANN001
    action.assert_completed(ctx, procedure.STAGE)


@_suite
def test_seed_env_exists(ctx, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """The journal names the seed, and Fuel has it: the original's clone on 7.0, named after it."""
    seed_id = _seed_id(ctx)
    envs = {e["id"]: e for e in ctx.fuel.envs()}
    evidence.attach("envs", {i: {k: e.get(k) for k in ("name", "release_id", "status")} for i, e in envs.items()})
    assert seed_id in envs, f"the journal names seed env {seed_id}, which Fuel does not have"
    assert seed_id != ctx.env_id
    release = {r["id"]: r for r in ctx.fuel.releases()}[envs[seed_id]["release_id"]]
    assert release["version"] == TO_VERSION, f"seed env {seed_id} is on {release['version']}"
    assert envs[seed_id]["name"] == f"{baseline['fuel']['env']['name']}{procedure.SEED_SUFFIX}"


@_suite
def test_seed_carries_the_original_settings(ctx) -> None:  # noqa: ANN001
    """Every editable value both releases have, and the addressing (networks, parameters, VIPs), equal."""
    seed_id = _seed_id(ctx)
    left, _ = procedure.shared_settings(ctx.fuel.env_attributes(ctx.env_id), ctx.fuel.env_attributes(seed_id))
    evidence.attach("shared settings of the original", left)
    evidence.attach("seed addressing", fuelstate.addressing(ctx.fuel.network_configuration(seed_id)))
    assert sum(len(v) for v in left.values()) > 0, "the two envs share no setting"
    changed = procedure.settings_differences(ctx, seed_id, vips=True)
    evidence.attach("differences", changed)
    assert not changed, f"seed env {seed_id} differs from the original: {changed}"


@_suite
def test_seed_controllers_ready(ctx, pool, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """As many as the original's controllers, ready and online, running 7.0, new servers all."""
    controllers = _seed_controllers(ctx)
    evidence.attach("seed controllers", controllers)
    original = _original_controllers(baseline)
    assert len(controllers) == len(original), \
        f"the seed has {len(controllers)} controllers, the original {len(original)}"
    not_ready = [c for c in controllers if c["status"] != "ready" or not c["online"]
                 or procedure.ROLE not in (c["roles"] or [])]
    assert not not_ready, f"seed controllers not ready: {not_ready}"
    taken = {c["hostname"] for c in controllers} & {n["hostname"] for n in baseline["fuel"]["nodes"]}
    assert not taken, f"seed controllers taken from the original env: {sorted(taken)}"
    versions = {c["hostname"]: hosts.get_host(pool, c["hostname"]).package("nova-api").version
                for c in controllers}
    evidence.attach("nova-api versions", versions)
    assert all(v.startswith(KILO) for v in versions.values()), f"not Kilo: {versions}"
    assert ctx.journal.fact(procedure.CONTROLLERS_FACT) == sorted(versions, key=lambda h: (len(h), h))


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_seed_isolated(ctx) -> None:  # noqa: ANN001
    """No patch or NIC joins br-mgmt/br-ex to the physical network; GRE tunnels join the seed controllers."""
    found = procedure.wiring_problems(ctx, _seed_controllers(ctx))
    evidence.attach("GRE ports", found["gre"])
    assert not found["problems"], "; ".join(found["problems"])


@_suite
def test_seed_has_its_own_cluster(ctx) -> None:  # noqa: ANN001
    """Pacemaker and Galera of the seed controllers: all of them, and only them, with quorum."""
    controllers = _seed_controllers(ctx)
    names = sorted((c["hostname"] for c in controllers), key=lambda h: (len(h), h))
    view = procedure.cluster_view(ctx, controllers)
    evidence.attach("cluster as each seed controller sees it", view)
    problems = procedure.cluster_problems(view, names)
    assert not problems, "; ".join(problems)


@_suite
@pytest.mark.superseded_by("stage5_upgrade_control")
def test_no_ip_conflict(ctx) -> None:  # noqa: ANN001
    """Every VIP and every original controller's management/public address is answered (ARP, seen from
    each original controller) by one MAC, an original controller's: the seed's copies stay off the wire."""
    found = procedure.conflicts(ctx, ctx.env_id)
    evidence.attach("ARP answers", found["answers"])
    evidence.attach("original controllers' MACs", found["original_macs"])
    assert not found["problems"], "; ".join(found["problems"])


@_suite
@pytest.mark.superseded_by("stage6_upgrade_nodes")
def test_original_untouched(ctx, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """The original env as Fuel describes it (status, nodes, settings, addressing) is the baseline's."""
    now = fuelstate.env_state(ctx.fuel, ctx.env_id)
    changed = fuelstate.differences(baseline["fuel"], now)
    evidence.attach("differences from the baseline", changed)
    assert now["env"]["status"] == "operational"
    assert not changed, f"env {ctx.env_id} changed since the baseline: {changed}"


READS = {"servers": cloud.servers, "networks": cloud.networks, "volumes": cloud.volumes,
         "images": cloud.images, "projects": cloud.projects, "stacks": cloud.stacks}


@_suite
def test_original_serving(cloud_orig, baseline: dict[str, Any]) -> None:  # noqa: ANN001
    """The original's APIs answer, twice alike (no second cluster answering in turn), and every VM
    of the baseline is still listed ACTIVE."""
    first = {name: read(cloud_orig) for name, read in READS.items()}
    second = {name: read(cloud_orig) for name, read in READS.items()}
    ids = {name: [r["id"] for r in rows] for name, rows in first.items()}
    evidence.attach("ids read", ids)
    assert ids == {name: [r["id"] for r in rows] for name, rows in second.items()}, "two reads disagree"
    status = {s["id"]: s["status"] for s in first["servers"]}
    wanted = [s["id"] for s in baseline["cloud"]["servers"] if s["status"] == "ACTIVE"]
    assert wanted, "the baseline has no ACTIVE VM"
    lost = {i: status.get(i, "missing") for i in wanted if status.get(i) != "ACTIVE"}
    assert not lost, f"baseline VMs no longer ACTIVE: {lost}"
