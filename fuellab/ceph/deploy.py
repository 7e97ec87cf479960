"""What Fuel's deployment does for Ceph (fuel-library's ceph module, driving ceph-deploy).

- The first controller of an env creates the cluster ("ceph-deploy new"): a
  fresh fsid and keys (kept in the env's generated attributes), its ceph.conf,
  and a monitor whose monmap lists the env's controllers. A seed env cloned
  from another one inherits the original's generated attributes, but its first
  deployment still creates a cluster of its own: a new fsid and new keys.
- Every later node of the env pulls ceph.conf and the keyrings from the env's
  first controller that has them ("config pull", "gatherkeys"), so whatever
  that controller's /etc/ceph holds (after upgrade-ceph: the original's fsid)
  is what new nodes get.
- Every other controller creates its monitor from the store of the env's
  monitors with the same fsid, and is added to their monmap if missing.
- Each Ceph volume of a ceph-osd node becomes an OSD: ceph_fsid, keyring and
  the other files of `ceph-disk prepare/activate`, registered in the monitors'
  auth database and osdmap with the bootstrap-osd key the node pulled (refused
  when the monitors do not know that key). A volume that already has a
  ceph_fsid (kept data) is an existing OSD: it comes back with its id, data
  and keyring and is not registered again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fuellab.ceph import cluster as runtime
from fuellab.ceph import conf as cephconf
from fuellab.ceph import keys, store
from fuellab.world import Cluster, Node, World

MON_CAPS = {"mon": "allow *"}
CLIENT_CAPS: dict[str, dict[str, str]] = {
    "client.admin": {"mds": "allow", "mon": "allow *", "osd": "allow *"},
    "client.bootstrap-osd": {"mon": "allow profile bootstrap-osd"},
    "client.bootstrap-mds": {"mon": "allow profile bootstrap-mds"},
    "client.images": {"mon": "allow r",
                      "osd": "allow class-read object_prefix rbd_children, allow rwx pool=images"},
    "client.volumes": {"mon": "allow r",
                       "osd": "allow class-read object_prefix rbd_children, allow rwx pool=volumes, "
                              "allow rx pool=images"},
    "client.backups": {"mon": "allow r",
                       "osd": "allow class-read object_prefix rbd_children, allow rwx pool=backups"},
    "client.compute": {"mon": "allow r",
                       "osd": "allow class-read object_prefix rbd_children, allow rwx pool=volumes, "
                              "allow rx pool=images, allow rwx pool=compute"},
}
OSD_CAPS = {"mon": "allow profile osd", "osd": "allow *"}
BOOTSTRAP_OSD_KEYRING = "/var/lib/ceph/bootstrap-osd/ceph.keyring"
# Where each role keeps which keyring (path -> entity).
KEYRINGS: dict[str, dict[str, str]] = {
    "controller": {
        "/etc/ceph/ceph.client.admin.keyring": "client.admin",
        "/etc/ceph/ceph.client.images.keyring": "client.images",
        "/etc/ceph/ceph.client.volumes.keyring": "client.volumes",
        "/etc/ceph/ceph.client.backups.keyring": "client.backups",
        "/etc/ceph/ceph.client.compute.keyring": "client.compute",
        "/root/ceph.client.admin.keyring": "client.admin",
        "/root/ceph.bootstrap-osd.keyring": "client.bootstrap-osd",
        "/root/ceph.bootstrap-mds.keyring": "client.bootstrap-mds",
        BOOTSTRAP_OSD_KEYRING: "client.bootstrap-osd",
    },
    "compute": {
        "/etc/ceph/ceph.client.admin.keyring": "client.admin",
        "/etc/ceph/ceph.client.compute.keyring": "client.compute",
    },
    "ceph-osd": {
        "/etc/ceph/ceph.client.admin.keyring": "client.admin",
        BOOTSTRAP_OSD_KEYRING: "client.bootstrap-osd",
    },
}
# Where "gatherkeys" finds each entity on the env's first controller.
GATHER_FROM = {
    "client.admin": "/etc/ceph/ceph.client.admin.keyring",
    "client.bootstrap-osd": "/root/ceph.bootstrap-osd.keyring",
    "client.bootstrap-mds": "/root/ceph.bootstrap-mds.keyring",
    "client.images": "/etc/ceph/ceph.client.images.keyring",
    "client.volumes": "/etc/ceph/ceph.client.volumes.keyring",
    "client.backups": "/etc/ceph/ceph.client.backups.keyring",
    "client.compute": "/etc/ceph/ceph.client.compute.keyring",
}
CEPH_ROLES = ("controller", "compute", "ceph-osd")


def _write(world: World, node: Node, path: str, text: str, mode: int = 0o644) -> None:
    from fuellab.install import write

    target = store.resolve(world, node, path)
    write(target.parent, target.name, text, mode)


# --------------------------------------------------------------------------- identity and sources


def env_controllers(world: World, cluster: Cluster) -> list[Node]:
    return [n for n in world.cluster_nodes(cluster.id)
            if "controller" in n.roles or "controller" in n.pending_roles]


def source_node(world: World, cluster: Cluster) -> Node | None:
    """The env's first controller holding a ceph.conf: where other nodes pull config and keys."""
    for node in env_controllers(world, cluster):
        if store.resolve(world, node, runtime.CONF).is_file():
            return node
    return None


def has_monitors(world: World, cluster: Cluster) -> bool:
    return any(store.mon_names(world, node) for node in env_controllers(world, cluster))


def identity(world: World, cluster: Cluster) -> dict[str, Any]:
    """The env's Ceph fsid and keys, created by its first controller deployment."""
    gen = cluster.generated.setdefault("ceph", {})
    others = [c.generated.get("ceph", {}) for c in world.clusters.values() if c.id != cluster.id]
    # A clone copies the original's generated attributes; its own first deployment still
    # creates a new cluster ("ceph-deploy new"): nothing may be shared with another env.
    fresh = not has_monitors(world, cluster)
    if not gen.get("fsid") or (fresh and any(o.get("fsid") == gen["fsid"] for o in others)):
        gen["fsid"] = str(uuid.uuid4())
        gen.pop("keys", None)
        world.changed()
    if not gen.get("keys") or (fresh and any(o.get("keys") == gen["keys"] for o in others)):
        now = world.clock.now()
        gen["keys"] = {entity: keys.new_key(now) for entity in ("mon.", *CLIENT_CAPS)}
        world.changed()
    return gen


def conf_for(world: World, cluster: Cluster, node: Node) -> str:
    """The ceph.conf deployment writes on `node`: the env's first controller's, else a new one."""
    src = source_node(world, cluster)
    if src is not None:
        text = runtime.read_text(store.resolve(world, src, runtime.CONF))
        if text:
            return text
    identity(world, cluster)
    from fuellab import configs

    return configs.ceph_conf(world, cluster)


def _gathered(world: World, cluster: Cluster, src: Node | None, entity: str) -> keys.Entity:
    if src is not None:
        text = runtime.read_text(store.resolve(world, src, GATHER_FROM.get(entity, "")))
        found = keys.parse_keyring(text or "").get(entity)
        if found is not None and found.key:
            return found
    gen = identity(world, cluster)
    return keys.Entity(entity, gen["keys"][entity], dict(CLIENT_CAPS.get(entity, {})))


def _write_keyrings(world: World, cluster: Cluster, node: Node) -> None:
    src = source_node(world, cluster)
    if src is node and not store.resolve(world, node, GATHER_FROM["client.admin"]).is_file():
        src = None  # the env's first controller, deployed now: its keys are the new cluster's
    wanted: dict[str, str] = {}
    for role in CEPH_ROLES:
        if role in node.roles:
            wanted.update(KEYRINGS[role])
    for path, entity in wanted.items():
        if src is node and store.resolve(world, node, path).is_file():
            continue
        _write(world, node, path, keys.render_entity(_gathered(world, cluster, src, entity)), 0o600)


# --------------------------------------------------------------------------- monitors


def env_stores(world: World, cluster: Cluster, fsid: str, skip: Node | None = None
               ) -> list[tuple[Node, str, Path, dict[str, Any]]]:
    """Monitor stores of the env's controllers that belong to cluster `fsid`."""
    out = []
    for ctrl in env_controllers(world, cluster):
        if ctrl is skip:
            continue
        for name in store.mon_names(world, ctrl):
            path = store.mon_path(world, ctrl, name)
            try:
                state = store.load(path)
            except store.StoreError:
                continue
            if state.get("cluster_uuid") == fsid:
                out.append((ctrl, name, path, state))
    return out


def _save_all(stores: list[tuple[Node, str, Path, dict[str, Any]]], state: dict[str, Any]) -> None:
    for _, _, path, _ in stores:
        store.save(path, state)


def _deploy_mon(world: World, cluster: Cluster, node: Node, conf: cephconf.CephConf) -> None:
    name = node.hostname
    path = store.mon_path(world, node, name)
    if (path / store.STORE_FILE).exists():
        return
    fsid = conf.fsid or identity(world, cluster)["fsid"]
    now = world.clock.now()
    peers = env_stores(world, cluster, fsid, skip=node)
    ip = node.ips.get("management", "")
    if peers:
        newest = max(peers, key=lambda p: int(p[3].get("version", 0)))
        state = store.clone(newest[3])
        ring = runtime.read_text(newest[2] / "keyring") or ""
        mon_key = keys.parse_keyring(ring).get("mon.", keys.Entity("mon.")).key
        if store.mon_entry(state["monmap"], name) is None:
            state["monmap"]["mons"].append({"name": name, "addr": store.addr(ip)})
            store.sort_mons(state["monmap"])
            state["monmap"]["epoch"] += 1
            state["monmap"]["modified"] = now
        state["version"] = int(state.get("version", 0)) + 1
        _save_all(peers, state)
    else:
        gen = identity(world, cluster)
        mons = [(c.hostname, c.ips["management"]) for c in env_controllers(world, cluster)
                if "management" in c.ips]
        if name not in [m for m, _ in mons]:
            mons.append((name, ip))
        auth = {"mon.": {"key": gen["keys"]["mon."], "caps": dict(MON_CAPS)}}
        for entity, caps in CLIENT_CAPS.items():
            gathered = _gathered(world, cluster, None, entity)
            auth[entity] = {"key": gathered.key, "caps": dict(caps)}
        size = int(conf.get("osd_pool_default_size", "global") or 2)
        state = store.new_state(fsid, store.new_monmap(fsid, mons, now), auth, size, now)
        mon_key = gen["keys"]["mon."]
    store.save(path, state)
    _write(world, node, f"{store.mon_dir(name)}/keyring",
           keys.render_entity(keys.Entity("mon.", mon_key, dict(MON_CAPS))), 0o600)
    for marker in ("done", "upstart"):
        _write(world, node, f"{store.mon_dir(name)}/{marker}", "")


# --------------------------------------------------------------------------- OSDs


def _volume_kb(node: Node, rel: str) -> int:
    parts = rel.split("/")  # disks/<dev>/<volume>
    for disk in node.disks:
        if len(parts) == 3 and disk.name == parts[1]:
            for volume in disk.volumes:
                if volume.name == parts[2]:
                    return volume.size * 1024
    return 0


def _lowest_free(osds: dict[str, Any], taken: set[int]) -> int:
    i = 0
    while str(i) in osds or i in taken:
        i += 1
    return i


def _deploy_osds(world: World, cluster: Cluster, node: Node, conf: cephconf.CephConf) -> None:
    fsid = conf.fsid
    stores = env_stores(world, cluster, fsid) if fsid else []
    if not stores:
        return  # no monitor of this cluster in the env yet: ceph-disk activate cannot register
    fresh = [(mp, rel) for mp, rel in sorted(node.mounts.items())
             if mp.startswith(runtime.OSD_DATA + "/ceph-")
             and not (world.node_dir(node) / rel / "ceph_fsid").exists()]
    if not fresh:
        return
    state = store.clone(max(stores, key=lambda s: int(s[3].get("version", 0)))[3])
    ring = keys.parse_keyring(runtime.read_text(store.resolve(world, node, BOOTSTRAP_OSD_KEYRING)) or "")
    boot = ring.get("client.bootstrap-osd")
    known = state["auth"].get("client.bootstrap-osd", {})
    if boot is None or boot.key != known.get("key") or "bootstrap-osd" not in known.get("caps", {}).get("mon", ""):
        raise RuntimeError(f"ceph-disk activate on {node.hostname}: client.bootstrap-osd authentication "
                           "error (1) Operation not permitted")
    now = world.clock.now()
    osdmap = state["osdmap"]
    taken: set[int] = set()
    for mountpoint, rel in fresh:
        ddir = world.node_dir(node) / rel
        osd_id = int((ddir / "whoami").read_text().strip())
        if str(osd_id) in osdmap["osds"] or osd_id in taken:
            # `ceph osd create` hands out the lowest free id of this cluster.
            osd_id = _lowest_free(osdmap["osds"], taken)
            (ddir / "whoami").write_text(f"{osd_id}\n")
            del node.mounts[mountpoint]
            node.mounts[runtime.osd_dir(osd_id)] = rel
            world.changed()
        taken.add(osd_id)
        key = keys.new_key(now)
        osd_uuid = str(uuid.uuid4())
        for name, text in (("ceph_fsid", f"{fsid}\n"), ("fsid", f"{osd_uuid}\n"),
                           ("magic", "ceph osd volume v026\n"), ("ready", "ready\n"), ("upstart", ""),
                           ("keyring", keys.render_entity(keys.Entity(f"osd.{osd_id}", key))),
                           ("store_version", "\x04\x00\x00\x00")):
            (ddir / name).write_text(text)
        (ddir / "current").mkdir(exist_ok=True)
        state["auth"][f"osd.{osd_id}"] = {"key": key, "caps": dict(OSD_CAPS)}
        osdmap["osds"][str(osd_id)] = {
            "host": node.hostname, "data": rel, "up": False, "in": True, "weight": 1.0,
            "uuid": osd_uuid, "kb": _volume_kb(node, rel), "ip": node.ips.get("storage", ""),
            "created": now, "down_at": now, "down_epoch": osdmap["epoch"] + 1,
        }
        osdmap["max_osd"] = max(int(osdmap.get("max_osd", 0)), osd_id + 1)
    osdmap["epoch"] = int(osdmap["epoch"]) + 1
    osdmap["modified"] = now
    state["version"] = int(state.get("version", 0)) + 1
    _save_all(stores, state)


# --------------------------------------------------------------------------- entry points


def on_deploy(world: World, cluster: Cluster, node: Node) -> None:
    """Ceph's part of deploying `node` in `cluster` (idempotent): keys, monitor, OSDs."""
    if not set(CEPH_ROLES) & set(node.roles):
        return
    text = runtime.read_text(store.resolve(world, node, runtime.CONF))
    if text is None:
        text = conf_for(world, cluster, node)
        _write(world, node, runtime.CONF, text)
    conf = cephconf.parse(text)
    _write_keyrings(world, cluster, node)
    if "controller" in node.roles:
        _deploy_mon(world, cluster, node, conf)
    if "ceph-osd" in node.roles:
        _deploy_osds(world, cluster, node, conf)
