"""The lab's control API on `<dir>/control.sock` (0600): what `fuellab` subcommands call.

Not an API of the simulated datacenter: it manages the lab itself (status,
faults, snapshots, the ledger) and is never used by the runbook.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fuellab import inspect, services
from fuellab.faults import FaultError

if TYPE_CHECKING:
    from fuellab.daemon import Daemon

SNAPSHOT_ITEMS = ("world.db", "nodes", "envdbs")


def make_app(daemon: Daemon) -> web.Application:
    app = web.Application()
    app["daemon"] = daemon
    app.add_routes([
        web.get("/status", status),
        web.get("/faults", list_faults),
        web.post("/faults", add_fault),
        web.delete("/faults", clear_faults),
        web.delete("/faults/{id}", clear_faults),
        web.post("/snapshot", snapshot),
        web.post("/restore", restore),
        web.get("/inspect", inspect_ledger),
        web.get("/addresses/{address}", address_holders),
        web.post("/shutdown", shutdown),
    ])
    return app


def status_dict(daemon: Daemon) -> dict[str, Any]:
    lab = daemon.lab
    world = lab.world
    nodes = []
    for n in sorted(world.nodes.values(), key=lambda n: n.id):
        nodes.append({
            "id": n.id, "hostname": n.hostname, "admin_ip": n.admin_ip, "status": n.status,
            "online": n.online, "cluster": n.cluster, "roles": n.roles, "release": n.release,
            "jobs": len(services.running_jobs(world, n)),
        })
    clusters = [
        {"id": c.id, "name": c.name, "status": c.status,
         "release": world.releases[c.release_id].version, "vips": c.vips}
        for c in sorted(world.clusters.values(), key=lambda c: c.id)
    ]
    return {
        "ready": daemon.ready,
        "dir": str(lab.dir),
        "pid": int(daemon.pid_file.read_text()) if daemon.pid_file.exists() else None,
        "lab_time": round(lab.clock.now(), 1),
        "fuel": f"http://{world.master_ip}:{lab.settings.fuel_port}",
        "ssh_port": lab.settings.ssh_port,
        "nodes": nodes,
        "clusters": clusters,
        "faults": [asdict(f) for f in lab.faults.list()],
        "ip_conflicts": sorted(lab.addresses.conflicts()),
    }


async def status(request: web.Request) -> web.Response:
    return web.json_response(status_dict(request.app["daemon"]))


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([asdict(f) for f in request.app["daemon"].lab.faults.list()])


async def add_fault(request: web.Request) -> web.Response:
    body = await request.json()
    lab = request.app["daemon"].lab
    try:
        fault = lab.faults.add(body["node"], body["op"], body["kind"], body.get("times"), body.get("message", ""))
    except (FaultError, KeyError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if fault.kind == "ssh-drop":
        for node in lab.world.nodes.values():
            if lab.faults.peek(node.hostname, "ssh", "ssh-drop") is fault:
                lab.ssh.drop(node)
    return web.json_response(asdict(fault), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    fault_id = request.match_info.get("id")
    removed = request.app["daemon"].lab.faults.clear(int(fault_id) if fault_id else None)
    return web.json_response({"removed": removed})


def snapshot_dir(lab_dir: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad snapshot name {name!r}: use letters, digits, '-' or '_'")
    return lab_dir / "snapshots" / name


def copy_state(src: Path, dst: Path) -> None:
    """Make dst's state items equal to src's, copying only what differs.

    Tests restore a pristine snapshot before each test; a test changes a few
    files, so syncing is much faster than copying whole node trees again.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for item in SNAPSHOT_ITEMS:
        source, target = src / item, dst / item
        if source.is_dir():
            if target.exists() and not target.is_dir():
                target.unlink()
            sync_tree(source, target)
        elif source.exists():
            if target.is_dir():
                shutil.rmtree(target)
            shutil.copy2(source, target)
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _signature(entry: os.DirEntry[str]) -> tuple[int, int, int, bytes]:
    st = entry.stat(follow_symlinks=False)
    # chown on a node records the owner in an extended attribute (fuellab.node.commands.fsutil)
    # without touching size, mtime or mode: compare it too, or a restore would keep it.
    try:
        owner = os.getxattr(entry.path, "user.fuellab.owner", follow_symlinks=False)
    except OSError:
        owner = b""
    return st.st_size, st.st_mtime_ns, st.st_mode, owner


def sync_tree(src: Path, dst: Path) -> None:
    """rsync -a --delete, locally: files compared by size, mtime and mode."""
    dst.mkdir(parents=True, exist_ok=True)
    theirs = {e.name: e for e in os.scandir(src)}
    ours = {e.name: e for e in os.scandir(dst)}
    for name, entry in list(ours.items()):
        other = theirs.get(name)
        if other is None or other.is_dir(follow_symlinks=False) != entry.is_dir(follow_symlinks=False):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            ours.pop(name)
    for name, entry in theirs.items():
        target = dst / name
        if entry.is_symlink():
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            sync_tree(Path(entry.path), target)
            shutil.copystat(entry.path, target)
            _sync_owner(entry.path, target)
        elif name not in ours or _signature(ours[name]) != _signature(entry):
            shutil.copy2(entry.path, target)
            _sync_owner(entry.path, target)


def _sync_owner(src: str, dst: Path) -> None:
    """copystat adds the source's attributes but never drops the target's: drop a node
    owner the source does not have."""
    try:
        os.getxattr(src, "user.fuellab.owner")
    except OSError:
        with contextlib.suppress(OSError):
            os.removexattr(dst, "user.fuellab.owner")


async def snapshot(request: web.Request) -> web.Response:
    daemon = request.app["daemon"]
    body = await request.json()
    try:
        dst = snapshot_dir(daemon.lab.dir, body["name"])
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    daemon.lab.world.save()
    copy_state(daemon.lab.dir, dst)
    return web.json_response({"snapshot": body["name"], "path": str(dst)}, status=201)


async def restore(request: web.Request) -> web.Response:
    daemon = request.app["daemon"]
    body = await request.json()
    try:
        src = snapshot_dir(daemon.lab.dir, body["name"])
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if not (src / "world.db").exists():
        return web.json_response({"error": f"no snapshot named {body['name']!r}"}, status=404)
    await daemon.ssh.stop()
    await daemon.lab.cancel_background()
    copy_state(src, daemon.lab.dir)
    await daemon.reload()
    return web.json_response({"restored": body["name"]})


async def inspect_ledger(request: web.Request) -> web.Response:
    return web.json_response(inspect.summary(request.app["daemon"].lab))


async def address_holders(request: web.Request) -> web.Response:
    """Who holds an address and who answers it on its network's wire (read-only)."""
    lab = request.app["daemon"].lab
    address = request.match_info["address"]
    names = {n.id: n.hostname for n in lab.world.nodes.values()}

    def row(h: Any) -> dict[str, Any]:
        return {"node": names.get(h.node_id), "network": h.network, "vip": h.vip,
                "segment": f"{h.segment[0]}:{h.segment[1]}"}

    return web.json_response({
        "address": address,
        "holders": [row(h) for h in lab.addresses.holders().get(address, [])],
        "live": [row(h) for h in lab.addresses.live_holders(address)],
        "conflict": address in lab.addresses.conflicts(),
    })


async def shutdown(request: web.Request) -> web.Response:
    request.app["daemon"].stopping.set()
    return web.json_response({"stopping": True})
