"""The rows a fresh Fuel deployment leaves in an env's databases.

`ensure(world, cluster, service, conn)` adds the env-level rows puppet and
Fuel's post-deployment tasks create (keystone domain, projects, users with the
env's passwords, roles, the service catalog on the env's VIPs; nova flavors
and default quotas; cinder default quotas; glance's TestVM image in Ceph;
neutron's net04 / net04_ext / router04 and the admin default security group).
`register(world, cluster, node, service, conn)` adds what a node's services
register when they start (nova services and compute node, cinder services,
neutron agents and, on the first controller, the router and DHCP bindings,
heat engines on Kilo).

Both only add missing rows (matched by natural key): a redeploy never wipes
or duplicates data. Rows are written with the columns the database has, so
the same code seeds a Juno and a Kilo schema. IDs are derived from the env
and the object's name (uuid5), so a lab rebuilt from the same scenario has
the same IDs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import uuid
from typing import Any

from fuellab.releases import KILO
from fuellab.world import Cluster, Node, World

_NS = uuid.UUID("6b6f6b6f-6675-656c-6c61-622d6f73746b")
REGION = "RegionOne"
MEMBER_ROLE_ID = "9fe2ff9ee4384b1894a90878d3e92bab"  # keystone's fixed id of _member_
FLAVORS = (  # name, id, flavorid, memory_mb, vcpus, root_gb: nova's defaults plus Fuel's m1.micro
    ("m1.tiny", 1, "1", 512, 1, 1),
    ("m1.small", 2, "2", 2048, 1, 20),
    ("m1.medium", 3, "3", 4096, 2, 40),
    ("m1.large", 4, "4", 8192, 4, 80),
    ("m1.xlarge", 5, "5", 16384, 8, 160),
    ("m1.micro", 6, None, 64, 1, 0),
)
NOVA_QUOTAS = {"instances": 10, "cores": 20, "ram": 51200, "floating_ips": 10, "fixed_ips": -1,
               "metadata_items": 128, "injected_files": 5, "injected_file_content_bytes": 10240,
               "injected_file_path_bytes": 255, "security_groups": 10, "security_group_rules": 20,
               "key_pairs": 100}
CINDER_QUOTAS = {"volumes": 10, "snapshots": 10, "gigabytes": 1000, "consistencygroups": 10}
TESTVM = {"name": "TestVM", "size": 13287936, "checksum": "ee1eca47dc88f4879d8a229cc70a07c6",
          "disk_format": "qcow2", "container_format": "bare", "min_ram": 64}
CATALOG = (  # service name, type, description, public/internal path, admin path, port
    ("keystone", "identity", "OpenStack Identity Service", "/v2.0", "/v2.0", 5000),
    ("nova", "compute", "Openstack Compute Service", "/v2/%(tenant_id)s", None, 8774),
    ("novav3", "computev3", "Openstack Compute Service v3", "/v3", None, 8774),
    ("nova_ec2", "ec2", "EC2 Compatibility Layer", "/services/Cloud", "/services/Admin", 8773),
    ("cinder", "volume", "Cinder Service", "/v1/%(tenant_id)s", None, 8776),
    ("cinderv2", "volumev2", "Cinder Service v2", "/v2/%(tenant_id)s", None, 8776),
    ("glance", "image", "Openstack Image Service", "", None, 9292),
    ("neutron", "network", "Neutron Networking Service", "", None, 9696),
    ("heat", "orchestration", "Openstack Orchestration Service", "/v1/%(tenant_id)s", None, 8004),
    ("heat-cfn", "cloudformation", "Openstack Cloudformation Service", "/v1", None, 8000),
)
SERVICE_USERS = ("nova", "neutron", "cinder", "glance", "heat")
INTERNAL_CIDR = "192.168.111.0/24"


# --------------------------------------------------------------------------- helpers


def sid(cluster: Cluster, *parts: str) -> str:
    """A stable UUID for an object of the env."""
    return str(uuid.uuid5(_NS, f"env-{cluster.id}/" + "/".join(parts)))


def hexid(cluster: Cluster, *parts: str) -> str:
    """A stable keystone-style id (32 hex digits)."""
    return uuid.uuid5(_NS, f"env-{cluster.id}/" + "/".join(parts)).hex


def mac(cluster: Cluster, *parts: str) -> str:
    digest = hashlib.sha256(f"env-{cluster.id}/{'/'.join(parts)}".encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def has_table(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return row is not None


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    """Insert the row's values for the columns the table has; returns the new rowid."""
    have = set(columns(conn, table))
    data = {k: v for k, v in row.items() if k in have}
    names = ", ".join(f'"{k}"' for k in data)
    marks = ", ".join("?" for _ in data)
    cur = conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuple(data.values()))
    return int(cur.lastrowid or 0)


def find(conn: sqlite3.Connection, table: str, **key: Any) -> sqlite3.Row | tuple[Any, ...] | None:
    where = " AND ".join(f'"{k}" IS ?' for k in key)
    return conn.execute(f'SELECT * FROM "{table}" WHERE {where}', tuple(key.values())).fetchone()


def ensure_row(conn: sqlite3.Connection, table: str, row: dict[str, Any], *key: str) -> bool:
    """Insert the row unless one with the same key columns exists; True when inserted."""
    if not has_table(conn, table):
        return False
    if find(conn, table, **{k: row[k] for k in key}) is not None:
        return False
    insert(conn, table, row)
    return True


def keystone_password_hash(password: str, rounds: int = 1000) -> str:
    """How the lab's keystone stores a password (PBKDF2-SHA512, passlib's layout)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds)
    enc = base64.b64encode
    return f"$pbkdf2-sha512${rounds}${enc(salt).decode()}${enc(digest).decode()}"


def keystone_password_check(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("$pbkdf2-sha512$"):
        return False
    _, _, rounds, salt, digest = stored.split("$")
    computed = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds))
    return secrets.compare_digest(computed, base64.b64decode(digest))


def _now(world: World) -> str:
    from fuellab.galera import lab_datetime

    return lab_datetime(world)


def _release(world: World, cluster: Cluster) -> str:
    return world.cluster_release(cluster).version


# --------------------------------------------------------------------------- env-level rows


def ensure(world: World, cluster: Cluster, service: str, conn: sqlite3.Connection) -> None:
    """Add the env-level rows of a fresh deployment that are missing."""
    {"keystone": _keystone, "nova": _nova, "neutron": _neutron, "cinder": _cinder,
     "glance": _glance, "heat": lambda *a: None}[service](world, cluster, conn)


def admin_project_id(cluster: Cluster) -> str:
    return hexid(cluster, "project", "admin")


def services_project_id(cluster: Cluster) -> str:
    return hexid(cluster, "project", "services")


def _keystone(world: World, cluster: Cluster, conn: sqlite3.Connection) -> None:
    gen = cluster.generated
    ensure_row(conn, "domain", {"id": "default", "name": "Default", "enabled": 1, "extra": json.dumps(
        {"description": "Owns users and tenants (i.e. projects) available on Identity API v2."})}, "id")
    ensure_row(conn, "region", {"id": REGION, "description": "", "extra": "{}"}, "id")
    for name, desc in (("admin", "admin tenant"), ("services", "Tenant for the openstack services")):
        ensure_row(conn, "project", {"id": hexid(cluster, "project", name), "name": name, "extra": "{}",
                                     "description": desc, "enabled": 1, "domain_id": "default"},
                   "domain_id", "name")
    roles = {"admin": hexid(cluster, "role", "admin"), "_member_": MEMBER_ROLE_ID,
             "heat_stack_owner": hexid(cluster, "role", "heat_stack_owner"),
             "heat_stack_user": hexid(cluster, "role", "heat_stack_user")}
    for name, role_id in roles.items():
        ensure_row(conn, "role", {"id": role_id, "name": name, "extra": "{}"}, "name")
    access = gen.get("access", {})
    users = [(access.get("user", "admin"), access.get("password", ""), admin_project_id(cluster),
              access.get("email", "admin@localhost"))]
    users += [(svc, gen.get(svc, {}).get("user_password", ""), services_project_id(cluster),
               f"{svc}@localhost") for svc in SERVICE_USERS]
    for name, password, project, email in users:
        user_id = hexid(cluster, "user", name)
        ensure_row(conn, "user", {"id": user_id, "name": name, "extra": json.dumps({"email": email}),
                                  "password": keystone_password_hash(password), "enabled": 1,
                                  "domain_id": "default", "default_project_id": project},
                   "domain_id", "name")
        row = find(conn, "user", domain_id="default", name=name)
        user_id = row[0] if row else user_id
        ensure_row(conn, "assignment", {"type": "UserProject", "actor_id": user_id, "target_id": project,
                                        "role_id": roles["admin"], "inherited": 0},
                   "type", "actor_id", "target_id", "role_id")
    public = cluster.vips.get("public", "")
    internal = cluster.vips.get("management", "")
    for name, stype, desc, path, admin_path, port in CATALOG:
        service_id = hexid(cluster, "service", name)
        ensure_row(conn, "service", {"id": service_id, "type": stype, "enabled": 1,
                                     "extra": json.dumps({"name": name, "description": desc})}, "id")
        admin_port = 35357 if stype == "identity" else port
        urls = {"public": f"http://{public}:{port}{path}",
                "internal": f"http://{internal}:{port}{path}",
                "admin": f"http://{internal}:{admin_port}{admin_path if admin_path is not None else path}"}
        for interface, url in urls.items():
            ensure_row(conn, "endpoint", {"id": hexid(cluster, "endpoint", name, interface),
                                          "legacy_endpoint_id": hexid(cluster, "endpoint", name),
                                          "interface": interface, "service_id": service_id, "url": url,
                                          "extra": "{}", "enabled": 1, "region_id": REGION},
                       "service_id", "interface")


def _nova(world: World, cluster: Cluster, conn: sqlite3.Connection) -> None:
    now = _now(world)
    for name, fid, flavorid, memory, vcpus, root in FLAVORS:
        ensure_row(conn, "instance_types", {
            "created_at": now, "name": name, "id": fid, "memory_mb": memory, "vcpus": vcpus, "swap": 0,
            "flavorid": flavorid or sid(cluster, "flavor", name), "rxtx_factor": 1.0, "root_gb": root,
            "ephemeral_gb": 0, "disabled": 0, "is_public": 1, "deleted": 0}, "name", "deleted")
    for resource, limit in NOVA_QUOTAS.items():
        ensure_row(conn, "quota_classes", {"created_at": now, "class_name": "default", "resource": resource,
                                           "hard_limit": limit, "deleted": 0}, "class_name", "resource")


def _cinder(world: World, cluster: Cluster, conn: sqlite3.Connection) -> None:
    now = _now(world)
    for resource, limit in CINDER_QUOTAS.items():
        ensure_row(conn, "quota_classes", {"created_at": now, "class_name": "default", "resource": resource,
                                           "hard_limit": limit, "deleted": 0}, "class_name", "resource")


def _glance(world: World, cluster: Cluster, conn: sqlite3.Connection) -> None:
    now = _now(world)
    image_id = sid(cluster, "image", "TestVM")
    fsid = cluster.generated.get("ceph", {}).get("fsid", "")
    if ensure_row(conn, "images", {
            "id": image_id, "name": TESTVM["name"], "size": TESTVM["size"], "status": "active",
            "is_public": 1, "created_at": now, "updated_at": now, "deleted": 0,
            "disk_format": TESTVM["disk_format"], "container_format": TESTVM["container_format"],
            "checksum": TESTVM["checksum"], "owner": admin_project_id(cluster), "min_disk": 0,
            "min_ram": TESTVM["min_ram"], "protected": 0}, "name"):
        insert(conn, "image_locations", {"image_id": image_id, "value": f"rbd://{fsid}/images/{image_id}/snap",
                                         "created_at": now, "deleted": 0, "meta_data": "{}",
                                         "status": "active"})


def _neutron(world: World, cluster: Cluster, conn: sqlite3.Connection) -> None:
    tenant = admin_project_id(cluster)
    params = cluster.network_config.get("networking_parameters", {})
    vlan_range = params.get("vlan_range", [1000, 1030])
    internal_cidr = params.get("internal_cidr", INTERNAL_CIDR)
    internal_gw = params.get("internal_gateway", "192.168.111.1")
    floating = world.networks.get("floating")
    nets = {
        "net04": (sid(cluster, "network", "net04"), "vlan", "physnet2", vlan_range[0]),
        "net04_ext": (sid(cluster, "network", "net04_ext"), "flat", "physnet1", None),
    }
    for name, (net_id, ntype, physnet, seg) in nets.items():
        if not ensure_row(conn, "networks", {"tenant_id": tenant, "id": net_id, "name": name,
                                             "status": "ACTIVE", "admin_state_up": 1, "shared": 0}, "name"):
            continue
        insert(conn, "ml2_network_segments", {"id": sid(cluster, "segment", name), "network_id": net_id,
                                              "network_type": ntype, "physical_network": physnet,
                                              "segmentation_id": seg, "is_dynamic": 0})
    ensure_row(conn, "externalnetworks", {"network_id": nets["net04_ext"][0]}, "network_id")
    for vlan in range(vlan_range[0], vlan_range[-1] + 1):
        ensure_row(conn, "ml2_vlan_allocations", {"physical_network": "physnet2", "vlan_id": vlan,
                                                  "allocated": int(vlan == vlan_range[0])},
                   "physical_network", "vlan_id")
    ensure_row(conn, "subnets", {"tenant_id": tenant, "id": sid(cluster, "subnet", "net04"),
                                 "name": "net04__subnet", "network_id": nets["net04"][0], "ip_version": 4,
                                 "cidr": internal_cidr, "gateway_ip": internal_gw, "enable_dhcp": 1,
                                 "shared": 0}, "id")
    if floating is not None:
        ensure_row(conn, "subnets", {"tenant_id": tenant, "id": sid(cluster, "subnet", "net04_ext"),
                                     "name": "net04_ext__subnet", "network_id": nets["net04_ext"][0],
                                     "ip_version": 4, "cidr": floating.cidr,
                                     "gateway_ip": floating.address(1), "enable_dhcp": 0, "shared": 0}, "id")
    ensure_row(conn, "routers", {"tenant_id": tenant, "id": sid(cluster, "router", "router04"),
                                 "name": "router04", "status": "ACTIVE", "admin_state_up": 1,
                                 "enable_snat": 1}, "id")
    sg_id = sid(cluster, "secgroup", tenant, "default")
    if ensure_row(conn, "securitygroups", {"tenant_id": tenant, "id": sg_id, "name": "default",
                                           "description": "default"}, "id"):
        insert(conn, "default_security_group", {"tenant_id": tenant, "security_group_id": sg_id})
        for direction, ether in (("ingress", "IPv4"), ("ingress", "IPv6"), ("egress", "IPv4"),
                                 ("egress", "IPv6")):
            insert(conn, "securitygrouprules", {
                "tenant_id": tenant, "id": sid(cluster, "sgrule", sg_id, direction, ether),
                "security_group_id": sg_id, "direction": direction, "ethertype": ether,
                "remote_group_id": sg_id if direction == "ingress" else None})


# --------------------------------------------------------------------------- per-node rows


def register(world: World, cluster: Cluster, node: Node, service: str, conn: sqlite3.Connection) -> None:
    """Add the rows the node's services register when they start, if missing."""
    fn = {"nova": _nova_node, "neutron": _neutron_node, "cinder": _cinder_node,
          "heat": _heat_node}.get(service)
    if fn is not None:
        fn(world, cluster, node, conn)


NOVA_CONTROLLER_SERVICES = (("nova-consoleauth", "consoleauth"), ("nova-scheduler", "scheduler"),
                            ("nova-conductor", "conductor"), ("nova-cert", "cert"))
NOVA_TOPICS = dict(NOVA_CONTROLLER_SERVICES) | {"nova-compute": "compute"}


def _nova_service(world: World, conn: sqlite3.Connection, host: str, binary: str, topic: str) -> bool:
    return ensure_row(conn, "services", {"created_at": _now(world), "updated_at": _now(world), "host": host,
                                         "binary": binary, "topic": topic, "report_count": 0, "disabled": 0,
                                         "deleted": 0}, "host", "binary", "deleted")


def _nova_job(world: World, cluster: Cluster, node: Node, binary: str, conn: sqlite3.Connection) -> bool:
    """A nova service's report_state row; nova-compute's resource tracker adds its compute node."""
    added = _nova_service(world, conn, node.hostname, binary, NOVA_TOPICS[binary])
    if binary == "nova-compute":
        added = _compute_node(world, node, conn) or added
    return added


def _nova_node(world: World, cluster: Cluster, node: Node, conn: sqlite3.Connection) -> None:
    if "controller" in node.roles:
        for binary, _ in NOVA_CONTROLLER_SERVICES:
            _nova_job(world, cluster, node, binary, conn)
    if "compute" in node.roles:
        _nova_job(world, cluster, node, "nova-compute", conn)


def _compute_node(world: World, node: Node, conn: sqlite3.Connection) -> bool:
    service = conn.execute('SELECT id FROM "services" WHERE host = ? AND "binary" = ? AND deleted = 0',
                           (node.hostname, "nova-compute")).fetchone()
    local_gb = next((v.size // 1024 for d in node.disks for v in d.volumes if v.name == "vm"), 0)
    reserved_mb = 512
    return ensure_row(conn, "compute_nodes", {
        "created_at": _now(world), "updated_at": _now(world), "service_id": service[0] if service else 0,
        "vcpus": node.cpu, "memory_mb": node.memory_mb, "local_gb": local_gb, "vcpus_used": 0,
        "memory_mb_used": reserved_mb, "local_gb_used": 0, "hypervisor_type": "QEMU",
        "hypervisor_version": 2000000,
        "cpu_info": json.dumps({"vendor": "Intel", "model": "SandyBridge", "arch": "x86_64",
                                "features": ["vmx", "sse4.2", "avx"],
                                "topology": {"cores": node.cpu // 2, "threads": 2, "sockets": 1}}),
        "disk_available_least": local_gb, "free_ram_mb": node.memory_mb - reserved_mb,
        "free_disk_gb": local_gb, "current_workload": 0, "running_vms": 0,
        "hypervisor_hostname": f"{node.hostname}.domain.tld", "deleted": 0,
        "host_ip": node.ips.get("management"), "host": node.hostname,
        "supported_instances": json.dumps([["i686", "kvm", "hvm"], ["x86_64", "kvm", "hvm"]]),
        "pci_stats": "[]", "metrics": "[]", "stats": "{}"}, "hypervisor_hostname", "deleted")


OVS_CONFIG = {"bridge_mappings": {"physnet1": "br-ex", "physnet2": "br-prv"}, "tunnel_types": [],
              "tunneling_ip": "", "l2_population": False, "arp_responder_enabled": False,
              "enable_distributed_routing": False, "devices": 0}


def _agent_shape(cluster: Cluster, binary: str) -> tuple[str, str, dict[str, Any]]:
    """An agent's agent_type, topic and the configurations it reports."""
    if binary == "neutron-openvswitch-agent":
        return "Open vSwitch agent", "N/A", OVS_CONFIG
    if binary == "neutron-l3-agent":
        return "L3 agent", "l3_agent", {
            "router_id": "", "gateway_external_network_id": "", "handle_internal_only_routers": True,
            "use_namespaces": True, "routers": 0, "interfaces": 0, "floating_ips": 0,
            "interface_driver": "neutron.agent.linux.interface.OVSInterfaceDriver",
            "agent_mode": "legacy", "ex_gw_ports": 0}
    if binary == "neutron-dhcp-agent":
        return "DHCP agent", "dhcp_agent", {
            "subnets": 0, "use_namespaces": True, "dhcp_lease_duration": 600,
            "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "networks": 0, "ports": 0}
    if binary == "neutron-metadata-agent":
        return "Metadata agent", "N/A", {
            "nova_metadata_port": 8775, "nova_metadata_ip": cluster.vips.get("management", ""),
            "metadata_proxy_socket": "/var/lib/neutron/metadata_proxy"}
    raise KeyError(binary)


def _agent(world: World, cluster: Cluster, conn: sqlite3.Connection, node: Node, binary: str) -> str:
    """The agent's row (its first report_state), added if missing; returns the agent's id."""
    agent_type, topic, config = _agent_shape(cluster, binary)
    now = _now(world)
    agent_id = sid(cluster, "agent", node.hostname, agent_type)
    ensure_row(conn, "agents", {"id": agent_id, "agent_type": agent_type, "binary": binary, "topic": topic,
                                "host": node.hostname, "admin_state_up": 1, "created_at": now,
                                "started_at": now, "heartbeat_timestamp": now,
                                "configurations": json.dumps(config)}, "agent_type", "host")
    row = find(conn, "agents", agent_type=agent_type, host=node.hostname)
    return row[0] if row else agent_id


def _neutron_node(world: World, cluster: Cluster, node: Node, conn: sqlite3.Connection) -> None:
    if not ({"controller", "compute"} & set(node.roles)):
        return
    _agent(world, cluster, conn, node, "neutron-openvswitch-agent")
    if "controller" not in node.roles:
        return
    l3 = _agent(world, cluster, conn, node, "neutron-l3-agent")
    dhcp = _agent(world, cluster, conn, node, "neutron-dhcp-agent")
    _agent(world, cluster, conn, node, "neutron-metadata-agent")
    _first_controller_wiring(world, cluster, node, conn, l3, dhcp)


def _first_controller_wiring(world: World, cluster: Cluster, node: Node, conn: sqlite3.Connection,
                             l3_agent: str, dhcp_agent: str) -> None:
    """The router's ports and its L3 binding, the DHCP port and binding: on the first controller."""
    router_id = sid(cluster, "router", "router04")
    net04 = find(conn, "networks", name="net04")
    ext = find(conn, "networks", name="net04_ext")
    if net04 is None or ext is None or find(conn, "routers", id=router_id) is None:
        return
    if find(conn, "routerl3agentbindings", router_id=router_id) is not None:
        return
    tenant = admin_project_id(cluster)
    params = cluster.network_config.get("networking_parameters", {})
    floating = world.networks.get("floating")
    ports = [
        ("router04-gw", ext[1], "network:router_gateway", router_id, sid(cluster, "subnet", "net04_ext"),
         floating.address(2) if floating else "", ""),
        ("router04-if", net04[1], "network:router_interface", router_id, sid(cluster, "subnet", "net04"),
         params.get("internal_gateway", "192.168.111.1"), tenant),
        ("net04-dhcp", net04[1], "network:dhcp", f"dhcp{sid(cluster, 'dhcp', node.hostname)}-{net04[1]}",
         sid(cluster, "subnet", "net04"), _dhcp_address(params.get("internal_cidr", INTERNAL_CIDR)), tenant),
    ]
    for name, net_id, owner, device, subnet, address, port_tenant in ports:
        port_id = sid(cluster, "port", name)
        if not ensure_row(conn, "ports", {"tenant_id": port_tenant, "id": port_id, "name": "",
                                          "network_id": net_id, "mac_address": mac(cluster, "port", name),
                                          "admin_state_up": 1, "status": "ACTIVE", "device_id": device,
                                          "device_owner": owner}, "id"):
            continue
        insert(conn, "ipallocations", {"port_id": port_id, "ip_address": address, "subnet_id": subnet,
                                       "network_id": net_id})
        segment = find(conn, "ml2_network_segments", network_id=net_id)
        insert(conn, "ml2_port_bindings", {"port_id": port_id, "host": node.hostname, "vif_type": "ovs",
                                           "driver": "openvswitch", "segment": segment[0] if segment else None,
                                           "vnic_type": "normal",
                                           "vif_details": '{"port_filter": true, "ovs_hybrid_plug": true}',
                                           "profile": "{}"})
        if has_table(conn, "ml2_port_binding_levels"):
            insert(conn, "ml2_port_binding_levels", {"port_id": port_id, "host": node.hostname, "level": 0,
                                                     "driver": "openvswitch",
                                                     "segment_id": segment[0] if segment else None})
        if owner.startswith("network:router"):
            insert(conn, "routerports", {"router_id": router_id, "port_id": port_id, "port_type": owner})
            if owner == "network:router_gateway":
                conn.execute('UPDATE "routers" SET gw_port_id = ? WHERE id = ?', (port_id, router_id))
    insert(conn, "routerl3agentbindings", {"router_id": router_id, "l3_agent_id": l3_agent})
    ensure_row(conn, "networkdhcpagentbindings", {"network_id": net04[1], "dhcp_agent_id": dhcp_agent},
               "network_id", "dhcp_agent_id")


def _dhcp_address(cidr: str) -> str:
    import ipaddress

    return str(ipaddress.ip_network(cidr, strict=False).network_address + 2)


def cinder_volume_host(release: str) -> str:
    """The host cinder-volume registers with the Ceph backend: Fuel 7.0 names the backend."""
    return "rbd:volumes@RBD-backend" if release == KILO else "rbd:volumes"


CINDER_SERVICES = ("cinder-scheduler", "cinder-volume")


def _cinder_job(world: World, cluster: Cluster, node: Node, binary: str, conn: sqlite3.Connection) -> bool:
    # cinder-volume on Ceph reports under the backend's name, shared by every controller.
    host = cinder_volume_host(_release(world, cluster)) if binary == "cinder-volume" else node.hostname
    now = _now(world)
    return ensure_row(conn, "services", {"created_at": now, "updated_at": now, "deleted": 0, "host": host,
                                         "binary": binary, "topic": binary, "report_count": 0, "disabled": 0,
                                         "availability_zone": "nova"}, "host", "binary")


def _cinder_node(world: World, cluster: Cluster, node: Node, conn: sqlite3.Connection) -> None:
    if "controller" not in node.roles:
        return
    for binary in CINDER_SERVICES:
        _cinder_job(world, cluster, node, binary, conn)


def _heat_job(world: World, cluster: Cluster, node: Node, binary: str, conn: sqlite3.Connection) -> bool:
    if not has_table(conn, "service"):
        return False  # Juno's heat-engine registers nowhere: the table came with Kilo
    now = _now(world)
    return ensure_row(conn, "service", {"id": sid(cluster, "heat-engine", node.hostname),
                                        "engine_id": sid(cluster, "heat-engine-id", node.hostname),
                                        "host": node.hostname, "hostname": node.hostname,
                                        "binary": "heat-engine", "topic": "engine", "report_interval": 60,
                                        "created_at": now, "updated_at": now}, "host", "binary")


def _heat_node(world: World, cluster: Cluster, node: Node, conn: sqlite3.Connection) -> None:
    if "controller" in node.roles:
        _heat_job(world, cluster, node, "heat-engine", conn)


def _neutron_job(world: World, cluster: Cluster, node: Node, binary: str, conn: sqlite3.Connection) -> bool:
    agent_type = _agent_shape(cluster, binary)[0]
    if not has_table(conn, "agents") or find(conn, "agents", agent_type=agent_type, host=node.hostname):
        return False
    _agent(world, cluster, conn, node, binary)
    return True


# The upstart job that runs a self-registering service -> (its database, its binary).
REGISTERING_JOBS: dict[str, tuple[str, str]] = {
    **{binary: ("nova", binary) for binary in NOVA_TOPICS},
    "neutron-plugin-openvswitch-agent": ("neutron", "neutron-openvswitch-agent"),
    "neutron-l3-agent": ("neutron", "neutron-l3-agent"),
    "neutron-dhcp-agent": ("neutron", "neutron-dhcp-agent"),
    "neutron-metadata-agent": ("neutron", "neutron-metadata-agent"),
    **{binary: ("cinder", binary) for binary in CINDER_SERVICES},
    "heat-engine": ("heat", "heat-engine"),
}
_JOB_ROWS = {"nova": _nova_job, "neutron": _neutron_job, "cinder": _cinder_job, "heat": _heat_job}


def register_job(world: World, cluster: Cluster, node: Node, job: str, conn: sqlite3.Connection) -> bool:
    """Add the row `job` running on `node` registers (report_state), if missing; True when added.

    `conn` is the job's database (REGISTERING_JOBS); other jobs register nothing."""
    if job not in REGISTERING_JOBS:
        return False
    database, binary = REGISTERING_JOBS[job]
    return _JOB_ROWS[database](world, cluster, node, binary, conn)
