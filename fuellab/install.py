"""What provisioning and deployment do to a node: its rootfs, disks, packages, jobs and wiring.

These are the effects only, applied at once. The Fuel orchestrator
(fuellab.fuel.orchestrator) spreads them over lab time as tasks with progress;
scenarios call them directly to build an already-deployed cloud.

- `provision`: a fresh Ubuntu 14.04 rootfs of the release, the master's key
  in root's authorized_keys, data volumes wiped unless `keep_data`, first boot.
- `deploy`: the roles' packages (dpkg status, binaries, upstart jobs),
  configuration files, the OVS network scheme, the pacemaker cluster of the
  env's controllers, then the jobs start.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path
from typing import Any

from fuellab import releases
from fuellab.releases import Package, ReleaseSpec
from fuellab.world import Cluster, Node, World

BINARY_MARK = "#!fuellab-binary\n"  # first line of every installed executable
DPKG_STATUS = "var/lib/dpkg/status"
VIP_SLOTS = 8  # the first addresses of each env range are kept for VIPs
NODE_IP_START = 10


# --------------------------------------------------------------------------- rootfs helpers


def write(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    """Write a node file atomically: a reader over SSH never sees half a config."""
    target = root / path.lstrip("/")
    _ensure_dir(root, target.parent)
    try:
        # Fast path for a new file (most files of a fresh rootfs): create, write, close.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        pass
    except FileNotFoundError:  # a folder we made was removed since (rm -rf over SSH, restore)
        _known_dirs.pop(root, None)
        _ensure_dir(root, target.parent)
        return write(root, path, text, mode)
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        if mode & ~0o755:
            os.chmod(target, mode)
        return target
    tmp = target.with_name(target.name + ".fuellab-tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(target)
    return target


# Folders made under each rootfs by this process: provisioning writes thousands of files
# into a handful of folders, and a stat per file dominated a 500-node lab's creation.
_known_dirs: dict[Path, set[Path]] = {}


def _ensure_dir(root: Path, folder: Path) -> None:
    known = _known_dirs.setdefault(root, set())
    if folder in known:
        return
    folder.mkdir(parents=True, exist_ok=True)
    known.add(folder)


def _binary_path(binary: str) -> str:
    return binary if binary.startswith("/") else f"/usr/bin/{binary}"


def install_packages(root: Path, packages: list[Package]) -> None:
    """Record packages in dpkg's status file and lay down their binaries and jobs."""
    status_file = root / DPKG_STATUS
    entries = _read_dpkg(status_file)
    for pkg in packages:
        entries[pkg.name] = pkg.version
        for binary in pkg.binaries:
            write(root, _binary_path(binary), f"{BINARY_MARK}# package {pkg.name} {pkg.version}\n", 0o755)
        for job in pkg.jobs + pkg.manual_jobs:
            write(root, f"/etc/init/{job}.conf", _upstart_job(job, pkg))
        for job in pkg.manual_jobs:
            # Fuel leaves pacemaker-managed services to pacemaker.
            write(root, f"/etc/init/{job}.override", "manual\n")
    _write_dpkg(status_file, entries)


def _upstart_job(job: str, pkg: Package) -> str:
    instance = "instance $id\n" if job in ("ceph-osd", "ceph-mon") else ""
    return (
        f"# {job} - installed by {pkg.name} {pkg.version}\n"
        f"description \"{job}\"\n"
        "start on runlevel [2345]\nstop on runlevel [!2345]\n"
        f"{instance}respawn\nexec /usr/bin/{job}\n"
    )


def _read_dpkg(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    if not path.exists():
        return entries
    name = None
    for line in path.read_text().splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and name:
            entries[name] = line.split(": ", 1)[1]
    return entries


def _write_dpkg(path: Path, entries: dict[str, str]) -> None:
    blocks = [
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Architecture: amd64\nVersion: {version}\n"
        for name, version in sorted(entries.items())
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks))


def installed_packages(root: Path) -> dict[str, str]:
    return _read_dpkg(root / DPKG_STATUS)


def boot_jobs(root: Path) -> list[str]:
    """Jobs upstart starts at boot: a `start on` stanza and no `manual` override."""
    init = root / "etc/init"
    jobs = []
    for conf in sorted(init.glob("*.conf")) if init.exists() else []:
        job = conf.stem
        override = init / f"{job}.override"
        if override.exists() and "manual" in override.read_text():
            continue
        text = conf.read_text()
        if "start on" not in text or "instance $id" in text:
            continue  # instance jobs (ceph-osd id=N) are started per instance
        jobs.append(job)
    return jobs


# --------------------------------------------------------------------------- provisioning


def provision(world: World, node: Node, version: str) -> None:
    """Write a fresh OS disk for `version`; wipe every data volume not marked keep_data."""
    spec = releases.spec(version)
    root = world.rootfs(node)
    _known_dirs.pop(root, None)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    _lay_base_system(world, node, spec, root)
    install_packages(root, list(spec.base))
    for disk in node.disks:
        # Every volume but the OS itself is a partition of its own (the OS disk of a
        # compute also carries `vm`, a controller's `mysql`, `logs`, `image`).
        for volume in (v for v in disk.volumes if v.name != "os"):
            vdir = world.disk_dir(node, disk.name) / volume.name
            if not volume.keep_data and vdir.exists():
                shutil.rmtree(vdir)
            vdir.mkdir(parents=True, exist_ok=True)
    node.release = version
    node.ovs = {}
    node.mounts = {}
    node.roles = []
    node.domains = {}  # the host went down to PXE-boot: its running guests died with it
    boot(world, node)
    node.status = "provisioned"
    node.progress = 100
    node.error_type = None
    world.changed()


def _lay_base_system(world: World, node: Node, spec: ReleaseSpec, root: Path) -> None:
    point = "2" if spec.version == releases.KILO else "1"
    write(root, "/etc/os-release", (
        'NAME="Ubuntu"\n'
        f'VERSION="14.04.{point} LTS, Trusty Tahr"\n'
        "ID=ubuntu\nID_LIKE=debian\n"
        f'PRETTY_NAME="Ubuntu 14.04.{point} LTS"\n'
        'VERSION_ID="14.04"\n'
        'HOME_URL="http://www.ubuntu.com/"\n'
        'SUPPORT_URL="http://help.ubuntu.com/"\n'
        'BUG_REPORT_URL="http://bugs.launchpad.net/ubuntu/"\n'
    ))
    write(root, "/etc/lsb-release", (
        "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_CODENAME=trusty\n"
        f'DISTRIB_DESCRIPTION="Ubuntu 14.04.{point} LTS"\n'
    ))
    write(root, "/etc/hostname", f"{node.hostname}\n")
    write(root, "/etc/hosts", f"127.0.0.1 localhost\n{node.admin_ip} {node.hostname}.domain.tld {node.hostname}\n")
    write(root, "/etc/fuel_release", f"{spec.version}\n")
    pubkey = world.meta.get("master_pubkey", "")
    write(root, "/root/.ssh/authorized_keys", f"{pubkey}\n" if pubkey else "", 0o600)
    (root / "root/.ssh").chmod(0o700)
    rc_dirs = tuple(f"etc/rc{level}.d" for level in "0123456S")  # SysV links live here
    for folder in ("tmp", "var/log", "var/lib", "etc/init", "etc/apt/sources.list.d", "run", "root",
                   *rc_dirs):
        (root / folder).mkdir(parents=True, exist_ok=True)


def boot(world: World, node: Node) -> None:
    """A (re)boot: runtime state goes, boot jobs start."""
    node.online = True
    node.jobs = boot_jobs(world.rootfs(node))
    node.jobs += [f"ceph-osd id={i}" for i in _osd_ids(world, node)]
    node.jobs += [f"ceph-mon id={m}" for m in _mon_ids(world, node)]
    node.booted_at = world.clock.now()
    node.started = {}
    world.changed()


def _osd_ids(world: World, node: Node) -> list[int]:
    """OSD instances are started for every OSD directory found on a ceph volume."""
    ids = []
    if "ceph-osd" not in node.roles:
        return ids
    for disk in node.disks:
        osd_dir = world.disk_dir(node, disk.name) / "ceph"
        whoami = osd_dir / "whoami"
        if whoami.exists():
            ids.append(int(whoami.read_text().strip()))
    return sorted(ids)


def _mon_ids(world: World, node: Node) -> list[str]:
    """ceph-mon-all starts a monitor for every data directory marked `upstart` (ceph-deploy's mark)."""
    root = world.rootfs(node)
    mon_root = root / "var/lib/ceph/mon"
    if not (root / "etc/init/ceph-mon.conf").exists() or not mon_root.is_dir():
        return []
    return sorted(p.name[len("ceph-"):] for p in mon_root.glob("ceph-*") if (p / "upstart").exists())


# --------------------------------------------------------------------------- addresses


def cluster_addresses_in_use(world: World, cluster: Cluster, network: str) -> set[str]:
    used = {n.ips[network] for n in world.cluster_nodes(cluster.id) if network in n.ips}
    return used | set(cluster.vips.values())


# Networks whose node addresses the upgrade hands over from the original env to the seed
# (octane copies the controllers' internal and public addresses): allocated per env, so a
# seed controller gets the original's. Other networks (storage) stay unique datacenter-wide:
# the procedure never hands them over, and isolating br-mgmt/br-ex leaves them on the wire.
PER_ENV_NETWORKS = ("management", "public")


def allocate_ip(world: World, cluster: Cluster, network: str) -> str:
    """Lowest free node address of the env's range, as Nailgun hands them out per env."""
    net = world.networks[network]
    in_use = cluster_addresses_in_use(world, cluster, network)
    if network not in PER_ENV_NETWORKS:
        in_use |= {n.ips[network] for n in world.nodes.values() if network in n.ips}
    used = {net.index(a) for a in in_use}
    index = NODE_IP_START
    while index in used:
        index += 1
    return net.address(index)


def allocate_vip(world: World, cluster: Cluster, network: str) -> str:
    net = world.networks[network]
    taken = set(cluster.vips.values())
    for index in range(2, 2 + VIP_SLOTS):
        if (address := net.address(index)) not in taken:
            return address
    raise RuntimeError(f"no VIP slot left on {network} for env {cluster.id}")


def networks_for(roles: list[str]) -> list[str]:
    nets = ["management", "storage"]
    if "controller" in roles:
        nets.append("public")
    return nets


def assign_addresses(world: World, cluster: Cluster, node: Node, roles: list[str]) -> None:
    for network in networks_for(roles):
        if network not in node.ips:
            node.ips[network] = allocate_ip(world, cluster, network)
    world.changed()


# --------------------------------------------------------------------------- network scheme


def default_network_scheme(world: World, node: Node, roles: list[str]) -> dict[str, Any]:
    """The OVS layout Fuel 6.1/7.0 deploy: br-ethN on the NICs, patched to the role bridges."""
    transformations: list[dict[str, Any]] = []
    for nic in ("eth1", "eth2", "eth3"):
        transformations.append({"action": "add-br", "name": f"br-{nic}"})
        transformations.append({"action": "add-port", "bridge": f"br-{nic}", "name": nic})
    endpoints: dict[str, Any] = {}
    for network in networks_for(roles):
        net = world.networks[network]
        transformations.append({"action": "add-br", "name": net.bridge})
        transformations.append({
            "action": "add-patch",
            "bridges": [net.bridge, f"br-{net.nic}"],
            "tags": [net.vlan or 0, 0],
        })
        endpoints[net.bridge] = {"IP": [f"{node.ips[network]}/16"]}
    transformations.append({"action": "add-br", "name": "br-prv"})
    transformations.append({"action": "add-patch", "bridges": ["br-prv", "br-eth3"]})
    return {
        "version": "1.1",
        "provider": "lnx",
        "interfaces": {i.name: {} for i in node.interfaces},
        "transformations": transformations,
        "endpoints": endpoints,
        "roles": {f"{n}": world.networks[n].bridge for n in networks_for(roles)},
    }


def apply_network_scheme(node: Node, scheme: dict[str, Any]) -> None:
    """Build the node's OVS bridges and ports from the scheme's transformations."""
    from fuellab.world import Port

    ovs: dict[str, list[Port]] = {}
    for step in scheme.get("transformations", []):
        action = step.get("action")
        if action == "add-br":
            ovs.setdefault(step["name"], [])
        elif action == "add-port":
            ptype = step.get("type", "system")
            options = {k: str(v) for k, v in step.get("options", {}).items()}
            ovs.setdefault(step["bridge"], []).append(Port(step["name"], ptype, options))
        elif action == "add-patch":
            left, right = step["bridges"]
            tags = step.get("tags", [0, 0])
            lname, rname = f"{left}--{right}", f"{right}--{left}"
            ovs.setdefault(left, []).append(Port(lname, "patch", {"peer": rname}, tags[0] or None))
            ovs.setdefault(right, []).append(Port(rname, "patch", {"peer": lname}, tags[1] or None))
    node.ovs = ovs


# --------------------------------------------------------------------------- deployment


def deploy(world: World, cluster: Cluster, node: Node, scheme: dict[str, Any] | None = None) -> None:
    """Install the node's roles of the env's release, configure and start them."""
    release = world.cluster_release(cluster)
    spec = releases.spec(release.version)
    roles = sorted(set(node.roles) | set(node.pending_roles))
    root = world.rootfs(node)
    if node.release != spec.version:
        raise RuntimeError(f"{node.hostname} runs {node.release}, env {cluster.id} needs {spec.version}")
    install_packages(root, spec.packages_for(roles))
    assign_addresses(world, cluster, node, roles)
    mount_data_volumes(world, cluster, node, roles)
    apply_network_scheme(node, scheme or default_network_scheme(world, node, roles))
    node.roles = roles
    node.pending_roles = []
    node.pending_addition = False
    node.cluster = cluster.id
    if "controller" in roles:
        for vip in ("public", "management"):
            if vip not in cluster.vips:
                cluster.vips[vip] = allocate_vip(world, cluster, vip)
        _join_pacemaker(cluster, node, spec)
    from fuellab import configs, galera  # configs reads the env's layout, which deploy just changed

    configs.write_all(world, cluster, node)
    galera.on_deploy(world, cluster, node)  # the env's databases (created by its first controller)
    from fuellab import ceph

    ceph.on_deploy(world, cluster, node)  # monitors, OSDs and keys of the env's Ceph cluster
    boot(world, node)
    node.status = "ready"
    node.progress = 100
    world.changed()


DATA_MOUNTS = {"vm": "/var/lib/nova", "mysql": "/var/lib/mysql", "logs": "/var/log",
               "image": "/var/lib/glance", "cinder": "/var/lib/cinder"}


def mount_data_volumes(world: World, cluster: Cluster, node: Node, roles: list[str]) -> None:
    """Mount the node's data volumes; each Ceph volume is an OSD that keeps its id in `whoami`.

    A kept Ceph volume still holds its `whoami`, so the OSD comes back with the
    same id after a re-install; a wiped one gets a new id from the env's counter.
    """
    node.mounts = {}
    for disk in node.disks:
        for volume in (v for v in disk.volumes if v.name != "os"):
            vdir = world.disk_dir(node, disk.name) / volume.name
            vdir.mkdir(parents=True, exist_ok=True)
            rel = f"disks/{disk.name}/{volume.name}"
            if volume.name == "ceph" and "ceph-osd" in roles:
                whoami = vdir / "whoami"
                if not whoami.exists():
                    ceph = cluster.generated.setdefault("ceph", {})
                    osd_id = int(ceph.get("next_osd_id", 0))
                    ceph["next_osd_id"] = osd_id + 1
                    whoami.write_text(f"{osd_id}\n")
                osd_id = int(whoami.read_text().strip())
                node.mounts[f"/var/lib/ceph/osd/ceph-{osd_id}"] = rel
            elif volume.name in DATA_MOUNTS:
                node.mounts[DATA_MOUNTS[volume.name]] = rel


def _join_pacemaker(cluster: Cluster, node: Node, spec: ReleaseSpec) -> None:
    pcm = cluster.pacemaker
    nodes = pcm.setdefault("nodes", [])
    if node.hostname not in nodes:
        nodes.append(node.hostname)
    if not pcm.get("resources"):
        pcm["resources"] = [
            {"id": r.id, "kind": r.kind, "primitive": r.primitive, "agent": r.agent,
             "job": r.job, "vip": r.vip, "target_role": "Started"}
            for r in spec.pacemaker
        ]


def network_of(world: World, address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    for net in world.networks.values():
        if ip in ipaddress.ip_network(net.cidr):
            return net.name
    return None
