"""Configuration files deployment writes on a node, rendered from the env's layout and secrets.

The lab's services read these files back (part 2: the HAProxy model reads
haproxy.cfg and conf.d/*, nova-compute its rabbit settings and upgrade pin,
the `ceph` command its ceph.conf), so a file edited over SSH changes what the
lab does, exactly as on a real node.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fuellab.install import write
from fuellab.world import Cluster, Node, World

SERVICES = ("nova", "keystone", "neutron", "cinder", "glance", "heat")

# Ports HAProxy publishes on the VIPs, and the backends behind them (Fuel 6.1/7.0 layout).
API_PORTS: dict[str, int] = {
    "keystone-1": 5000,
    "keystone-2": 35357,
    "nova-api-1": 8773,
    "nova-api-2": 8774,
    "nova-metadata-api": 8775,
    "glance-api": 9292,
    "glance-registry": 9191,
    "cinder-api": 8776,
    "neutron": 9696,
    "heat-api": 8004,
    "heat-api-cfn": 8000,
    "mysqld": 3306,
}


BACKEND_PORTS: dict[str, int] = {"mysqld": 3307}


def generate_secrets() -> dict[str, Any]:
    """What Nailgun generates for a new env (its `generated` attributes)."""

    def pw() -> str:
        return secrets.token_urlsafe(18)

    out: dict[str, Any] = {
        "access": {"user": "admin", "password": pw(), "tenant": "admin", "email": "admin@localhost"},
        "rabbit": {"user": "nova", "password": pw()},
        "mysql": {"root_password": pw(), "wsrep_password": pw()},
        "keystone": {"db_password": pw(), "admin_token": pw()},
        "ceph": {"fsid": str(uuid.uuid4())},
    }
    for svc in ("nova", "neutron", "cinder", "glance", "heat"):
        out[svc] = {"db_password": pw(), "user_password": pw()}
    out["neutron"]["metadata_proxy_shared_secret"] = pw()
    return out


def _controllers(world: World, cluster: Cluster) -> list[Node]:
    return [n for n in world.cluster_nodes(cluster.id) if "controller" in n.roles or "controller" in n.pending_roles]


def _ini(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


def _db_url(cluster: Cluster, service: str) -> str:
    password = cluster.generated[service]["db_password"]
    return f"mysql://{service}:{password}@{cluster.vips.get('management', '')}/{service}?read_timeout=60"


def rabbit_settings(world: World, cluster: Cluster) -> dict[str, str]:
    hosts = ",".join(f"{n.ips['management']}:5673" for n in _controllers(world, cluster) if "management" in n.ips)
    rabbit = cluster.generated["rabbit"]
    return {"rabbit_hosts": hosts, "rabbit_userid": rabbit["user"], "rabbit_password": rabbit["password"],
            "rabbit_ha_queues": "True"}


def keystone_token_settings(world: World, cluster: Cluster) -> dict[str, dict[str, str]]:
    """Fuel 6.1 and 7.0 keep keystone's UUID tokens in the controllers' memcached, not in MySQL."""
    servers = ",".join(f"{n.ips['management']}:11211" for n in _controllers(world, cluster) if "management" in n.ips)
    return {"token": {"provider": "keystone.token.providers.uuid.Provider",
                      "driver": "keystone.token.persistence.backends.memcache_pool.Token"},
            "memcache": {"servers": servers}}


def nova_conf(world: World, cluster: Cluster, node: Node) -> str:
    default = {
        "host": node.hostname,
        "my_ip": node.ips.get("management", ""),
        "state_path": "/var/lib/nova",
        "compute_driver": "libvirt.LibvirtDriver",
        **rabbit_settings(world, cluster),
    }
    sections: dict[str, dict[str, Any]] = {"DEFAULT": default}
    if "controller" in node.roles:
        sections["database"] = {"connection": _db_url(cluster, "nova")}
    if "compute" in node.roles:
        sections["libvirt"] = {
            "virt_type": "kvm",
            "images_type": "rbd",
            "images_rbd_pool": "compute",
            "live_migration_flag": "VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,"
            "VIR_MIGRATE_LIVE,VIR_MIGRATE_PERSIST_DEST",
        }
    sections["keystone_authtoken"] = {
        "auth_uri": f"http://{cluster.vips.get('public', '')}:5000/v2.0",
        "admin_user": "nova",
        "admin_password": cluster.generated["nova"]["user_password"],
        "admin_tenant_name": "services",
    }
    return _ini(sections)


def ceph_conf(world: World, cluster: Cluster) -> str:
    mons = _controllers(world, cluster)
    return _ini({
        "global": {
            "fsid": cluster.generated["ceph"]["fsid"],
            "mon_initial_members": " ".join(n.hostname for n in mons),
            "mon_host": " ".join(n.ips.get("management", "") for n in mons),
            "auth_cluster_required": "cephx",
            "auth_service_required": "cephx",
            "auth_client_required": "cephx",
            "osd_pool_default_size": 2,
            "public_network": world.networks["management"].cidr,
            "cluster_network": world.networks["storage"].cidr,
        },
        "client": {"rbd_cache": "True"},
    })


def haproxy_cfg() -> str:
    return (
        "global\n  daemon\n  maxconn 16000\n  pidfile /var/run/haproxy.pid\n  stats socket /var/lib/haproxy/stats\n\n"
        "defaults\n  log global\n  maxconn 8000\n  mode http\n  retries 3\n"
        "  timeout http-request 10s\n  timeout queue 1m\n  timeout connect 10s\n"
        "  timeout client 1m\n  timeout server 1m\n  timeout check 10s\n\n"
        "include conf.d/*.cfg\n"
    )


def haproxy_frontend(world: World, cluster: Cluster, name: str, port: int) -> str:
    vips = cluster.vips
    public = name not in ("mysqld", "glance-registry", "nova-metadata-api", "keystone-2")
    lines = [f"listen {name}"]
    if public and "public" in vips:
        lines.append(f"  bind {vips['public']}:{port}")
    if "management" in vips:
        lines.append(f"  bind {vips['management']}:{port}")
    lines.append("  mode tcp" if name == "mysqld" else "  option httplog")
    # Galera's mysqld listens on 3307 on each controller; HAProxy publishes it as 3306.
    backend_port = BACKEND_PORTS.get(name, port)
    for node in _controllers(world, cluster):
        if "management" in node.ips:
            lines.append(f"  server {node.hostname} {node.ips['management']}:{backend_port} check inter 10s")
    return "\n".join(lines) + "\n"


def corosync_conf(world: World, cluster: Cluster) -> str:
    members = "".join(
        f"  node {{\n    ring0_addr: {n.ips.get('management', '')}\n    nodeid: {n.id}\n  }}\n"
        for n in _controllers(world, cluster)
    )
    return f"totem {{\n  version: 2\n  cluster_name: env-{cluster.id}\n}}\nnodelist {{\n{members}}}\nquorum {{\n  provider: corosync_votequorum\n}}\n"


def astute_yaml(world: World, cluster: Cluster, node: Node) -> str:
    import yaml

    facts = {
        "uid": str(node.id),
        "fqdn": f"{node.hostname}.domain.tld",
        "role": node.roles[0] if node.roles else "",
        "roles": node.roles,
        "deployment_id": cluster.id,
        "openstack_version": world.cluster_release(cluster).version,
        "management_vip": cluster.vips.get("management"),
        "public_vip": cluster.vips.get("public"),
        "network_scheme": {"endpoints": {k: v for k, v in node.ips.items()}},
    }
    return yaml.dump(facts, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def write_all(world: World, cluster: Cluster, node: Node) -> None:
    root = world.rootfs(node)
    write(root, "/etc/astute.yaml", astute_yaml(world, cluster, node), 0o600)
    if {"controller", "compute"} & set(node.roles):
        write(root, "/etc/nova/nova.conf", nova_conf(world, cluster, node), 0o640)
        write(root, "/etc/neutron/neutron.conf", _ini({"DEFAULT": {
            "core_plugin": "neutron.plugins.ml2.plugin.Ml2Plugin", **rabbit_settings(world, cluster)},
            "database": {"connection": _db_url(cluster, "neutron")} if "controller" in node.roles else {},
        }), 0o640)
    if {"controller", "compute", "ceph-osd"} & set(node.roles):
        # The env's first controller's conf once it has one ("config pull"), else a new one.
        from fuellab import ceph

        write(root, "/etc/ceph/ceph.conf", ceph.conf_for(world, cluster, node))
    if "controller" in node.roles:
        for svc in ("keystone", "glance", "cinder", "heat"):
            conf = {"keystone": "keystone.conf", "glance": "glance-api.conf",
                    "cinder": "cinder.conf", "heat": "heat.conf"}[svc]
            body = {"DEFAULT": {**rabbit_settings(world, cluster)} if svc != "keystone" else
                    {"admin_token": cluster.generated["keystone"]["admin_token"]},
                    "database": {"connection": _db_url(cluster, svc)}}
            if svc == "keystone":
                body.update(keystone_token_settings(world, cluster))
            write(root, f"/etc/{svc}/{conf}", _ini(body), 0o640)
        write(root, "/etc/haproxy/haproxy.cfg", haproxy_cfg())
        for name, port in API_PORTS.items():
            write(root, f"/etc/haproxy/conf.d/{port:03d}-{name}.cfg",
                  haproxy_frontend(world, cluster, name, port))
        write(root, "/etc/corosync/corosync.conf", corosync_conf(world, cluster))
        write(root, "/root/openrc", (
            f"export OS_AUTH_URL=http://{cluster.vips.get('management', '')}:5000/v2.0\n"
            f"export OS_USERNAME={cluster.generated['access']['user']}\n"
            f"export OS_TENANT_NAME={cluster.generated['access']['tenant']}\n"
            f"export OS_PASSWORD='{cluster.generated['access']['password']}'\n"
        ), 0o600)
