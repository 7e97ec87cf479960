"""Nova's compute API (v2 and v2.1 with microversions 2.1-2.25) over the env's nova database.

Servers are the `instances` rows (status from vm_state/task_state, addresses
from the network info cache, flavor from instance_types), services and
hypervisors the `services` / `compute_nodes` rows with their state derived
from what runs (fuellab.openstack.liveness), usage derived from the instances
placed on each hypervisor. Live migration is the data plane's
(fuellab.dataplane.live_migrate); it updates the rows itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import uuid as uuidlib
from typing import Any

from aiohttp import web

from fuellab.openstack import liveness
from fuellab.openstack.common import (
    PROJECT_RE,
    Api,
    ApiError,
    Ctx,
    bad_request,
    base_url,
    empty,
    insert,
    iso,
    json_response,
    next_links,
    not_found,
    page_of,
    paginate,
    read_body,
    truthy,
)

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 25)
RESERVED_HOST_MEMORY_MB = 512
MAX_LIMIT = 1000

_SPLIT = re.compile(rf"^/(v2(?:\.1)?)(?:/({PROJECT_RE}))?(/.*)?$")

# nova.api.openstack.common._STATE_MAP: vm_state -> {task_state: status}
_STATE_MAP: dict[str, dict[str | None, str]] = {
    "active": {"default": "ACTIVE", "rebooting": "REBOOT", "reboot_pending": "REBOOT",
               "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
               "reboot_pending_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT",
               "updating_password": "PASSWORD", "rebuilding": "REBUILD",
               "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD",
               "migrating": "MIGRATING", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
               "resize_migrated": "RESIZE", "resize_finish": "RESIZE"},
    "building": {"default": "BUILD"},
    "stopped": {"default": "SHUTOFF", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
                "resize_migrated": "RESIZE", "resize_finish": "RESIZE", "rebuilding": "REBUILD",
                "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD"},
    "resized": {"default": "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
    "paused": {"default": "PAUSED", "migrating": "MIGRATING"},
    "suspended": {"default": "SUSPENDED"},
    "rescued": {"default": "RESCUE"},
    "error": {"default": "ERROR", "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
              "rebuild_spawning": "REBUILD"},
    "deleted": {"default": "DELETED"},
    "soft_deleted": {"default": "SOFT_DELETED"},
    "shelved": {"default": "SHELVED"},
    "shelved_offloaded": {"default": "SHELVED_OFFLOADED"},
}


def status_of(vm_state: str | None, task_state: str | None) -> str:
    states = _STATE_MAP.get(vm_state or "", {})
    return states.get(task_state, states.get("default", "UNKNOWN"))


def vm_states_of(status: str) -> list[str]:
    wanted = status.upper()
    return [vm for vm, tasks in _STATE_MAP.items() if tasks.get("default") == wanted]


# --------------------------------------------------------------------------- microversions


def _parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor)


def microversion(ctx: Ctx, request: web.Request) -> tuple[int, int]:
    cached = ctx.extra.get("microversion")
    if cached is not None:
        return cached
    if ctx.extra.get("version") != "v2.1":
        found = (2, 0)
    else:
        asked = request.headers.get("OpenStack-API-Version", "")
        text = ""
        for part in asked.split(","):
            words = part.strip().split()
            if len(words) == 2 and words[0].lower() == "compute":
                text = words[1]
        text = text or request.headers.get("X-OpenStack-Nova-API-Version", "")
        if not text:
            found = MIN_VERSION
        elif text.strip().lower() == "latest":
            found = MAX_VERSION
        else:
            try:
                found = _parse_version(text)
            except ValueError:
                raise bad_request(f"Invalid API version request string: {text}") from None
            if not MIN_VERSION <= found <= MAX_VERSION:
                raise ApiError(406, f"Version {text} is not supported by the API. Minimum is "
                                    f"{MIN_VERSION[0]}.{MIN_VERSION[1]} and maximum is "
                                    f"{MAX_VERSION[0]}.{MAX_VERSION[1]}.", "computeFault")
    ctx.extra["microversion"] = found
    return found


def _headers(ctx: Ctx) -> dict[str, str]:
    version = ctx.extra.get("microversion")
    if ctx.extra.get("version") != "v2.1" or version is None:
        return {}
    text = f"{version[0]}.{version[1]}"
    return {"X-OpenStack-Nova-API-Version": text, "OpenStack-API-Version": f"compute {text}",
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}


def respond(ctx: Ctx, data: Any, status: int = 200) -> web.Response:
    return json_response(data, status, _headers(ctx))


def _prefix(ctx: Ctx, request: web.Request) -> str:
    version = ctx.extra.get("version") or "v2.1"
    project = f"/{ctx.project_in_url}" if ctx.project_in_url else ""
    return f"{base_url(request)}/{version}{project}"


def _bookmark(ctx: Ctx, request: web.Request) -> str:
    project = f"/{ctx.project_in_url}" if ctx.project_in_url else ""
    return f"{base_url(request)}{project}"


# --------------------------------------------------------------------------- versions


def _version_doc(request: web.Request, version: str) -> dict[str, Any]:
    current = version == "v2.1"
    path = "v2.1" if current else "v2"  # the legacy API's id is v2.0, its prefix /v2
    return {"id": "v2.1" if current else "v2.0", "status": "CURRENT" if current else "SUPPORTED",
            "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}" if current else "",
            "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}" if current else "",
            "updated": "2013-07-23T11:33:21Z" if current else "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base_url(request)}/{path}/"},
                      {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": f"application/vnd.openstack.compute+json;version={path[1:]}"}]}


async def root(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    version = ctx.extra.get("version")
    if version is None:
        return json_response({"versions": [_version_doc(request, "v2"), _version_doc(request, "v2.1")]})
    return json_response({"version": _version_doc(request, version)})


# --------------------------------------------------------------------------- servers


def _addresses(network_info: str | None) -> dict[str, list[dict[str, Any]]]:
    """The `addresses` of a server from nova's network info cache (the neutron model)."""
    try:
        vifs = json.loads(network_info or "[]")
    except ValueError:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for vif in vifs if isinstance(vifs, list) else []:
        label = (vif.get("network") or {}).get("label") or "network"
        entries = out.setdefault(label, [])
        for subnet in (vif.get("network") or {}).get("subnets") or []:
            for ip in subnet.get("ips") or []:
                entries.append({"version": ip.get("version", 4), "addr": ip.get("address"),
                                "OS-EXT-IPS:type": ip.get("type", "fixed"),
                                "OS-EXT-IPS-MAC:mac_addr": vif.get("address")})
                for fip in ip.get("floating_ips") or []:
                    entries.append({"version": fip.get("version", 4), "addr": fip.get("address"),
                                    "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": vif.get("address")})
    return out


class _Extras:
    """Per-request lookups shared by every server of a listing."""

    def __init__(self, ctx: Ctx, conn: sqlite3.Connection, uuids: list[str] | None) -> None:
        self.metadata: dict[str, dict[str, str]] = {}
        self.volumes: dict[str, list[str]] = {}
        self.groups: dict[str, list[str]] = {}
        self.host_state: dict[str, str] = {}
        self.ctx = ctx
        where, args = "", ()
        if uuids is not None and len(uuids) <= 500:
            where = f" AND instance_uuid IN ({','.join('?' for _ in uuids)})"
            args = tuple(uuids)
        for row in conn.execute(f"SELECT instance_uuid, key, value FROM instance_metadata "
                                f"WHERE deleted = 0{where}", args):
            self.metadata.setdefault(row[0], {})[row[1]] = row[2]
        for row in conn.execute(f"SELECT instance_uuid, volume_id FROM block_device_mapping WHERE deleted = 0 "
                                f"AND volume_id IS NOT NULL{where}", args):
            self.volumes.setdefault(row[0], []).append(row[1])
        self._groups()
        self._services = {(r["host"]): r for r in conn.execute(
            "SELECT host, disabled FROM services WHERE deleted = 0 AND \"binary\" = 'nova-compute'")}

    def _groups(self) -> None:
        """Security group names per instance, from neutron's ports (nova asks neutron)."""
        try:
            with self.ctx.read("neutron") as conn:
                found = conn.execute(
                    "SELECT p.device_id, g.name FROM ports p JOIN securitygroupportbindings b "
                    "ON b.port_id = p.id JOIN securitygroups g ON g.id = b.security_group_id "
                    "WHERE p.device_owner LIKE 'compute:%'").fetchall()
        except Exception:  # no neutron database reachable: nova shows no groups
            return
        for device, name in found:
            names = self.groups.setdefault(device, [])
            if name not in names:
                names.append(name)

    def host_status(self, host: str | None) -> str:
        if not host:
            return ""
        if host not in self.host_state:
            service = self._services.get(host)
            if service is None:
                state = "UNKNOWN"
            elif not liveness.compute_up(self.ctx.lab, self.ctx.cluster, host):
                state = "DOWN"
            elif service["disabled"]:
                state = "MAINTENANCE"
            else:
                state = "UP"
            self.host_state[host] = state
        return self.host_state[host]


def _server_view(ctx: Ctx, request: web.Request, row: sqlite3.Row, extras: _Extras,
                 version: tuple[int, int]) -> dict[str, Any]:
    uuid = row["uuid"]
    prefix, bookmark = _prefix(ctx, request), _bookmark(ctx, request)
    admin = ctx.identity is not None and ctx.identity.is_admin
    host = row["host"]
    view: dict[str, Any] = {
        "id": uuid,
        "name": row["display_name"],
        "status": status_of(row["vm_state"], row["task_state"]),
        "tenant_id": row["project_id"],
        "user_id": row["user_id"],
        "metadata": extras.metadata.get(uuid, {}),
        "hostId": hashlib.sha224(f"{row['project_id']}{host}".encode()).hexdigest() if host else "",
        "image": {"id": row["image_ref"], "links": [{"rel": "bookmark",
                                                      "href": f"{bookmark}/images/{row['image_ref']}"}]}
        if row["image_ref"] else "",
        "flavor": {"id": row["flavorid"], "links": [{"rel": "bookmark",
                                                      "href": f"{bookmark}/flavors/{row['flavorid']}"}]},
        "created": iso(row["created_at"]),
        "updated": iso(row["updated_at"] or row["created_at"]),
        "addresses": _addresses(row["network_info"]),
        "accessIPv4": row["access_ip_v4"] or "",
        "accessIPv6": row["access_ip_v6"] or "",
        "links": [{"rel": "self", "href": f"{prefix}/servers/{uuid}"},
                  {"rel": "bookmark", "href": f"{bookmark}/servers/{uuid}"}],
        "OS-DCF:diskConfig": "AUTO" if row["auto_disk_config"] else "MANUAL",
        "progress": row["progress"] or 0,
        "OS-EXT-AZ:availability_zone": row["availability_zone"] or "nova",
        "config_drive": row["config_drive"] or "",
        "key_name": row["key_name"],
        "OS-SRV-USG:launched_at": iso(row["launched_at"], micro=True, zulu=False),
        "OS-SRV-USG:terminated_at": iso(row["terminated_at"], micro=True, zulu=False),
        "OS-EXT-STS:task_state": row["task_state"],
        "OS-EXT-STS:vm_state": row["vm_state"],
        "OS-EXT-STS:power_state": row["power_state"] or 0,
        "os-extended-volumes:volumes_attached": [{"id": v} for v in extras.volumes.get(uuid, [])],
        "security_groups": [{"name": n} for n in extras.groups.get(uuid, [])] or [{"name": "default"}],
    }
    if admin:
        view["OS-EXT-SRV-ATTR:host"] = host
        view["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row["node"]
        view["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{int(row['id']):08x}"
        if version >= (2, 3):
            view.update({
                "OS-EXT-SRV-ATTR:reservation_id": row["reservation_id"],
                "OS-EXT-SRV-ATTR:launch_index": row["launch_index"],
                "OS-EXT-SRV-ATTR:kernel_id": row["kernel_id"] or "",
                "OS-EXT-SRV-ATTR:ramdisk_id": row["ramdisk_id"] or "",
                "OS-EXT-SRV-ATTR:hostname": row["hostname"],
                "OS-EXT-SRV-ATTR:root_device_name": row["root_device_name"],
                "OS-EXT-SRV-ATTR:user_data": row["user_data"],
            })
    if version >= (2, 3):
        view["os-extended-volumes:volumes_attached"] = [
            {"id": v, "delete_on_termination": False} for v in extras.volumes.get(uuid, [])]
    if version >= (2, 9):
        view["locked"] = bool(row["locked"])
    if version >= (2, 16) and admin:
        view["host_status"] = extras.host_status(host)
    if version >= (2, 19):
        view["description"] = row["display_description"]
    return view


_SERVER_SQL = (
    "SELECT i.*, t.flavorid AS flavorid, c.network_info AS network_info FROM instances i "
    "LEFT JOIN instance_types t ON t.id = i.instance_type_id "
    "LEFT JOIN instance_info_caches c ON c.instance_uuid = i.uuid AND c.deleted = 0 "
)


def _server_rows(ctx: Ctx, request: web.Request, conn: sqlite3.Connection) -> list[sqlite3.Row]:
    query = request.query
    where = ["i.deleted = 0"]
    args: list[Any] = []
    admin = ctx.identity is not None and ctx.identity.is_admin
    all_tenants = "all_tenants" in query and (query["all_tenants"] == "" or truthy(query["all_tenants"]))
    project = query.get("project_id") or query.get("tenant_id")
    if not (admin and all_tenants):
        where.append("i.project_id = ?")
        args.append(ctx.project_id)
    elif project:
        where.append("i.project_id = ?")
        args.append(project)
    if admin:
        for param, column in (("host", "i.host"), ("node", "i.node")):
            if query.get(param):
                where.append(f"{column} = ?")
                args.append(query[param])
    if query.get("status"):
        states = vm_states_of(query["status"])
        if not states:
            return []
        where.append(f"i.vm_state IN ({','.join('?' for _ in states)})")
        args += states
    if query.get("image"):
        where.append("i.image_ref = ?")
        args.append(query["image"])
    if query.get("flavor"):
        where.append("t.flavorid = ?")
        args.append(query["flavor"])
    found = conn.execute(_SERVER_SQL + "WHERE " + " AND ".join(where) +
                         " ORDER BY i.created_at DESC, i.id DESC", tuple(args)).fetchall()
    if query.get("name"):
        try:
            pattern = re.compile(query["name"])
        except re.error:
            raise bad_request(f"Invalid regular expression: {query['name']}") from None
        found = [r for r in found if pattern.search(r["display_name"] or "")]
    if query.get("status"):
        found = [r for r in found if status_of(r["vm_state"], r["task_state"]) == query["status"].upper()]
    return found


async def list_servers(ctx: Ctx, request: web.Request, params: dict[str, str], detail: bool = False
                       ) -> web.Response:
    version = microversion(ctx, request)
    with ctx.read() as conn:
        page, limit, _more = page_of(_server_rows(ctx, request, conn), request, key="uuid",
                                     max_limit=MAX_LIMIT)
        if detail:
            extras = _Extras(ctx, conn, [r["uuid"] for r in page])
            servers = [_server_view(ctx, request, r, extras, version) for r in page]
        else:
            prefix, bookmark = _prefix(ctx, request), _bookmark(ctx, request)
            servers = [{"id": r["uuid"], "name": r["display_name"],
                        "links": [{"rel": "self", "href": f"{prefix}/servers/{r['uuid']}"},
                                  {"rel": "bookmark", "href": f"{bookmark}/servers/{r['uuid']}"}]}
                       for r in page]
    body: dict[str, Any] = {"servers": servers}
    if page and len(page) == limit:  # nova links the next page after every full one
        suffix = "/detail" if detail else ""
        body["servers_links"] = next_links(request, f"{_prefix(ctx, request)}/servers{suffix}",
                                           limit, page[-1]["uuid"])
    return respond(ctx, body)


async def list_servers_detail(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await list_servers(ctx, request, params, detail=True)


def _one_server(ctx: Ctx, conn: sqlite3.Connection, server_id: str) -> sqlite3.Row:
    row = conn.execute(_SERVER_SQL + "WHERE i.uuid = ? AND i.deleted = 0", (server_id,)).fetchone()
    admin = ctx.identity is not None and ctx.identity.is_admin
    if row is None or (not admin and row["project_id"] != ctx.project_id):
        raise not_found(f"Instance {server_id} could not be found.")
    return row


async def get_server(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    version = microversion(ctx, request)
    with ctx.read() as conn:
        row = _one_server(ctx, conn, params["id"])
        view = _server_view(ctx, request, row, _Extras(ctx, conn, [row["uuid"]]), version)
    return respond(ctx, {"server": view})


def _dataplane(name: str) -> Any:
    """A function of the data plane, if it offers one by that name."""
    try:
        from fuellab import dataplane
    except ImportError:
        return None
    return getattr(dataplane, name, None)


async def create_server(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    body = (await read_body(request)).get("server")
    if not isinstance(body, dict) or not body.get("name"):
        raise bad_request("Invalid input for field/attribute server. 'name' is a required property")
    flavor_ref = str(body.get("flavorRef", "")).rstrip("/").rsplit("/", 1)[-1]
    image_ref = str(body.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
    identity = ctx.identity
    assert identity is not None
    with ctx.read() as conn:
        flavor = conn.execute("SELECT * FROM instance_types WHERE flavorid = ? AND deleted = 0",
                              (flavor_ref,)).fetchone()
        if flavor is None:
            raise bad_request(f"Flavor {flavor_ref} could not be found.")
        key_data = None
        if body.get("key_name"):
            key = conn.execute("SELECT public_key FROM key_pairs WHERE name = ? AND user_id = ? AND deleted = 0",
                               (body["key_name"], identity.user_id)).fetchone()
            if key is None:
                raise bad_request("Invalid key_name provided.")
            key_data = key["public_key"]
    if image_ref:
        with ctx.read("glance") as conn:
            image = conn.execute("SELECT status FROM images WHERE id = ? AND deleted = 0",
                                 (image_ref,)).fetchone()
        if image is None:
            raise bad_request("Can not find requested image")
        if image["status"] != "active":
            raise bad_request(f"Image {image_ref} is not active.")
    server_uuid = str(uuidlib.uuid4())
    now = ctx.now()
    with ctx.write() as conn:
        insert(conn, "instances", {
            "created_at": now, "updated_at": now, "user_id": identity.user_id,
            "project_id": identity.project_id, "image_ref": image_ref, "launch_index": 0,
            "key_name": body.get("key_name"), "key_data": key_data, "power_state": 0,
            "vm_state": "building", "task_state": "scheduling", "memory_mb": flavor["memory_mb"],
            "vcpus": flavor["vcpus"], "root_gb": flavor["root_gb"], "ephemeral_gb": flavor["ephemeral_gb"],
            "hostname": re.sub(r"[^a-z0-9-]+", "-", str(body["name"]).lower()).strip("-") or "server",
            "reservation_id": f"r-{uuidlib.uuid4().hex[:8]}", "display_name": body["name"],
            "display_description": body.get("description") or body["name"],
            "availability_zone": body.get("availability_zone"), "locked": 0,
            "instance_type_id": flavor["id"], "uuid": server_uuid, "progress": 0,
            "user_data": body.get("user_data"), "config_drive": "", "deleted": 0, "cleaned": 0,
            "auto_disk_config": 0, "shutdown_terminate": 0, "disable_terminate": 0,
        })
        insert(conn, "instance_info_caches", {"created_at": now, "network_info": "[]",
                                              "instance_uuid": server_uuid, "deleted": 0})
        insert(conn, "instance_extra", {"created_at": now, "deleted": 0, "instance_uuid": server_uuid,
                                        "flavor": json.dumps({"cur": {"nova_object.data": {
                                            "flavorid": flavor["flavorid"], "name": flavor["name"],
                                            "memory_mb": flavor["memory_mb"], "vcpus": flavor["vcpus"],
                                            "root_gb": flavor["root_gb"]}}, "old": None, "new": None})})
        for key, value in (body.get("metadata") or {}).items():
            insert(conn, "instance_metadata", {"created_at": now, "key": key, "value": str(value),
                                               "instance_uuid": server_uuid, "deleted": 0})
        insert(conn, "instance_actions", {"created_at": now, "action": "create", "instance_uuid": server_uuid,
                                          "request_id": f"req-{uuidlib.uuid4()}", "user_id": identity.user_id,
                                          "project_id": identity.project_id, "start_time": now, "deleted": 0})
    boot = _dataplane("boot")
    if boot is not None:
        # The scheduler and nova-compute place and spawn the guest; the API answers at once.
        ctx.lab.spawn(boot(ctx.lab, ctx.cluster, server_uuid, body.get("networks")),
                      f"boot-{server_uuid}")
    prefix, bookmark = _prefix(ctx, request), _bookmark(ctx, request)
    return respond(ctx, {"server": {
        "id": server_uuid, "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}],
        "adminPass": base64.b32encode(uuidlib.uuid4().bytes).decode()[:12],
        "links": [{"rel": "self", "href": f"{prefix}/servers/{server_uuid}"},
                  {"rel": "bookmark", "href": f"{bookmark}/servers/{server_uuid}"}]}}, 202)


async def delete_server(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        row = _one_server(ctx, conn, params["id"])
        if row["locked"] and not (ctx.identity and ctx.identity.is_admin):
            raise ApiError(409, f"Instance {row['uuid']} is locked", "conflictingRequest")
    delete = _dataplane("delete")
    if delete is not None:
        await delete(ctx.lab, ctx.cluster, row["uuid"])
    else:
        now = ctx.now()
        with ctx.write() as conn:
            conn.execute("UPDATE instances SET vm_state = 'deleted', task_state = NULL, power_state = 0, "
                         "deleted = id, deleted_at = ?, terminated_at = ?, updated_at = ? WHERE uuid = ?",
                         (now, now, now, row["uuid"]))
            conn.execute("UPDATE instance_info_caches SET deleted = id, deleted_at = ? WHERE instance_uuid = ?",
                         (now, row["uuid"]))
    return empty(204, _headers(ctx))


async def server_action(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    body = await read_body(request)
    if len(body) != 1:
        raise bad_request("Malformed request body: one action expected")
    action, args = next(iter(body.items()))
    with ctx.read() as conn:
        row = _one_server(ctx, conn, params["id"])
    if action == "os-migrateLive":
        return await _live_migrate(ctx, row, args or {})
    if action in ("os-start", "os-stop"):
        return _power(ctx, row, action)
    raise bad_request(f"There is no such action: {action}")


def _power(ctx: Ctx, row: sqlite3.Row, action: str) -> web.Response:
    allowed = ("stopped",) if action == "os-start" else ("active", "rescued", "error")
    if row["vm_state"] not in allowed or row["task_state"] is not None:
        raise ApiError(409, f"Cannot '{action[3:]}' instance {row['uuid']} while it is in vm_state "
                            f"{row['vm_state']}", "conflictingRequest")
    power = _dataplane("power")
    if power is None:
        raise ApiError(501, "Starting and stopping guests is not available in this lab (no data plane).")
    from fuellab import dataplane

    try:
        power(ctx.lab, ctx.cluster, row["uuid"], action == "os-start")
    except dataplane.MigrationError as exc:
        raise ApiError(exc.status, str(exc), "conflictingRequest" if exc.status == 409 else None) from None
    return empty(202, _headers(ctx))


async def _live_migrate(ctx: Ctx, row: sqlite3.Row, args: dict[str, Any]) -> web.Response:
    ctx.require_admin()
    if row["vm_state"] not in ("active", "paused") or row["task_state"] is not None:
        state = row["vm_state"] if row["task_state"] is None else f"task_state {row['task_state']}"
        raise ApiError(409, f"Cannot 'os-migrateLive' instance {row['uuid']} while it is in "
                            f"{'vm_state ' if row['task_state'] is None else ''}{state}", "conflictingRequest")
    migrate = _dataplane("live_migrate")
    if migrate is None:
        raise ApiError(501, "Live migration is not available in this lab (no data plane).")
    from fuellab import dataplane

    host = args.get("host") or None
    try:
        await migrate(ctx.lab, ctx.cluster, row["uuid"], host)
    except dataplane.NoValidHost as exc:
        message = str(exc) or "No valid host was found."
        if not message.startswith("No valid host was found."):
            message = f"No valid host was found. {message}"
        raise bad_request(message) from None
    except dataplane.MigrationError as exc:
        raise ApiError(getattr(exc, "status", 400), str(exc) or "Live migration failed.") from None
    return empty(202, _headers(ctx))


# --------------------------------------------------------------------------- services and hypervisors


def _service_view(ctx: Ctx, row: sqlite3.Row, version: tuple[int, int]) -> dict[str, Any]:
    up = liveness.nova_service_up(ctx.lab, ctx.cluster, row["host"], row["binary"])
    view = {
        "id": row["id"], "binary": row["binary"], "host": row["host"],
        "zone": "nova" if row["binary"] == "nova-compute" else "internal",
        "status": "disabled" if row["disabled"] else "enabled", "state": "up" if up else "down",
        "updated_at": iso(ctx.now() if up else (row["updated_at"] or row["created_at"]), micro=True,
                          zulu=False),
        "disabled_reason": row["disabled_reason"],
    }
    if version >= (2, 11):
        view["forced_down"] = False
    return view


async def list_services(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    version = microversion(ctx, request)
    where, args = ["deleted = 0"], []
    for param in ("host", "binary"):
        if request.query.get(param):
            where.append(f'"{param}" = ?')
            args.append(request.query[param])
    with ctx.read() as conn:
        found = conn.execute(f"SELECT * FROM services WHERE {' AND '.join(where)} ORDER BY id",
                             tuple(args)).fetchall()
    return respond(ctx, {"services": [_service_view(ctx, r, version) for r in found]})


async def _set_service(ctx: Ctx, request: web.Request, disabled: bool, with_reason: bool) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    body = await read_body(request)
    host, binary = body.get("host"), body.get("binary")
    if not host or not binary:
        raise bad_request("Invalid input: host and binary are required")
    reason = body.get("disabled_reason") if with_reason else None
    if with_reason and not reason:
        raise bad_request("Missing disabled reason field")
    with ctx.write() as conn:
        found = conn.execute('UPDATE services SET disabled = ?, disabled_reason = ?, updated_at = ? '
                             'WHERE host = ? AND "binary" = ? AND deleted = 0',
                             (int(disabled), reason, ctx.now(), host, binary))
        if found.rowcount == 0:
            raise not_found("Unknown service")
    service: dict[str, Any] = {"host": host, "binary": binary,
                               "status": "disabled" if disabled else "enabled"}
    if with_reason:
        service["disabled_reason"] = reason
    return respond(ctx, {"service": service})


async def disable_service(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await _set_service(ctx, request, True, False)


async def disable_service_reason(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await _set_service(ctx, request, True, True)


async def enable_service(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await _set_service(ctx, request, False, False)


async def delete_service(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    if not params["id"].isdigit():
        raise bad_request(f"Invalid service id {params['id']}")
    now = ctx.now()
    with ctx.write() as conn:
        row = conn.execute("SELECT * FROM services WHERE id = ? AND deleted = 0", (int(params["id"]),)).fetchone()
        if row is None:
            raise not_found(f"Service {params['id']} could not be found.")
        conn.execute("UPDATE services SET deleted = id, deleted_at = ? WHERE id = ?", (now, row["id"]))
        conn.execute("UPDATE compute_nodes SET deleted = id, deleted_at = ? WHERE service_id = ? AND deleted = 0",
                     (now, row["id"]))
    return empty(204, _headers(ctx))


def _hypervisors(ctx: Ctx, conn: sqlite3.Connection) -> list[dict[str, Any]]:
    usage: dict[str, dict[str, int]] = {}
    for r in conn.execute("SELECT host, node, COUNT(*) AS n, SUM(vcpus) AS cpu, SUM(memory_mb) AS ram, "
                          "SUM(COALESCE(root_gb, 0) + COALESCE(ephemeral_gb, 0)) AS disk FROM instances "
                          "WHERE deleted = 0 AND host IS NOT NULL GROUP BY host, node"):
        for key in (r["node"], f"host:{r['host']}"):
            if key is None:
                continue
            slot = usage.setdefault(key, {"n": 0, "cpu": 0, "ram": 0, "disk": 0})
            for k in ("n", "cpu", "ram", "disk"):
                slot[k] += r[k] or 0
    out = []
    for r in conn.execute("SELECT c.*, s.host AS service_host, s.disabled AS service_disabled, "
                          "s.disabled_reason AS service_reason, s.id AS sid FROM compute_nodes c "
                          "JOIN services s ON s.id = c.service_id WHERE c.deleted = 0 ORDER BY c.id"):
        host = r["service_host"]
        used = usage.get(r["hypervisor_hostname"]) or usage.get(f"host:{host}") or {
            "n": 0, "cpu": 0, "ram": 0, "disk": 0}
        memory_used = RESERVED_HOST_MEMORY_MB + used["ram"]
        up = liveness.compute_up(ctx.lab, ctx.cluster, host)
        out.append({
            "id": r["id"], "hypervisor_hostname": r["hypervisor_hostname"],
            "state": "up" if up else "down", "status": "disabled" if r["service_disabled"] else "enabled",
            "vcpus": r["vcpus"], "memory_mb": r["memory_mb"], "local_gb": r["local_gb"],
            "vcpus_used": used["cpu"], "memory_mb_used": memory_used, "local_gb_used": used["disk"],
            "hypervisor_type": r["hypervisor_type"], "hypervisor_version": r["hypervisor_version"],
            "free_ram_mb": r["memory_mb"] - memory_used, "free_disk_gb": r["local_gb"] - used["disk"],
            "current_workload": 0, "running_vms": used["n"], "cpu_info": r["cpu_info"],
            "disk_available_least": r["disk_available_least"], "host_ip": r["host_ip"],
            "service": {"host": host, "id": r["sid"], "disabled_reason": r["service_reason"]},
        })
    return out


_BRIEF = ("id", "hypervisor_hostname", "state", "status")


async def list_hypervisors(ctx: Ctx, request: web.Request, params: dict[str, str], detail: bool = False
                           ) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    with ctx.read() as conn:
        found = _hypervisors(ctx, conn)
    if not detail:
        found = [{k: h[k] for k in _BRIEF} for h in found]
    return respond(ctx, {"hypervisors": found})


async def list_hypervisors_detail(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await list_hypervisors(ctx, request, params, detail=True)


async def get_hypervisor(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    with ctx.read() as conn:
        found = [h for h in _hypervisors(ctx, conn) if str(h["id"]) == params["id"]]
    if not found:
        raise not_found(f"Hypervisor with ID '{params['id']}' could not be found.")
    return respond(ctx, {"hypervisor": found[0]})


async def search_hypervisors(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    with ctx.read() as conn:
        found = [h for h in _hypervisors(ctx, conn) if params["pattern"] in h["hypervisor_hostname"]]
        if not found:
            raise not_found(f"No hypervisor matching '{params['pattern']}' could be found.")
        if params.get("servers"):
            for h in found:
                rows = conn.execute("SELECT uuid, display_name, id FROM instances WHERE deleted = 0 AND "
                                    "(node = ? OR (node IS NULL AND host = ?))",
                                    (h["hypervisor_hostname"], h["service"]["host"])).fetchall()
                h["servers"] = [{"uuid": r["uuid"], "name": f"instance-{int(r['id']):08x}"} for r in rows]
    return respond(ctx, {"hypervisors": [{k: h[k] for k in (*_BRIEF, "servers") if k in h} for h in found]})


async def hypervisor_servers(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await search_hypervisors(ctx, request, {**params, "servers": "1"})


async def hypervisor_statistics(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    with ctx.read() as conn:
        found = _hypervisors(ctx, conn)
    keys = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least")
    stats = {k: sum(h[k] or 0 for h in found) for k in keys}
    stats["count"] = len(found)
    return respond(ctx, {"hypervisor_statistics": stats})


# --------------------------------------------------------------------------- flavors, quotas, keypairs, zones


def _flavor_view(ctx: Ctx, request: web.Request, r: sqlite3.Row, detail: bool) -> dict[str, Any]:
    prefix, bookmark = _prefix(ctx, request), _bookmark(ctx, request)
    view: dict[str, Any] = {"id": r["flavorid"], "name": r["name"],
                            "links": [{"rel": "self", "href": f"{prefix}/flavors/{r['flavorid']}"},
                                      {"rel": "bookmark", "href": f"{bookmark}/flavors/{r['flavorid']}"}]}
    if detail:
        view.update({"ram": r["memory_mb"], "vcpus": r["vcpus"], "disk": r["root_gb"],
                     "OS-FLV-EXT-DATA:ephemeral": r["ephemeral_gb"], "swap": r["swap"] or "",
                     "rxtx_factor": r["rxtx_factor"], "os-flavor-access:is_public": bool(r["is_public"]),
                     "OS-FLV-DISABLED:disabled": bool(r["disabled"])})
    return view


async def list_flavors(ctx: Ctx, request: web.Request, params: dict[str, str], detail: bool = False
                       ) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        found = conn.execute("SELECT * FROM instance_types WHERE deleted = 0 ORDER BY memory_mb, flavorid"
                             ).fetchall()
    items = [_flavor_view(ctx, request, r, detail) for r in found]
    if not (ctx.identity and ctx.identity.is_admin):
        public = {r["flavorid"] for r in found if r["is_public"]}
        items = [i for i in items if i["id"] in public]
    items, _more = paginate(items, request)
    return respond(ctx, {"flavors": items})


async def list_flavors_detail(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await list_flavors(ctx, request, params, detail=True)


async def get_flavor(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        row = conn.execute("SELECT * FROM instance_types WHERE flavorid = ? AND deleted = 0",
                           (params["id"],)).fetchone()
    if row is None:
        raise not_found(f"Flavor {params['id']} could not be found.")
    return respond(ctx, {"flavor": _flavor_view(ctx, request, row, True)})


def _quotas(conn: sqlite3.Connection, project_id: str | None) -> dict[str, int]:
    out = {r["resource"]: r["hard_limit"] for r in conn.execute(
        "SELECT resource, hard_limit FROM quota_classes WHERE class_name = 'default' AND deleted = 0")}
    if project_id:
        for r in conn.execute("SELECT resource, hard_limit FROM quotas WHERE project_id = ? AND deleted = 0",
                              (project_id,)):
            out[r["resource"]] = r["hard_limit"]
    return out


async def get_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    project = params["project"]
    with ctx.read() as conn:
        quotas = _quotas(conn, None if params.get("defaults") else project)
        if request.path.endswith("/detail"):
            used = conn.execute("SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS cpu, "
                                "COALESCE(SUM(memory_mb), 0) AS ram FROM instances "
                                "WHERE deleted = 0 AND project_id = ?", (project,)).fetchone()
            in_use = {"instances": used["n"], "cores": used["cpu"], "ram": used["ram"]}
            detail = {k: {"limit": v, "in_use": in_use.get(k, 0), "reserved": 0} for k, v in quotas.items()}
            return respond(ctx, {"quota_set": {"id": project, **detail}})
    return respond(ctx, {"quota_set": {"id": project, **quotas}})


async def get_default_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return await get_quotas(ctx, request, {**params, "defaults": "1"})


async def update_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    microversion(ctx, request)
    body = (await read_body(request)).get("quota_set") or {}
    project = params["project"]
    now = ctx.now()
    with ctx.write() as conn:
        known = set(_quotas(conn, None))
        for resource, limit in body.items():
            if resource in ("force", "id"):
                continue
            if resource not in known:
                raise bad_request(f"Bad key(s) {resource} in quota_set")
            updated = conn.execute("UPDATE quotas SET hard_limit = ?, updated_at = ? WHERE project_id = ? "
                                   "AND resource = ? AND deleted = 0", (int(limit), now, project, resource))
            if updated.rowcount == 0:
                insert(conn, "quotas", {"created_at": now, "project_id": project, "resource": resource,
                                        "hard_limit": int(limit), "deleted": 0})
        quotas = _quotas(conn, project)
    return respond(ctx, {"quota_set": quotas})


def _fingerprint(public_key: str) -> str:
    try:
        blob = base64.b64decode(public_key.split()[1])
    except (IndexError, ValueError):
        raise bad_request("Keypair data is invalid: failed to decode the public key") from None
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - nova's fingerprint format
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _keypair_view(r: sqlite3.Row) -> dict[str, Any]:
    view = {"name": r["name"], "public_key": r["public_key"], "fingerprint": r["fingerprint"]}
    if "type" in r.keys():  # noqa: SIM118 - a Row's `in` tests values
        view["type"] = r["type"]
    return view


async def list_keypairs(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    user = request.query.get("user_id") if ctx.identity and ctx.identity.is_admin else None
    with ctx.read() as conn:
        found = conn.execute("SELECT * FROM key_pairs WHERE user_id = ? AND deleted = 0 ORDER BY name",
                             (user or ctx.identity.user_id,)).fetchall()  # type: ignore[union-attr]
    return respond(ctx, {"keypairs": [{"keypair": _keypair_view(r)} for r in found]})


async def get_keypair(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        row = conn.execute("SELECT * FROM key_pairs WHERE user_id = ? AND name = ? AND deleted = 0",
                           (ctx.identity.user_id, params["name"])).fetchone()  # type: ignore[union-attr]
    if row is None:
        raise not_found(f"Keypair {params['name']} not found for user {ctx.identity.user_id}")  # type: ignore[union-attr]
    view = _keypair_view(row)
    view.update({"id": row["id"], "user_id": row["user_id"], "created_at": iso(row["created_at"], micro=True,
                                                                                 zulu=False),
                 "deleted": False, "deleted_at": None, "updated_at": None})
    return respond(ctx, {"keypair": view})


async def create_keypair(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    body = (await read_body(request)).get("keypair") or {}
    name = body.get("name")
    if not name or not re.match(r"^[\w\- ]{1,255}$", str(name)):
        raise bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
    private = None
    public = body.get("public_key")
    if not public:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode() + " Generated-by-Nova"
    fingerprint = _fingerprint(public)
    user_id = ctx.identity.user_id  # type: ignore[union-attr]
    with ctx.write() as conn:
        if conn.execute("SELECT 1 FROM key_pairs WHERE user_id = ? AND name = ? AND deleted = 0",
                        (user_id, name)).fetchone():
            raise ApiError(409, f"Key pair '{name}' already exists.", "conflictingRequest")
        insert(conn, "key_pairs", {"created_at": ctx.now(), "name": name, "user_id": user_id,
                                   "fingerprint": fingerprint, "public_key": public, "deleted": 0,
                                   "type": body.get("type", "ssh")})
    view: dict[str, Any] = {"name": name, "public_key": public, "fingerprint": fingerprint, "user_id": user_id}
    if private:
        view["private_key"] = private
    return respond(ctx, {"keypair": view}, 200)


async def delete_keypair(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    with ctx.write() as conn:
        done = conn.execute("UPDATE key_pairs SET deleted = id, deleted_at = ? WHERE user_id = ? AND name = ? "
                            "AND deleted = 0", (ctx.now(), ctx.identity.user_id, params["name"]))  # type: ignore[union-attr]
        if done.rowcount == 0:
            raise not_found(f"Keypair {params['name']} not found for user {ctx.identity.user_id}")  # type: ignore[union-attr]
    return empty(202 if ctx.extra.get("version") == "v2" else 204, _headers(ctx))


async def availability_zones(ctx: Ctx, request: web.Request, params: dict[str, str], detail: bool = False
                             ) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        found = conn.execute("SELECT * FROM services WHERE deleted = 0 ORDER BY host, \"binary\"").fetchall()
    zones: dict[str, dict[str, dict[str, Any]]] = {}
    for r in found:
        zone = "nova" if r["binary"] == "nova-compute" else "internal"
        up = liveness.nova_service_up(ctx.lab, ctx.cluster, r["host"], r["binary"])
        zones.setdefault(zone, {}).setdefault(r["host"], {})[r["binary"]] = {
            "available": up and not r["disabled"], "active": not r["disabled"],
            "updated_at": iso(ctx.now() if up else r["updated_at"], micro=True, zulu=False)}
    info = []
    for zone, hosts in sorted(zones.items()):
        if zone == "internal" and not detail:
            continue
        available = any(s["available"] for h in hosts.values() for s in h.values())
        info.append({"zoneName": zone, "zoneState": {"available": available},
                     "hosts": hosts if detail else None})
    return respond(ctx, {"availabilityZoneInfo": info})


async def availability_zones_detail(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    return await availability_zones(ctx, request, params, detail=True)


async def limits(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    with ctx.read() as conn:
        quotas = _quotas(conn, ctx.project_id)
        used = conn.execute("SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS cpu, COALESCE(SUM(memory_mb), 0) "
                            "AS ram FROM instances WHERE deleted = 0 AND project_id = ?",
                            (ctx.project_id,)).fetchone()
    absolute = {"maxTotalInstances": quotas.get("instances", -1), "maxTotalCores": quotas.get("cores", -1),
                "maxTotalRAMSize": quotas.get("ram", -1), "maxTotalKeypairs": quotas.get("key_pairs", -1),
                "maxServerMeta": quotas.get("metadata_items", -1),
                "maxPersonality": quotas.get("injected_files", -1),
                "maxPersonalitySize": quotas.get("injected_file_content_bytes", -1),
                "maxSecurityGroups": quotas.get("security_groups", -1),
                "maxSecurityGroupRules": quotas.get("security_group_rules", -1),
                "maxTotalFloatingIps": quotas.get("floating_ips", -1), "maxServerGroups": 10,
                "maxServerGroupMembers": 10, "totalInstancesUsed": used["n"], "totalCoresUsed": used["cpu"],
                "totalRAMUsed": used["ram"], "totalSecurityGroupsUsed": 0, "totalFloatingIpsUsed": 0,
                "totalServerGroupsUsed": 0}
    return respond(ctx, {"limits": {"rate": [], "absolute": absolute}})


async def extensions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    microversion(ctx, request)
    names = ("os-availability-zone", "os-extended-server-attributes", "os-extended-status",
             "os-hypervisors", "os-keypairs", "os-migrate-server", "os-quota-sets", "os-services",
             "os-extended-volumes", "os-access-ips", "os-disk-config", "os-flavor-access",
             "os-flavor-extra-data", "os-flavor-rxtx", "os-server-usage", "os-security-groups")
    return respond(ctx, {"extensions": [{"alias": n, "name": n, "namespace": "http://docs.openstack.org/compute/"
                                         f"ext/{n}/api/v1.1", "description": n, "links": [],
                                         "updated": "2014-12-03T00:00:00Z"} for n in names]})


# --------------------------------------------------------------------------- the API


class NovaApi(Api):
    service = "nova"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", root, public=True)
        r("GET", "/servers", list_servers)
        r("GET", "/servers/detail", list_servers_detail)
        r("POST", "/servers", create_server)
        r("GET", "/servers/{id}", get_server)
        r("DELETE", "/servers/{id}", delete_server)
        r("POST", "/servers/{id}/action", server_action)
        r("GET", "/os-services", list_services)
        r("PUT", "/os-services/disable", disable_service)
        r("PUT", "/os-services/disable-log-reason", disable_service_reason)
        r("PUT", "/os-services/enable", enable_service)
        r("DELETE", "/os-services/{id}", delete_service)
        r("GET", "/os-hypervisors", list_hypervisors)
        r("GET", "/os-hypervisors/detail", list_hypervisors_detail)
        r("GET", "/os-hypervisors/statistics", hypervisor_statistics)
        r("GET", "/os-hypervisors/{pattern}/search", search_hypervisors)
        r("GET", "/os-hypervisors/{pattern}/servers", hypervisor_servers)
        r("GET", "/os-hypervisors/{id}", get_hypervisor)
        r("GET", "/flavors", list_flavors)
        r("GET", "/flavors/detail", list_flavors_detail)
        r("GET", "/flavors/{id}", get_flavor)
        r("GET", "/os-quota-sets/{project}", get_quotas)
        r("GET", "/os-quota-sets/{project}/detail", get_quotas)
        r("GET", "/os-quota-sets/{project}/defaults", get_default_quotas)
        r("PUT", "/os-quota-sets/{project}", update_quotas)
        r("GET", "/os-keypairs", list_keypairs)
        r("POST", "/os-keypairs", create_keypair)
        r("GET", "/os-keypairs/{name}", get_keypair)
        r("DELETE", "/os-keypairs/{name}", delete_keypair)
        r("GET", "/os-availability-zone", availability_zones)
        r("GET", "/os-availability-zone/detail", availability_zones_detail)
        r("GET", "/limits", limits)
        r("GET", "/extensions", extensions)

    def split(self, path: str) -> tuple[str | None, str | None, str]:
        found = _SPLIT.match(path)
        if found is None:
            # Only the version document lives outside a version prefix.
            return None, None, path if path == "/" else f"/unversioned{path}"
        return found.group(1), found.group(2), found.group(3) or "/"
