"""Files a client needs to reach the lab, written by `fuellab up` into the lab directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from fuellab import keys
from fuellab.lab import write_secret_file

if TYPE_CHECKING:
    from fuellab.lab import Lab

FUEL_USER = "admin"
FUEL_TENANT = "admin"
FUEL_PASSWORD = "fuel_admin_password"  # name of the secret file


def host_pattern(lab: Lab, address: str) -> str:
    port = lab.settings.ssh_port
    return address if port == 22 else f"[{address}]:{port}"


def write_known_hosts(lab: Lab) -> None:
    lines = []
    for node in sorted(lab.world.nodes.values(), key=lambda n: n.id):
        key = keys.ensure_key(lab.host_key_path(node), f"root@{node.hostname}")
        pub = keys.public_line(key).split()[:2]
        lines.append(f"{host_pattern(lab, node.admin_ip)} {' '.join(pub)}")
    (lab.dir / "known_hosts").write_text("\n".join(lines) + "\n")


def write_ssh_config(lab: Lab) -> None:
    d = lab.dir
    prefix = lab.settings.prefix
    blocks = [
        f"Host node-{n.id}\n  HostName {n.admin_ip}\n"
        for n in sorted(lab.world.nodes.values(), key=lambda n: n.id)
    ]
    blocks.append(
        f"Host node-* 127.{prefix}.*\n"
        "  User root\n"
        f"  Port {lab.settings.ssh_port}\n"
        f"  IdentityFile {d / 'id_ed25519'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n"
        "  ConnectTimeout 10\n"
    )
    (d / "ssh_config").write_text("\n".join(blocks))


def write_fuel_client(lab: Lab) -> None:
    settings = {
        "SERVER_ADDRESS": lab.world.master_ip,
        "SERVER_PORT": str(lab.settings.fuel_port),
        "OS_USERNAME": FUEL_USER,
        "OS_PASSWORD": lab.secrets.get(FUEL_PASSWORD),
        "OS_TENANT_NAME": FUEL_TENANT,
        "HTTP_PROXY": None,
        "HTTP_TIMEOUT": 30,
    }
    write_secret_file(lab.dir / "fuel_client.yaml", yaml.safe_dump(settings, sort_keys=False))


def write_clouds(lab: Lab) -> None:
    """One cloud per env whose public VIP exists, as the env's keystone knows its admin.

    The API gateway (fuellab.openstack.gateway) rewrites the file when an env, its
    public VIP or its admin account changes, so a seed gets its `env-<id>` entry."""
    clouds = {}
    for cluster in sorted(lab.world.clusters.values(), key=lambda c: c.id):
        vip = cluster.vips.get("public")
        admin = cluster.generated.get("access", {})
        if not vip or not admin:
            continue
        clouds[f"env-{cluster.id}"] = {
            "auth": {
                "auth_url": f"http://{vip}:5000/v3",
                "username": admin.get("user", "admin"),
                "password": admin.get("password", ""),
                "project_name": admin.get("tenant", "admin"),
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "identity_api_version": 3,
            "region_name": "RegionOne",
            "interface": "public",
        }
    write_secret_file(lab.dir / "clouds.yaml", yaml.safe_dump({"clouds": clouds}, sort_keys=False))


def write_target(lab: Lab) -> None:
    d = lab.dir
    target = {
        "name": f"fuellab ({d})",
        "fuel": {
            "address": lab.world.master_ip,
            "port": lab.settings.fuel_port,
            "username": FUEL_USER,
            "tenant": FUEL_TENANT,
            "password_file": str(lab.secrets.path(FUEL_PASSWORD)),
        },
        "ssh": {
            "user": "root",
            "port": lab.settings.ssh_port,
            "key": str(d / "id_ed25519"),
            "known_hosts": str(d / "known_hosts"),
            "config": str(d / "ssh_config"),
        },
        "clouds": {"file": str(d / "clouds.yaml")},
        "env": lab.world.meta.get("default_env", 1),
        "journal_dir": str(d / "journal"),
        "vm_probe_port": 22 if lab.settings.ssh_port == 22 else 2022,
    }
    (d / "target.yaml").write_text(yaml.safe_dump(target, sort_keys=False))


def write_all(lab: Lab) -> None:
    keys.ensure_key(lab.client_key, "root@fuel-master")
    write_known_hosts(lab)
    write_ssh_config(lab)
    write_fuel_client(lab)
    write_clouds(lab)
    write_target(lab)
