"""Whether a service or agent registered in an env's database is alive in that env.

The APIs show `state: up/down` (nova, cinder) and `alive` (neutron) from what
runs, never from a stored flag:

- nova-compute: the data plane decides (fuellab.dataplane.plane.compute_up:
  the compute's nova.conf reaches the env's RabbitMQ with its credentials, a
  conductor runs, RPC versions match);
- a neutron agent on a compute: its job runs and its neutron.conf reaches one
  of the env's RabbitMQ brokers with the env's credentials (same rule as
  nova-compute, read from the agent's own configuration);
- a service of a controller (scheduler, conductor, L3/DHCP/metadata agents,
  cinder-scheduler, heat-engine): the node is a controller of the env, online,
  running that job — the env's control plane;
- cinder-volume on Ceph registers under a backend name, not a hostname, and the
  name depends on the release of the cinder-volume that runs (Juno `rbd:volumes`,
  Kilo `rbd:volumes@RBD-backend`): a backend is up while a controller of the env
  runs a cinder-volume that reports under that name. Volumes keep the backend
  they were created on (their `host`), which is why an upgrade moves them with
  `cinder-manage volume update_host`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fuellab import services
from fuellab.node.context import node_path

if TYPE_CHECKING:
    from fuellab.lab import Lab
    from fuellab.world import Cluster, Node

# A neutron agent's binary -> the upstart job that runs it.
AGENT_JOBS = {
    "neutron-openvswitch-agent": "neutron-plugin-openvswitch-agent",
    "neutron-l3-agent": "neutron-l3-agent",
    "neutron-dhcp-agent": "neutron-dhcp-agent",
    "neutron-metadata-agent": "neutron-metadata-agent",
}


def _control_member(lab: Lab, cluster: Cluster, node: Node | None, job: str) -> bool:
    return (node is not None and node.online and node.cluster == cluster.id
            and "controller" in node.roles and services.is_running(lab.world, node, job))


def compute_up(lab: Lab, cluster: Cluster, host: str) -> bool:
    # Not memoised across requests: the verdict also follows files edited over SSH (nova.conf
    # pins, installed packages) that change no world object. A listing asks once per host.
    from fuellab.dataplane import plane

    return plane.compute_up(lab, cluster, host)


def nova_service_up(lab: Lab, cluster: Cluster, host: str, binary: str) -> bool:
    if binary == "nova-compute":
        return compute_up(lab, cluster, host)
    return _control_member(lab, cluster, lab.world.node_by_hostname(host), binary)


def _reaches_env_rabbit(lab: Lab, cluster: Cluster, node: Node, conf_path: str) -> bool:
    from fuellab.dataplane import plane

    try:
        text = node_path(lab, node, conf_path).read_text()
    except OSError:
        return False
    conf = plane.parse_nova_conf(text)
    brokers = [b for b, _ in plane.rabbit_brokers(lab, node, conf) if b.cluster == cluster.id]
    rabbit = cluster.generated.get("rabbit", {})
    return bool(brokers) and conf.userid == rabbit.get("user") and conf.password == rabbit.get("password")


def agent_alive(lab: Lab, cluster: Cluster, host: str, binary: str) -> bool:
    node = lab.world.node_by_hostname(host)
    job = AGENT_JOBS.get(binary, binary)
    if node is None or not node.online:
        return False
    if "controller" in node.roles and node.cluster == cluster.id:
        return services.is_running(lab.world, node, job)
    if "compute" in node.roles:
        return services.is_running(lab.world, node, job) and _reaches_env_rabbit(
            lab, cluster, node, "/etc/neutron/neutron.conf")
    return False


def volume_backend(lab: Lab, node: Node) -> str | None:
    """The backend name the node's installed cinder-volume reports under (None: not installed)."""
    from fuellab.dataplane import plane
    from fuellab.openstack import seed
    from fuellab.releases import JUNO, KILO

    codename = plane.codename_of_version(plane.installed(lab.world, node).get("cinder-volume"))
    return seed.cinder_volume_host({"juno": JUNO, "kilo": KILO}[codename]) if codename else None


def cinder_service_up(lab: Lab, cluster: Cluster, host: str, binary: str) -> bool:
    world = lab.world
    node = world.node_by_hostname(host.split("@", 1)[0])
    if node is not None:
        return _control_member(lab, cluster, node, binary)
    # A backend name shared by every controller's cinder-volume of one release (Fuel's Ceph layout).
    backend = host.split("#", 1)[0]
    return any(_control_member(lab, cluster, n, binary) and volume_backend(lab, n) == backend
               for n in world.cluster_nodes(cluster.id))


def heat_engine_up(lab: Lab, cluster: Cluster, host: str) -> bool:
    return _control_member(lab, cluster, lab.world.node_by_hostname(host), "heat-engine")
