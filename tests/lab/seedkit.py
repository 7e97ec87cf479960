"""The side-by-side upgrade's moves, as shell commands and Fuel API calls, for lab tests.

Deploy an isolated seed controller (the original's VIPs and controller IPs on
a segment of its own), dump the original's databases, restore and sync them
on the seed, and switch control by moving OVS patch ports: what octane does,
and what a faulty runbook does wrongly when a test leaves a step out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.lab.fuelhttp import FuelHTTP, sftp_read, sftp_write
from tests.labkit import LabHandle

SERVICES = ("cinder", "glance", "heat", "keystone", "neutron", "nova")
CONTROLLERS = ("node-1", "node-2", "node-3")
SEED_NODE = 10
SEED_HOST = f"node-{SEED_NODE}"
# What octane runs on the seed after the restore, in its order.
SYNC = ("keystone-manage db_sync", "nova-manage db sync", "heat-manage db_sync", "glance-manage db_sync",
        "neutron-db-manage --config-file=/etc/neutron/neutron.conf upgrade head", "cinder-manage db sync")
DUMP = ("set -o pipefail; mysqldump --add-drop-database --lock-all-tables --databases "
        + " ".join(SERVICES) + " | gzip > /root/dump.gz")
RESTORE = "zcat /root/dump.gz | mysql"
# Schema versions per release, as `*-manage db version` and the version tables show them.
JUNO = {"nova": "254", "keystone": "55", "cinder": "26", "glance": "35", "heat": "47"}
KILO = {"nova": "280", "keystone": "67", "cinder": "40", "glance": "41", "heat": "62"}
# The controllers' role bridges and the NIC bridge each is patched to (Fuel's default scheme).
WIRED = (("br-mgmt", "eth2"), ("br-ex", "eth1"))


def ok(lab: LabHandle, host: str, command: str, stdin: bytes | None = None) -> str:
    """Run a command on a node; its stdout, or an assertion error with what it printed."""
    status, out, err = lab.run(host, command, stdin=stdin)
    assert status == 0, f"{command} on {host}: {status}\n{out}\n{err}"
    return out


def versions(lab: LabHandle, host: str) -> dict[str, str]:
    """The schema version of each service database the host's MySQL serves (neutron: alembic head)."""
    found = {svc: ok(lab, host, f"mysql -N -e 'SELECT version FROM {svc}.migrate_version'").strip()
             for svc in JUNO}
    found["neutron"] = ok(lab, host, "mysql -N -e 'SELECT version_num FROM neutron.alembic_version'").strip()
    return found


# --------------------------------------------------------------------------- deploying the seed


def without_wire_patches(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deployment facts whose network scheme leaves br-mgmt and br-ex unpatched (octane's isolation)."""
    for entry in facts:
        steps = entry["network_scheme"]["transformations"]
        entry["network_scheme"]["transformations"] = [
            s for s in steps if not (s["action"] == "add-patch" and {"br-mgmt", "br-ex"} & set(s["bridges"]))]
    return facts


def seed_with_controller(lab: LabHandle, node_id: int = SEED_NODE) -> tuple[FuelHTTP, int]:
    """Clone env 1 to a Kilo seed with its VIPs copied and `node_id` pending as its controller."""
    api = FuelHTTP(lab)
    sid = api.clone()["id"]
    api.call("POST", f"clusters/{sid}/upgrade/vips")
    api.call("POST", f"clusters/{sid}/assignment/", [{"id": node_id, "roles": ["controller"]}])
    return api, sid


def deploy(api: FuelHTTP, sid: int) -> None:
    task = api.call("PUT", f"clusters/{sid}/changes", {}, expect=202)
    assert api.wait_task(task["id"])["status"] == "ready"


def isolated_seed(lab: LabHandle, node_id: int = SEED_NODE) -> int:
    """Clone env 1 to a Kilo seed and deploy `node_id` as its controller, unplugged from mgmt/public."""
    api, sid = seed_with_controller(lab, node_id)
    facts = api.get(f"clusters/{sid}/orchestrator/deployment/defaults/?nodes={node_id}")
    api.call("PUT", f"clusters/{sid}/orchestrator/deployment", without_wire_patches(facts))
    deploy(api, sid)
    return sid


# --------------------------------------------------------------------------- moving the databases


def copy_file(lab: LabHandle, src: str, dst: str, path: str) -> None:
    data = sftp_read(lab, src, path)
    assert data, f"{path} missing on {src}"
    sftp_write(lab, dst, path, data)


def dump(lab: LabHandle, host: str = "node-1") -> None:
    ok(lab, host, DUMP)


def restore(lab: LabHandle, src: str = "node-1", dst: str = SEED_HOST) -> None:
    """Carry /root/dump.gz from `src` to `dst` and load it there."""
    copy_file(lab, src, dst, "/root/dump.gz")
    ok(lab, dst, RESTORE)


def sync(lab: LabHandle, host: str = SEED_HOST, commands: Iterable[str] = SYNC) -> None:
    for command in commands:
        ok(lab, host, command)


# --------------------------------------------------------------------------- switching control


def plug(bridge: str, nic: str) -> str:
    """The ovs-vsctl command that patches a role bridge to its NIC's bridge."""
    a, b = f"{bridge}--br-{nic}", f"br-{nic}--{bridge}"
    return (f"ovs-vsctl add-port {bridge} {a} -- set interface {a} type=patch options:peer={b} "
            f"-- add-port br-{nic} {b} -- set interface {b} type=patch options:peer={a}")


UNPLUG = "ovs-vsctl " + " -- ".join(f"del-port {bridge} {bridge}--br-{nic}" for bridge, nic in WIRED)


def unplug_originals(lab: LabHandle, hosts: Iterable[str] = CONTROLLERS) -> None:
    """Delete the original controllers' br-mgmt/br-ex patches: they leave both wires."""
    for host in hosts:
        ok(lab, host, UNPLUG)


def plug_seed(lab: LabHandle, host: str = SEED_HOST) -> None:
    for bridge, nic in WIRED:
        ok(lab, host, plug(bridge, nic))


def switch_control(lab: LabHandle, seed_host: str = SEED_HOST) -> None:
    """upgrade-control's network move: the original controllers off the wires, the seed on them."""
    unplug_originals(lab)
    plug_seed(lab, seed_host)


# --------------------------------------------------------------------------- maintenance mode


API_FRONTENDS = ("8774-nova-api-2", "8776-cinder-api", "9696-neutron", "9292-glance-api", "8004-heat-api")
READ_ONLY = "  use_backend maintenance if !METH_GET"  # reads pass, every other method gets 503
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"


def _frontend(name: str) -> str:
    return f"/etc/haproxy/conf.d/{name}.cfg"


def enter_maintenance(lab: LabHandle, hosts: tuple[str, ...] = CONTROLLERS, rule: str = READ_ONLY,
                      frontends: Iterable[str] = API_FRONTENDS) -> None:
    """Stage 3's maintenance: a `backend maintenance` and `rule` in each API frontend, kept copies of
    the files as they were, then p_haproxy restarted (HAProxy reads its files only when it starts)."""
    frontends = tuple(frontends)
    steps = [f"cp {HAPROXY_CFG} /root/haproxy.cfg.orig", f"echo 'backend maintenance' >> {HAPROXY_CFG}"]
    for name in frontends:
        steps += [f"cp {_frontend(name)} /root/{name}.cfg.orig", f"echo '{rule}' >> {_frontend(name)}"]
    for host in hosts:
        ok(lab, host, " && ".join(steps))
    ok(lab, hosts[0], "crm resource restart p_haproxy")


def leave_maintenance(lab: LabHandle, hosts: tuple[str, ...] = CONTROLLERS,
                      frontends: Iterable[str] = API_FRONTENDS) -> None:
    """Put back the files `enter_maintenance` kept, and restart p_haproxy."""
    steps = [f"cp /root/haproxy.cfg.orig {HAPROXY_CFG}", *(f"cp /root/{n}.cfg.orig {_frontend(n)}" for n in frontends)]
    for host in hosts:
        ok(lab, host, " && ".join(steps))
    ok(lab, hosts[0], "crm resource restart p_haproxy")
