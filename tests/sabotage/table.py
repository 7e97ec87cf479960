"""Which lab fault or altered state makes each stage test fail.

A sabotage is applied to a pristine lab; `run_stage` then runs the stage as a
subprocess against it and the test asserts the mapped stage test FAILS. To
keep the suite short, sabotages that look at different things share one lab
state (`SCENES`): each scene is applied once and the stage is run once per
env id it names, in parallel (each env has its own journal).

`TABLE` maps every stage test id to (scene, env key, what was done to it).
"""

from __future__ import annotations

import sqlite3

from tests.lab.fuelhttp import FuelHTTP
from tests.labkit import LabHandle
from tests.sabotage.harness import Sabotage

STAGE0 = "runbook/stages/stage0_preflight.py"


def _run(lab: LabHandle, node: str, command: str) -> None:
    status, out, err = lab.run(node, command)
    assert status == 0, f"sabotage `{command}` on {node} failed: {out}{err}"


def edit_world(lab: LabHandle, name: str, statements: set[str] | list[str]) -> None:
    """Change what no API can: snapshot the lab, edit the snapshot's world at rest, restore it."""
    lab.snapshot(name)
    with sqlite3.connect(lab.dir / "snapshots" / name / "world.db") as db:
        for sql in statements:
            assert db.execute(sql).rowcount == 1, f"sabotage `{sql}` changed no row"
    lab.restore(name)


def broken_env(lab: LabHandle) -> dict[str, int]:
    """Everything wrong at once, each fault aimed at a different check of env 1, plus two other envs.

    Returns the env ids the stage runs against: "orig" (env 1, broken in place), "seed"
    (a 7.0 clone of env 1: the id given where the original is expected) and "other"
    (a new 7.0 env: not operational, no controllers, Neutron tunnels).
    """
    fuel = FuelHTTP(lab)
    # not_in_upgrade: a seed exists (Nailgun's clone of env 1 to the 7.0 release).
    fuel.call("PUT", "clusters/1/extensions/", ["cluster_upgrade"])
    seed = fuel.call("POST", "clusters/1/upgrade/clone", {"name": "prod-upgrade", "release_id": 2})["id"]
    # neutron_vlan / env_operational / env_ha: another env, new, with tunnels; free_nodes:
    # it takes the three discovered nodes.
    other = fuel.call("POST", "clusters/", {"name": "spare", "release_id": 2, "mode": "ha_compact",
                                            "net_provider": "neutron", "net_segment_type": "tun"},
                      expect=201)["id"]
    fuel.call("POST", f"clusters/{other}/assignment",
              [{"id": n, "roles": ["compute"]} for n in (10, 11, 12)], expect=None)
    # ceph_storage / env_kvm: env 1's settings say LVM volumes and QEMU.
    attrs = fuel.get("clusters/1/attributes")
    attrs["editable"]["storage"]["volumes_ceph"]["value"] = False
    attrs["editable"]["common"]["libvirt_type"]["value"] = "qemu"
    fuel.call("PUT", "clusters/1/attributes?force=1", {"editable": attrs["editable"]})
    # galera_synced: node-3's cluster stack dies (its MySQL leaves the Galera cluster).
    _run(lab, "node-3", "pcs cluster kill")
    # pacemaker_started: a resource stopped cluster-wide.
    _run(lab, "node-1", "crm resource stop clone_p_heat-engine")
    # ceph_health: one OSD down.
    _run(lab, "node-7", "stop ceph-osd id=0")
    # services_up: a nova-compute stopped.
    _run(lab, "node-4", "stop nova-compute")
    # no_error_vms: one instance in ERROR in nova's database.
    _run(lab, "node-1", "mysql -e \"UPDATE nova.instances SET vm_state='error' WHERE deleted=0 "
                        "ORDER BY id LIMIT 1\"")
    # db_backup: mysqldump fails on node-1, the controller preflight dumps from.
    lab.cli("fault", "add", "--node", "node-1", "--op", "mysqldump", "--kind", "fail")
    # env_ubuntu: a controller that is not Ubuntu any more.
    _run(lab, "node-2", "sed -i s/DISTRIB_ID=Ubuntu/DISTRIB_ID=Debian/ /etc/lsb-release")
    # master_version / release_pair: the master says it is 6.1 and 7.0 is not deployable. The API
    # cannot change either, so the world is edited at rest: snapshot, edit, restore.
    edit_world(lab, "sabotage-master", {
        "UPDATE meta SET value = '\"6.1\"' WHERE key = 'master_version'",
        "UPDATE entities SET data = json_set(data, '$.is_deployable', json('false'), '$.state', "
        "'manageonly') WHERE kind = 'release' AND json_extract(data, '$.version') = '2015.1.0-7.0'",
    })
    return {"orig": 1, "seed": seed, "other": other, "missing": 99}


SCENES = {"broken_env": broken_env}

_P = STAGE0 + "::test_precondition"
TABLE: dict[str, Sabotage] = {
    f"{_P}[release_pair]": Sabotage(broken_env, "orig", "the 7.0 release made non-deployable (world edited)"),
    f"{_P}[master_version]": Sabotage(broken_env, "orig", "the master says 6.1 (world edited)"),
    f"{_P}[env_exists]": Sabotage(broken_env, "missing", "--env 99, no such env"),
    f"{_P}[env_release]": Sabotage(broken_env, "seed", "--env <7.0 seed clone>"),
    f"{_P}[not_in_upgrade]": Sabotage(broken_env, "orig", "env 1 cloned to a 7.0 seed"),
    f"{_P}[env_operational]": Sabotage(broken_env, "other", "--env <new env>"),
    f"{_P}[env_ha]": Sabotage(broken_env, "other", "--env <new env without controllers>"),
    f"{_P}[ceph_storage]": Sabotage(broken_env, "orig", "volumes_ceph off in env 1's settings"),
    f"{_P}[neutron_vlan]": Sabotage(broken_env, "other", "--env <new env with tun segmentation>"),
    f"{_P}[env_ubuntu]": Sabotage(broken_env, "orig", "node-2's /etc/lsb-release says Debian"),
    f"{_P}[env_kvm]": Sabotage(broken_env, "orig", "libvirt_type qemu in env 1's settings"),
    f"{_P}[free_nodes]": Sabotage(broken_env, "orig", "the discovered nodes assigned to another env"),
    f"{_P}[galera_synced]": Sabotage(broken_env, "orig", "pcs cluster kill on node-3"),
    f"{_P}[pacemaker_started]": Sabotage(broken_env, "orig", "crm resource stop clone_p_heat-engine"),
    f"{_P}[ceph_health]": Sabotage(broken_env, "orig", "stop ceph-osd id=0 on node-7"),
    f"{_P}[services_up]": Sabotage(broken_env, "orig", "stop nova-compute on node-4"),
    f"{_P}[no_error_vms]": Sabotage(broken_env, "orig", "an instance set to ERROR in nova's DB"),
    f"{_P}[db_backup]": Sabotage(broken_env, "orig", "mysqldump fails on node-1 (fault)"),
    # The baseline is taken only when every check passes.
    f"{STAGE0}::test_baseline_file_is_private": Sabotage(broken_env, "orig", "a check refuses: no baseline"),
    f"{STAGE0}::test_baseline_cloud": Sabotage(broken_env, "orig", "a check refuses: no baseline"),
    f"{STAGE0}::test_baseline_db_rows": Sabotage(broken_env, "orig", "a check refuses: no baseline"),
    f"{STAGE0}::test_baseline_ceph": Sabotage(broken_env, "orig", "a check refuses: no baseline"),
    f"{STAGE0}::test_baseline_fuel": Sabotage(broken_env, "orig", "a check refuses: no baseline"),
}
