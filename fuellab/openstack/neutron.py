"""Neutron's v2.0 API over the env's neutron database (ML2 with Open vSwitch, VLAN tenant networks).

Networks, subnets, ports, routers, floating IPs, security groups, quotas and
agents are the rows of the database; agents' `alive` comes from what runs
(fuellab.openstack.liveness), a floating IP is ACTIVE while its router is
hosted by a live L3 agent. Writes allocate as neutron does: VLAN segments from
`ml2_vlan_allocations`, addresses from the subnet's range (the lowest free
one), MACs with neutron's `fa:16:3e` base. Routers are moved between L3 agents
with the l3-routers calls `neutron l3-agent-router-add/remove` make.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import sqlite3
import uuid as uuidlib
from typing import Any

from aiohttp import web

from fuellab.openstack import liveness
from fuellab.openstack.common import (
    Api,
    ApiError,
    Ctx,
    base_url,
    empty,
    has_column,
    has_table,
    insert,
    json_response,
    read_body,
)

QUOTA_DEFAULTS = {"network": 10, "subnet": 10, "port": 50, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100}
EXTENSIONS = (
    ("agent", "agent"), ("allowed-address-pairs", "Allowed Address Pairs"), ("binding", "Port Binding"),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler"), ("external-net", "Neutron external network"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode"), ("extra_dhcp_opt", "Neutron Extra DHCP opts"),
    ("extraroute", "Neutron Extra Route"), ("l3_agent_scheduler", "L3 Agent Scheduler"),
    ("multi-provider", "Multi Provider Network"), ("provider", "Provider Network"), ("quotas", "Quota management support"),
    ("router", "Neutron L3 Router"), ("security-group", "security-group"),
)


def _error_type(status: int) -> str:
    return {400: "BadRequest", 401: "NotAuthorized", 403: "PolicyNotAuthorized", 404: "NotFound",
            409: "Conflict"}.get(status, "NeutronError")


def not_found(kind: str, item: str) -> ApiError:
    return ApiError(404, f"{kind} {item} could not be found", f"{kind.replace(' ', '')}NotFound")


def bad(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def conflict(message: str, kind: str = "Conflict") -> ApiError:
    return ApiError(409, message, kind)


def _b(value: Any) -> bool:
    return bool(value)


def _new_mac(conn: sqlite3.Connection, network_id: str) -> str:
    while True:
        mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
        if conn.execute("SELECT 1 FROM ports WHERE network_id = ? AND mac_address = ?",
                        (network_id, mac)).fetchone() is None:
            return mac


def _visible(ctx: Ctx, item: dict[str, Any]) -> bool:
    if ctx.identity is not None and ctx.identity.is_admin:
        return True
    tenant = item.get("tenant_id")
    return tenant == ctx.project_id or bool(item.get("shared")) or bool(item.get("router:external"))


def _filtered(ctx: Ctx, request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's list filters: every query parameter but `fields` must match a field (any of its values)."""
    items = [i for i in items if _visible(ctx, i)]
    for key in set(request.query.keys()):
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"):
            continue
        wanted = request.query.getall(key)
        if key == "project_id":
            key = "tenant_id"

        def match(item: dict[str, Any], key: str = key, wanted: list[str] = wanted) -> bool:
            if key not in item:
                return True  # an attribute the resource does not have: neutron ignores it
            value = item[key]
            if isinstance(value, bool):
                return str(value).lower() in [w.lower() for w in wanted]
            return str(value) in wanted if value is not None else "" in wanted or "None" in wanted

        items = [i for i in items if match(i)]
    fields = request.query.getall("fields", [])
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    return items


def _listing(ctx: Ctx, request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
    return json_response({key: _filtered(ctx, request, items)})


def _one(ctx: Ctx, items: list[dict[str, Any]], kind: str, item_id: str) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id and _visible(ctx, item):
            return item
    raise not_found(kind, item_id)


def _owner(ctx: Ctx, body: dict[str, Any]) -> str:
    tenant = body.get("tenant_id") or body.get("project_id")
    if tenant and tenant != ctx.project_id and not (ctx.identity and ctx.identity.is_admin):
        raise ApiError(403, "Specifying 'tenant_id' other than authenticated tenant in request requires "
                            "admin privileges", "HTTPForbidden")
    return str(tenant or ctx.project_id or "")


# --------------------------------------------------------------------------- versions


async def root(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    if ctx.extra.get("version") is None:
        return json_response({"versions": [{"status": "CURRENT", "id": "v2.0", "links": [
            {"href": f"{base_url(request)}/v2.0/", "rel": "self"}]}]})
    names = ("network", "subnet", "port", "router", "floatingip", "security_group", "security_group_rule",
             "agent", "quota")
    return json_response({"resources": [
        {"links": [{"href": f"{base_url(request)}/v2.0/{n.replace('_', '-')}s", "rel": "self"}],
         "name": n, "collection": f"{n}s"} for n in names]})


async def extensions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    items = [{"alias": a, "name": n, "description": n, "namespace": f"http://docs.openstack.org/ext/neutron/{a}/api/v1.0",
              "updated": "2014-12-03T10:00:00-00:00", "links": []} for a, n in EXTENSIONS]
    if "alias" in params:
        found = [i for i in items if i["alias"] == params["alias"]]
        if not found:
            raise ApiError(404, f"Extension with alias {params['alias']} does not exist", "NotFound")
        return json_response({"extension": found[0]})
    return json_response({"extensions": items})


# --------------------------------------------------------------------------- networks and subnets


def _networks(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    external = {r[0] for r in conn.execute("SELECT network_id FROM externalnetworks")}
    subnets: dict[str, list[str]] = {}
    for r in conn.execute("SELECT id, network_id FROM subnets ORDER BY id"):
        subnets.setdefault(r["network_id"], []).append(r["id"])
    segments = {r["network_id"]: r for r in conn.execute("SELECT * FROM ml2_network_segments")}
    out = []
    for r in conn.execute("SELECT * FROM networks ORDER BY name, id"):
        seg = segments.get(r["id"])
        out.append({
            "id": r["id"], "name": r["name"] or "", "tenant_id": r["tenant_id"], "status": r["status"],
            "admin_state_up": _b(r["admin_state_up"]), "shared": _b(r["shared"]),
            "subnets": subnets.get(r["id"], []), "router:external": r["id"] in external,
            "provider:network_type": seg["network_type"] if seg else None,
            "provider:physical_network": seg["physical_network"] if seg else None,
            "provider:segmentation_id": seg["segmentation_id"] if seg else None, "mtu": 0,
        })
    return out


async def list_networks(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "networks", _networks(conn))


async def get_network(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"network": _one(ctx, _networks(conn), "Network", params["id"])})


async def create_network(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("network")
    if not isinstance(body, dict):
        raise bad("Resource body required")
    tenant = _owner(ctx, body)
    external = bool(body.get("router:external"))
    if (external or body.get("provider:network_type") or body.get("shared")) and not (
            ctx.identity and ctx.identity.is_admin):
        raise ApiError(403, "Policy doesn't allow create_network to be performed.", "PolicyNotAuthorized")
    net_id = str(uuidlib.uuid4())
    with ctx.write() as conn:
        ntype = body.get("provider:network_type") or "vlan"
        physnet = body.get("provider:physical_network") or ("physnet2" if ntype == "vlan" else None)
        seg_id = body.get("provider:segmentation_id")
        if ntype == "vlan":
            if seg_id is None:
                free = conn.execute("SELECT vlan_id FROM ml2_vlan_allocations WHERE physical_network = ? AND "
                                    "allocated = 0 ORDER BY vlan_id LIMIT 1", (physnet,)).fetchone()
                if free is None:
                    raise ApiError(503, "Unable to create the network. No tenant network is available for "
                                        "allocation.", "NoNetworkAvailable")
                seg_id = free["vlan_id"]
            conn.execute("UPDATE ml2_vlan_allocations SET allocated = 1 WHERE physical_network = ? AND vlan_id = ?",
                         (physnet, seg_id))
        insert(conn, "networks", {"tenant_id": tenant, "id": net_id, "name": body.get("name", ""),
                                  "status": "ACTIVE", "admin_state_up": int(body.get("admin_state_up", True)),
                                  "shared": int(bool(body.get("shared")))})
        insert(conn, "ml2_network_segments", {"id": str(uuidlib.uuid4()), "network_id": net_id,
                                              "network_type": ntype, "physical_network": physnet,
                                              "segmentation_id": seg_id, "is_dynamic": 0})
        if external:
            insert(conn, "externalnetworks", {"network_id": net_id})
        network = _one(ctx, _networks(conn), "Network", net_id)
    return json_response({"network": network}, 201)


async def delete_network(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    net_id = params["id"]
    with ctx.write() as conn:
        network = _one(ctx, _networks(conn), "Network", net_id)
        busy = conn.execute("SELECT COUNT(*) FROM ports WHERE network_id = ? AND device_owner <> 'network:dhcp'",
                            (net_id,)).fetchone()[0]
        if busy:
            raise conflict(f"Unable to complete operation on network {net_id}. There are one or more ports "
                           "still in use on the network.", "NetworkInUse")
        for port in conn.execute("SELECT id FROM ports WHERE network_id = ?", (net_id,)).fetchall():
            _delete_port_rows(conn, port["id"])
        conn.execute("DELETE FROM subnets WHERE network_id = ?", (net_id,))
        if network["provider:network_type"] == "vlan":
            conn.execute("UPDATE ml2_vlan_allocations SET allocated = 0 WHERE physical_network = ? AND vlan_id = ?",
                         (network["provider:physical_network"], network["provider:segmentation_id"]))
        conn.execute("DELETE FROM ml2_network_segments WHERE network_id = ?", (net_id,))
        conn.execute("DELETE FROM networkdhcpagentbindings WHERE network_id = ?", (net_id,))
        conn.execute("DELETE FROM externalnetworks WHERE network_id = ?", (net_id,))
        conn.execute("DELETE FROM networks WHERE id = ?", (net_id,))
    return empty(204)


def _pools(cidr: str, gateway: str | None) -> list[dict[str, str]]:
    net = ipaddress.ip_network(cidr, strict=False)
    first, last = net.network_address + 1, net.broadcast_address - 1
    if gateway and ipaddress.ip_address(gateway) == first:
        first += 1
    elif gateway and ipaddress.ip_address(gateway) == last:
        last -= 1
    return [{"start": str(first), "end": str(last)}]


def _subnets(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    pool_column = has_column(conn, "subnets", "subnetpool_id")
    out = []
    for r in conn.execute("SELECT * FROM subnets ORDER BY name, id"):
        item = {"id": r["id"], "name": r["name"] or "", "tenant_id": r["tenant_id"],
                "network_id": r["network_id"], "ip_version": r["ip_version"], "cidr": r["cidr"],
                "gateway_ip": r["gateway_ip"], "enable_dhcp": _b(r["enable_dhcp"]), "shared": _b(r["shared"]),
                "ipv6_ra_mode": r["ipv6_ra_mode"], "ipv6_address_mode": r["ipv6_address_mode"],
                "allocation_pools": _pools(r["cidr"], r["gateway_ip"]), "dns_nameservers": [],
                "host_routes": []}
        if pool_column:
            item["subnetpool_id"] = r["subnetpool_id"]
        out.append(item)
    return out


async def list_subnets(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "subnets", _subnets(conn))


async def get_subnet(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"subnet": _one(ctx, _subnets(conn), "Subnet", params["id"])})


async def create_subnet(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("subnet")
    if not isinstance(body, dict) or not body.get("network_id") or not body.get("cidr"):
        raise bad("Invalid input: network_id and cidr are required")
    tenant = _owner(ctx, body)
    try:
        net = ipaddress.ip_network(body["cidr"], strict=False)
    except ValueError:
        raise bad(f"Invalid input for cidr. Reason: '{body['cidr']}' is not a valid IP subnet.") from None
    gateway = body.get("gateway_ip", str(net.network_address + 1))
    subnet_id = str(uuidlib.uuid4())
    with ctx.write() as conn:
        _one(ctx, _networks(conn), "Network", body["network_id"])
        insert(conn, "subnets", {"tenant_id": tenant, "id": subnet_id, "name": body.get("name", ""),
                                 "network_id": body["network_id"], "ip_version": int(body.get("ip_version", 4)),
                                 "cidr": str(net), "gateway_ip": gateway,
                                 "enable_dhcp": int(body.get("enable_dhcp", True)), "shared": 0})
        subnet = _one(ctx, _subnets(conn), "Subnet", subnet_id)
    return json_response({"subnet": subnet}, 201)


async def delete_subnet(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.write() as conn:
        _one(ctx, _subnets(conn), "Subnet", params["id"])
        used = conn.execute("SELECT COUNT(*) FROM ipallocations a JOIN ports p ON p.id = a.port_id WHERE "
                            "a.subnet_id = ? AND p.device_owner <> 'network:dhcp'", (params["id"],)).fetchone()[0]
        if used:
            raise conflict(f"Unable to complete operation on subnet {params['id']}. One or more ports have an IP "
                           "allocation from this subnet.", "SubnetInUse")
        conn.execute("DELETE FROM ipallocations WHERE subnet_id = ?", (params["id"],))
        conn.execute("DELETE FROM subnets WHERE id = ?", (params["id"],))
    return empty(204)


# --------------------------------------------------------------------------- ports


def _ports(conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    ips: dict[str, list[dict[str, str]]] = {}
    for r in conn.execute("SELECT port_id, subnet_id, ip_address FROM ipallocations ORDER BY ip_address"):
        ips.setdefault(r["port_id"], []).append({"subnet_id": r["subnet_id"], "ip_address": r["ip_address"]})
    groups: dict[str, list[str]] = {}
    for r in conn.execute("SELECT port_id, security_group_id FROM securitygroupportbindings"):
        groups.setdefault(r["port_id"], []).append(r["security_group_id"])
    bindings = {r["port_id"]: r for r in conn.execute("SELECT * FROM ml2_port_bindings")}
    out = []
    for r in conn.execute(f"SELECT * FROM ports {where} ORDER BY id", args):
        b = bindings.get(r["id"])
        out.append({
            "id": r["id"], "name": r["name"] or "", "network_id": r["network_id"], "tenant_id": r["tenant_id"],
            "mac_address": r["mac_address"], "admin_state_up": _b(r["admin_state_up"]), "status": r["status"],
            "device_id": r["device_id"], "device_owner": r["device_owner"], "fixed_ips": ips.get(r["id"], []),
            "security_groups": groups.get(r["id"], []), "allowed_address_pairs": [], "extra_dhcp_opts": [],
            "binding:host_id": b["host"] if b else "", "binding:vif_type": b["vif_type"] if b else "unbound",
            "binding:vnic_type": b["vnic_type"] if b else "normal",
            "binding:vif_details": json.loads(b["vif_details"] or "{}") if b else {},
            "binding:profile": json.loads(b["profile"] or "{}") if b else {},
        })
    return out


async def list_ports(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "ports", _ports(conn))


async def get_port(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"port": _one(ctx, _ports(conn, "WHERE id = ?", (params["id"],)), "Port",
                                           params["id"])})


def _free_address(conn: sqlite3.Connection, subnet: sqlite3.Row) -> str:
    """The lowest address of the subnet's allocation pool nobody holds (neutron's IPAM)."""
    used = {r[0] for r in conn.execute("SELECT ip_address FROM ipallocations WHERE subnet_id = ?", (subnet["id"],))}
    pool = _pools(subnet["cidr"], subnet["gateway_ip"])[0]
    address = ipaddress.ip_address(pool["start"])
    last = ipaddress.ip_address(pool["end"])
    while address <= last:
        if str(address) not in used and str(address) != subnet["gateway_ip"]:
            return str(address)
        address += 1
    raise conflict(f"No more IP addresses available on network {subnet['network_id']}.", "IpAddressGenerationFailure")


def _default_group(conn: sqlite3.Connection, tenant: str) -> str:
    """The tenant's default security group, created on first use as neutron does."""
    row = conn.execute("SELECT security_group_id FROM default_security_group WHERE tenant_id = ?",
                       (tenant,)).fetchone()
    if row is not None:
        return row[0]
    group_id = str(uuidlib.uuid4())
    insert(conn, "securitygroups", {"tenant_id": tenant, "id": group_id, "name": "default",
                                    "description": "Default security group"})
    insert(conn, "default_security_group", {"tenant_id": tenant, "security_group_id": group_id})
    for direction, ether in (("ingress", "IPv4"), ("ingress", "IPv6"), ("egress", "IPv4"), ("egress", "IPv6")):
        insert(conn, "securitygrouprules", {"tenant_id": tenant, "id": str(uuidlib.uuid4()),
                                            "security_group_id": group_id, "direction": direction,
                                            "ethertype": ether,
                                            "remote_group_id": group_id if direction == "ingress" else None})
    return group_id


def create_port_rows(conn: sqlite3.Connection, tenant: str, body: dict[str, Any]) -> str:
    """Insert a port with its addresses, binding and groups; returns its id."""
    network_id = body["network_id"]
    if conn.execute("SELECT 1 FROM networks WHERE id = ?", (network_id,)).fetchone() is None:
        raise not_found("Network", network_id)
    port_id = str(uuidlib.uuid4())
    mac = body.get("mac_address") or _new_mac(conn, network_id)
    insert(conn, "ports", {"tenant_id": tenant, "id": port_id, "name": body.get("name", ""),
                           "network_id": network_id, "mac_address": mac,
                           "admin_state_up": int(body.get("admin_state_up", True)), "status": "DOWN",
                           "device_id": body.get("device_id", ""), "device_owner": body.get("device_owner", "")})
    wanted = body.get("fixed_ips")
    subnets = conn.execute("SELECT * FROM subnets WHERE network_id = ? ORDER BY ip_version, id",
                           (network_id,)).fetchall()
    if wanted is None:
        wanted = [{"subnet_id": s["id"]} for s in subnets if s["ip_version"] == 4][:1]
    by_id = {s["id"]: s for s in subnets}
    for fixed in wanted:
        subnet = by_id.get(fixed.get("subnet_id")) if fixed.get("subnet_id") else None
        if subnet is None and fixed.get("ip_address"):
            subnet = next((s for s in subnets if ipaddress.ip_address(fixed["ip_address"])
                           in ipaddress.ip_network(s["cidr"])), None)
        if subnet is None:
            raise bad(f"Invalid input for fixed_ips: no subnet {fixed.get('subnet_id')} on network {network_id}")
        address = fixed.get("ip_address") or _free_address(conn, subnet)
        if conn.execute("SELECT 1 FROM ipallocations WHERE subnet_id = ? AND ip_address = ?",
                        (subnet["id"], address)).fetchone():
            raise conflict(f"Unable to complete operation for network {network_id}. The IP address {address} "
                           "is in use.", "IpAddressInUse")
        insert(conn, "ipallocations", {"port_id": port_id, "ip_address": address, "subnet_id": subnet["id"],
                                       "network_id": network_id})
    owner = str(body.get("device_owner", ""))
    if not owner.startswith("network:"):
        groups = body.get("security_groups")
        if groups is None:
            groups = [_default_group(conn, tenant)] if tenant else []
        for group in groups:
            insert(conn, "securitygroupportbindings", {"port_id": port_id, "security_group_id": group})
    insert(conn, "ml2_port_bindings", {"port_id": port_id, "host": body.get("binding:host_id", ""),
                                       "vif_type": "unbound", "vnic_type": body.get("binding:vnic_type", "normal"),
                                       "vif_details": "", "profile": json.dumps(body.get("binding:profile") or {})})
    return port_id


def _delete_port_rows(conn: sqlite3.Connection, port_id: str) -> None:
    conn.execute("UPDATE floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL, router_id = NULL "
                 "WHERE fixed_port_id = ?", (port_id,))
    for table in ("ipallocations", "securitygroupportbindings", "ml2_port_bindings"):
        conn.execute(f"DELETE FROM {table} WHERE port_id = ?", (port_id,))
    if has_table(conn, "ml2_port_binding_levels"):
        conn.execute("DELETE FROM ml2_port_binding_levels WHERE port_id = ?", (port_id,))
    conn.execute("DELETE FROM routerports WHERE port_id = ?", (port_id,))
    conn.execute("DELETE FROM ports WHERE id = ?", (port_id,))


async def create_port(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("port")
    if not isinstance(body, dict) or not body.get("network_id"):
        raise bad("Invalid input: network_id is required")
    tenant = _owner(ctx, body)
    with ctx.write() as conn:
        port_id = create_port_rows(conn, tenant, body)
        port = _ports(conn, "WHERE id = ?", (port_id,))[0]
    return json_response({"port": port}, 201)


async def update_port(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("port") or {}
    with ctx.write() as conn:
        _one(ctx, _ports(conn, "WHERE id = ?", (params["id"],)), "Port", params["id"])
        for key in ("name", "device_id", "device_owner", "admin_state_up"):
            if key in body:
                value = int(bool(body[key])) if key == "admin_state_up" else body[key]
                conn.execute(f"UPDATE ports SET {key} = ? WHERE id = ?", (value, params["id"]))
        if "binding:host_id" in body:
            conn.execute("UPDATE ml2_port_bindings SET host = ? WHERE port_id = ?",
                         (body["binding:host_id"], params["id"]))
        port = _ports(conn, "WHERE id = ?", (params["id"],))[0]
    return json_response({"port": port})


async def delete_port(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.write() as conn:
        port = _one(ctx, _ports(conn, "WHERE id = ?", (params["id"],)), "Port", params["id"])
        if port["device_owner"] in ("network:router_interface", "network:router_gateway") and not (
                ctx.identity and ctx.identity.is_admin):
            raise conflict(f"Port {params['id']} cannot be deleted directly via the port API: has device owner "
                           f"{port['device_owner']}", "L3PortInUse")
        _delete_port_rows(conn, params["id"])
    return empty(204)


# --------------------------------------------------------------------------- routers and L3 agents


def _alive_agents(ctx: Ctx, conn: sqlite3.Connection) -> dict[str, bool]:
    found = {}
    for r in conn.execute("SELECT id, host, \"binary\" FROM agents"):
        found[r["id"]] = liveness.agent_alive(ctx.lab, ctx.cluster, r["host"], r["binary"])
    return found


def _routers(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    gw_ips: dict[str, list[dict[str, str]]] = {}
    for r in conn.execute("SELECT port_id, subnet_id, ip_address FROM ipallocations"):
        gw_ips.setdefault(r["port_id"], []).append({"subnet_id": r["subnet_id"], "ip_address": r["ip_address"]})
    ports = {r["id"]: r["network_id"] for r in conn.execute(
        "SELECT id, network_id FROM ports WHERE device_owner = 'network:router_gateway'")}
    out = []
    for r in conn.execute("SELECT * FROM routers ORDER BY name, id"):
        gateway = None
        if r["gw_port_id"] and r["gw_port_id"] in ports:
            gateway = {"network_id": ports[r["gw_port_id"]], "enable_snat": _b(r["enable_snat"]),
                       "external_fixed_ips": gw_ips.get(r["gw_port_id"], [])}
        out.append({"id": r["id"], "name": r["name"] or "", "tenant_id": r["tenant_id"], "status": r["status"],
                    "admin_state_up": _b(r["admin_state_up"]), "external_gateway_info": gateway, "routes": [],
                    "distributed": False, "ha": False})
    return out


async def list_routers(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "routers", _routers(conn))


async def get_router(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"router": _one(ctx, _routers(conn), "Router", params["id"])})


def _agent_view(ctx: Ctx, r: sqlite3.Row, alive: bool) -> dict[str, Any]:
    try:
        configurations = json.loads(r["configurations"] or "{}")
    except ValueError:
        configurations = {}
    return {"id": r["id"], "agent_type": r["agent_type"], "binary": r["binary"], "topic": r["topic"],
            "host": r["host"], "admin_state_up": _b(r["admin_state_up"]), "alive": alive,
            "created_at": str(r["created_at"]) if r["created_at"] else None,
            "started_at": str(r["started_at"]) if r["started_at"] else None,
            "heartbeat_timestamp": (ctx.now() if alive else str(r["heartbeat_timestamp"] or "")),
            "description": r["description"], "configurations": configurations}


def _agents(ctx: Ctx, conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [_agent_view(ctx, r, liveness.agent_alive(ctx.lab, ctx.cluster, r["host"], r["binary"]))
            for r in conn.execute(f"SELECT * FROM agents {where} ORDER BY host, agent_type", args)]


async def list_agents(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        return _listing(ctx, request, "agents", _agents(ctx, conn))


async def get_agent(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        found = _agents(ctx, conn, "WHERE id = ?", (params["id"],))
    if not found:
        raise ApiError(404, f"Agent {params['id']} could not be found", "AgentNotFound")
    return json_response({"agent": found[0]})


async def update_agent(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    body = (await read_body(request)).get("agent") or {}
    with ctx.write() as conn:
        if not conn.execute("SELECT 1 FROM agents WHERE id = ?", (params["id"],)).fetchone():
            raise ApiError(404, f"Agent {params['id']} could not be found", "AgentNotFound")
        if "admin_state_up" in body:
            conn.execute("UPDATE agents SET admin_state_up = ? WHERE id = ?",
                         (int(bool(body["admin_state_up"])), params["id"]))
        if "description" in body:
            conn.execute("UPDATE agents SET description = ? WHERE id = ?", (body["description"], params["id"]))
        agent = _agents(ctx, conn, "WHERE id = ?", (params["id"],))[0]
    return json_response({"agent": agent})


async def delete_agent(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.write() as conn:
        if not conn.execute("SELECT 1 FROM agents WHERE id = ?", (params["id"],)).fetchone():
            raise ApiError(404, f"Agent {params['id']} could not be found", "AgentNotFound")
        conn.execute("DELETE FROM routerl3agentbindings WHERE l3_agent_id = ?", (params["id"],))
        conn.execute("DELETE FROM networkdhcpagentbindings WHERE dhcp_agent_id = ?", (params["id"],))
        conn.execute("DELETE FROM agents WHERE id = ?", (params["id"],))
    return empty(204)


async def router_l3_agents(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        _one(ctx, _routers(conn), "Router", params["id"])
        found = _agents(ctx, conn, "WHERE id IN (SELECT l3_agent_id FROM routerl3agentbindings WHERE router_id = ?)",
                        (params["id"],))
    return json_response({"agents": found})


async def agent_routers(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        ids = {r[0] for r in conn.execute("SELECT router_id FROM routerl3agentbindings WHERE l3_agent_id = ?",
                                          (params["id"],))}
        return json_response({"routers": [r for r in _routers(conn) if r["id"] in ids]})


async def add_agent_router(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    router_id = (await read_body(request)).get("router_id")
    with ctx.write() as conn:
        agent = conn.execute("SELECT * FROM agents WHERE id = ?", (params["id"],)).fetchone()
        if agent is None:
            raise ApiError(404, f"Agent {params['id']} could not be found", "AgentNotFound")
        if agent["agent_type"] != "L3 agent":
            raise bad(f"Agent {params['id']} is not a L3 Agent or has been disabled")
        _one(ctx, _routers(conn), "Router", str(router_id))
        current = conn.execute("SELECT l3_agent_id FROM routerl3agentbindings WHERE router_id = ?",
                               (router_id,)).fetchone()
        if current is not None and current[0] != params["id"]:
            raise conflict(f"The router {router_id} has been already hosted by the L3 Agent {current[0]}.",
                           "RouterHostedByL3Agent")
        if current is None:
            insert(conn, "routerl3agentbindings", {"router_id": router_id, "l3_agent_id": params["id"]})
    return json_response(None, 201)


async def remove_agent_router(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.write() as conn:
        done = conn.execute("DELETE FROM routerl3agentbindings WHERE l3_agent_id = ? AND router_id = ?",
                            (params["id"], params["router"]))
        if done.rowcount == 0:
            raise ApiError(404, f"The router {params['router']} is not hosted by L3 agent {params['id']}.",
                           "RouterNotHostedByL3Agent")
    return empty(204)


async def agent_networks(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        ids = {r[0] for r in conn.execute("SELECT network_id FROM networkdhcpagentbindings WHERE dhcp_agent_id = ?",
                                          (params["id"],))}
        return json_response({"networks": [n for n in _networks(conn) if n["id"] in ids]})


async def add_agent_network(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    network_id = (await read_body(request)).get("network_id")
    with ctx.write() as conn:
        if not conn.execute("SELECT 1 FROM agents WHERE id = ?", (params["id"],)).fetchone():
            raise ApiError(404, f"Agent {params['id']} could not be found", "AgentNotFound")
        _one(ctx, _networks(conn), "Network", str(network_id))
        if not conn.execute("SELECT 1 FROM networkdhcpagentbindings WHERE network_id = ? AND dhcp_agent_id = ?",
                            (network_id, params["id"])).fetchone():
            insert(conn, "networkdhcpagentbindings", {"network_id": network_id, "dhcp_agent_id": params["id"]})
    return json_response(None, 201)


async def remove_agent_network(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.write() as conn:
        conn.execute("DELETE FROM networkdhcpagentbindings WHERE dhcp_agent_id = ? AND network_id = ?",
                     (params["id"], params["network"]))
    return empty(204)


# --------------------------------------------------------------------------- floating IPs


def _floatingips(ctx: Ctx, conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()
                 ) -> list[dict[str, Any]]:
    hosted: dict[str, list[str]] = {}
    for r in conn.execute("SELECT router_id, l3_agent_id FROM routerl3agentbindings"):
        hosted.setdefault(r[0], []).append(r[1])
    alive: dict[str, bool] | None = None
    out = []
    for r in conn.execute(f"SELECT * FROM floatingips {where} ORDER BY floating_ip_address", args):
        status = "DOWN"
        if r["fixed_port_id"] and r["router_id"] and r["router_id"] in hosted:
            if alive is None:
                alive = _alive_agents(ctx, conn)
            if any(alive.get(a) for a in hosted[r["router_id"]]):
                status = "ACTIVE"
        out.append({"id": r["id"], "tenant_id": r["tenant_id"], "floating_ip_address": r["floating_ip_address"],
                    "floating_network_id": r["floating_network_id"], "router_id": r["router_id"],
                    "port_id": r["fixed_port_id"], "fixed_ip_address": r["fixed_ip_address"], "status": status})
    return out


async def list_floatingips(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "floatingips", _floatingips(ctx, conn))


async def get_floatingip(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"floatingip": _one(ctx, _floatingips(ctx, conn, "WHERE id = ?", (params["id"],)),
                                                 "FloatingIP", params["id"])})


def _association(conn: sqlite3.Connection, external_net: str, port_id: str, fixed_ip: str | None
                 ) -> tuple[str, str]:
    """The fixed address and the router that join a port to the external network."""
    port = conn.execute("SELECT * FROM ports WHERE id = ?", (port_id,)).fetchone()
    if port is None:
        raise not_found("Port", port_id)
    allocations = conn.execute("SELECT * FROM ipallocations WHERE port_id = ?", (port_id,)).fetchall()
    chosen = next((a for a in allocations if fixed_ip in (None, a["ip_address"])
                   and ":" not in a["ip_address"]), None)
    if chosen is None:
        raise bad(f"Port {port_id} does not have fixed ip {fixed_ip}")
    router = conn.execute(
        "SELECT r.id FROM routers r JOIN routerports rp ON rp.router_id = r.id "
        "JOIN ipallocations a ON a.port_id = rp.port_id JOIN ports g ON g.id = r.gw_port_id "
        "WHERE rp.port_type = 'network:router_interface' AND a.subnet_id = ? AND g.network_id = ?",
        (chosen["subnet_id"], external_net)).fetchone()
    if router is None:
        raise ApiError(404, f"External network {external_net} is not reachable from subnet {chosen['subnet_id']}. "
                            f"Therefore, cannot associate Port {port_id} with a Floating IP.",
                       "ExternalGatewayForFloatingIPNotFound")
    return chosen["ip_address"], router["id"]


async def create_floatingip(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("floatingip")
    if not isinstance(body, dict) or not body.get("floating_network_id"):
        raise bad("Invalid input: floating_network_id is required")
    tenant = _owner(ctx, body)
    net_id = body["floating_network_id"]
    fip_id = str(uuidlib.uuid4())
    with ctx.write() as conn:
        if not conn.execute("SELECT 1 FROM externalnetworks WHERE network_id = ?", (net_id,)).fetchone():
            raise bad(f"Bad floatingip request: Network {net_id} is not a valid external network.")
        subnet = conn.execute("SELECT * FROM subnets WHERE network_id = ? AND ip_version = 4 ORDER BY id",
                              (net_id,)).fetchone()
        if subnet is None:
            raise bad(f"Bad floatingip request: Network {net_id} has no IPv4 subnet.")
        fixed, router = (None, None)
        if body.get("port_id"):
            fixed, router = _association(conn, net_id, body["port_id"], body.get("fixed_ip_address"))
        wanted = body.get("floating_ip_address")
        fixed_ips = [{"subnet_id": subnet["id"], **({"ip_address": wanted} if wanted else {})}]
        port_id = create_port_rows(conn, "", {"network_id": net_id, "device_id": fip_id,
                                              "device_owner": "network:floatingip", "fixed_ips": fixed_ips})
        conn.execute("UPDATE ports SET status = 'N/A' WHERE id = ?", (port_id,))
        address = conn.execute("SELECT ip_address FROM ipallocations WHERE port_id = ?", (port_id,)).fetchone()[0]
        insert(conn, "floatingips", {"tenant_id": tenant, "id": fip_id, "floating_ip_address": address,
                                     "floating_network_id": net_id, "floating_port_id": port_id,
                                     "fixed_port_id": body.get("port_id"), "fixed_ip_address": fixed,
                                     "router_id": router, "last_known_router_id": router, "status": "DOWN"})
        fip = _floatingips(ctx, conn, "WHERE id = ?", (fip_id,))[0]
    return json_response({"floatingip": fip}, 201)


async def update_floatingip(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("floatingip") or {}
    with ctx.write() as conn:
        current = _one(ctx, _floatingips(ctx, conn, "WHERE id = ?", (params["id"],)), "FloatingIP", params["id"])
        port_id = body.get("port_id")
        if port_id:
            fixed, router = _association(conn, current["floating_network_id"], port_id,
                                         body.get("fixed_ip_address"))
            conn.execute("UPDATE floatingips SET fixed_port_id = ?, fixed_ip_address = ?, router_id = ?, "
                         "last_known_router_id = ? WHERE id = ?", (port_id, fixed, router, router, params["id"]))
        else:
            conn.execute("UPDATE floatingips SET fixed_port_id = NULL, fixed_ip_address = NULL, router_id = NULL "
                         "WHERE id = ?", (params["id"],))
        fip = _floatingips(ctx, conn, "WHERE id = ?", (params["id"],))[0]
    return json_response({"floatingip": fip})


async def delete_floatingip(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.write() as conn:
        _one(ctx, _floatingips(ctx, conn, "WHERE id = ?", (params["id"],)), "FloatingIP", params["id"])
        row = conn.execute("SELECT floating_port_id FROM floatingips WHERE id = ?", (params["id"],)).fetchone()
        conn.execute("DELETE FROM floatingips WHERE id = ?", (params["id"],))
        if row and row[0]:
            _delete_port_rows(conn, row[0])
    return empty(204)


# --------------------------------------------------------------------------- security groups and quotas


def _rules(conn: sqlite3.Connection, where: str = "", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [{"id": r["id"], "tenant_id": r["tenant_id"], "security_group_id": r["security_group_id"],
             "remote_group_id": r["remote_group_id"], "direction": r["direction"], "ethertype": r["ethertype"],
             "protocol": r["protocol"], "port_range_min": r["port_range_min"], "port_range_max": r["port_range_max"],
             "remote_ip_prefix": r["remote_ip_prefix"]}
            for r in conn.execute(f"SELECT * FROM securitygrouprules {where} ORDER BY id", args)]


def _groups(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rules: dict[str, list[dict[str, Any]]] = {}
    for rule in _rules(conn):
        rules.setdefault(rule["security_group_id"], []).append(rule)
    return [{"id": r["id"], "name": r["name"], "description": r["description"] or "", "tenant_id": r["tenant_id"],
             "security_group_rules": rules.get(r["id"], [])}
            for r in conn.execute("SELECT * FROM securitygroups ORDER BY name, id")]


async def list_groups(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "security_groups", _groups(conn))


async def get_group(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"security_group": _one(ctx, _groups(conn), "Security group", params["id"])})


async def create_group(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("security_group") or {}
    tenant = _owner(ctx, body)
    group_id = str(uuidlib.uuid4())
    with ctx.write() as conn:
        _default_group(conn, tenant)
        insert(conn, "securitygroups", {"tenant_id": tenant, "id": group_id, "name": body.get("name", ""),
                                        "description": body.get("description", "")})
        for ether in ("IPv4", "IPv6"):
            insert(conn, "securitygrouprules", {"tenant_id": tenant, "id": str(uuidlib.uuid4()),
                                                "security_group_id": group_id, "direction": "egress",
                                                "ethertype": ether})
        group = _one(ctx, _groups(conn), "Security group", group_id)
    return json_response({"security_group": group}, 201)


async def delete_group(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.write() as conn:
        group = _one(ctx, _groups(conn), "Security group", params["id"])
        if group["name"] == "default" and not (ctx.identity and ctx.identity.is_admin):
            raise conflict("Insufficient rights for removing default security group.", "SecurityGroupCannotRemoveDefault")
        if conn.execute("SELECT 1 FROM securitygroupportbindings WHERE security_group_id = ?",
                        (params["id"],)).fetchone():
            raise conflict(f"Security Group {params['id']} in use.", "SecurityGroupInUse")
        conn.execute("DELETE FROM securitygrouprules WHERE security_group_id = ?", (params["id"],))
        conn.execute("DELETE FROM default_security_group WHERE security_group_id = ?", (params["id"],))
        conn.execute("DELETE FROM securitygroups WHERE id = ?", (params["id"],))
    return empty(204)


async def list_rules(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return _listing(ctx, request, "security_group_rules", _rules(conn))


async def get_rule(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        return json_response({"security_group_rule": _one(ctx, _rules(conn), "Security group rule", params["id"])})


async def create_rule(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = (await read_body(request)).get("security_group_rule") or {}
    if not body.get("security_group_id") or body.get("direction") not in ("ingress", "egress"):
        raise bad("Invalid input: security_group_id and direction (ingress|egress) are required")
    tenant = _owner(ctx, body)
    rule_id = str(uuidlib.uuid4())
    with ctx.write() as conn:
        _one(ctx, _groups(conn), "Security group", body["security_group_id"])
        insert(conn, "securitygrouprules", {
            "tenant_id": tenant, "id": rule_id, "security_group_id": body["security_group_id"],
            "remote_group_id": body.get("remote_group_id"), "direction": body["direction"],
            "ethertype": body.get("ethertype", "IPv4"), "protocol": body.get("protocol"),
            "port_range_min": body.get("port_range_min"), "port_range_max": body.get("port_range_max"),
            "remote_ip_prefix": body.get("remote_ip_prefix")})
        rule = _rules(conn, "WHERE id = ?", (rule_id,))[0]
    return json_response({"security_group_rule": rule}, 201)


async def delete_rule(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.write() as conn:
        _one(ctx, _rules(conn), "Security group rule", params["id"])
        conn.execute("DELETE FROM securitygrouprules WHERE id = ?", (params["id"],))
    return empty(204)


def _quota(conn: sqlite3.Connection, tenant: str) -> dict[str, int]:
    out = dict(QUOTA_DEFAULTS)
    for r in conn.execute('SELECT resource, "limit" FROM quotas WHERE tenant_id = ?', (tenant,)):
        out[r[0]] = r[1]
    return out


async def list_quotas(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.read() as conn:
        tenants = sorted({r[0] for r in conn.execute("SELECT tenant_id FROM quotas")})
        return json_response({"quotas": [{"tenant_id": t, **_quota(conn, t)} for t in tenants]})


async def get_quota(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    tenant = params["tenant"]
    if tenant != ctx.project_id:
        ctx.require_admin()
    with ctx.read() as conn:
        return json_response({"quota": _quota(conn, tenant)})


async def update_quota(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    body = (await read_body(request)).get("quota") or {}
    tenant = params["tenant"]
    with ctx.write() as conn:
        for resource, limit in body.items():
            if resource not in QUOTA_DEFAULTS:
                raise bad(f"Unrecognized attribute(s) '{resource}'")
            updated = conn.execute('UPDATE quotas SET "limit" = ? WHERE tenant_id = ? AND resource = ?',
                                   (int(limit), tenant, resource))
            if updated.rowcount == 0:
                insert(conn, "quotas", {"id": str(uuidlib.uuid4()), "tenant_id": tenant, "resource": resource,
                                        "limit": int(limit)})
        return json_response({"quota": _quota(conn, tenant)})


async def delete_quota(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    ctx.require_admin()
    with ctx.write() as conn:
        conn.execute("DELETE FROM quotas WHERE tenant_id = ?", (params["tenant"],))
    return empty(204)


# --------------------------------------------------------------------------- the API


class NeutronApi(Api):
    service = "neutron"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", root, public=True)
        r("GET", "/extensions", extensions)
        r("GET", "/extensions/{alias}", extensions)
        for plural, listf, getf, createf, deletef, updatef in (
            ("networks", list_networks, get_network, create_network, delete_network, None),
            ("subnets", list_subnets, get_subnet, create_subnet, delete_subnet, None),
            ("ports", list_ports, get_port, create_port, delete_port, update_port),
            ("routers", list_routers, get_router, None, None, None),
            ("floatingips", list_floatingips, get_floatingip, create_floatingip, delete_floatingip,
             update_floatingip),
            ("security-groups", list_groups, get_group, create_group, delete_group, None),
            ("security-group-rules", list_rules, get_rule, create_rule, delete_rule, None),
            ("agents", list_agents, get_agent, None, delete_agent, update_agent),
        ):
            r("GET", f"/{plural}", listf)
            r("GET", f"/{plural}/{{id}}", getf)
            if createf:
                r("POST", f"/{plural}", createf)
            if deletef:
                r("DELETE", f"/{plural}/{{id}}", deletef)
            if updatef:
                r("PUT", f"/{plural}/{{id}}", updatef)
        r("GET", "/routers/{id}/l3-agents", router_l3_agents)
        r("GET", "/agents/{id}/l3-routers", agent_routers)
        r("POST", "/agents/{id}/l3-routers", add_agent_router)
        r("DELETE", "/agents/{id}/l3-routers/{router}", remove_agent_router)
        r("GET", "/agents/{id}/dhcp-networks", agent_networks)
        r("POST", "/agents/{id}/dhcp-networks", add_agent_network)
        r("DELETE", "/agents/{id}/dhcp-networks/{network}", remove_agent_network)
        r("GET", "/quotas", list_quotas)
        r("GET", "/quotas/{tenant}", get_quota)
        r("PUT", "/quotas/{tenant}", update_quota)
        r("DELETE", "/quotas/{tenant}", delete_quota)

    def split(self, path: str) -> tuple[str | None, str | None, str]:
        if path == "/v2.0" or path.startswith("/v2.0/"):
            rest = path[len("/v2.0"):] or "/"
            if rest.endswith(".json"):
                rest = rest[:-len(".json")]
            return "v2.0", None, rest
        return None, None, path if path == "/" else f"/unversioned{path}"

    def error_response(self, exc: ApiError) -> web.Response:
        kind = exc.kind if exc.kind and exc.kind[0].isupper() else _error_type(exc.status)
        return json_response({"NeutronError": {"type": kind, "message": exc.message, "detail": ""}},
                             exc.status, exc.headers)
