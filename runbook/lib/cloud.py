"""OpenStack APIs of an env (the original or the seed) through openstacksdk, read as plain dicts.

`connect` opens a connection from the clouds file the target names, with an
API timeout on every request (a hanging API raises instead of blocking).
The read helpers return plain dicts, sorted by id, holding the id and the
fields that matter to an upgrade: a baseline taken on the original and one
taken on the seed compare with `==`. Fields that change by themselves (update
times, links, the location of the connection) are left out on purpose.

Fuel's nova catalog entry is the legacy `/v2/%(tenant_id)s`: openstacksdk
then speaks v2.0 without microversions, which is enough for reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import openstack
import openstack.config
import requests
from keystoneauth1 import exceptions as ka_exc
from openstack import exceptions as os_exc
from tenacity import retry_if_exception_type, stop_after_delay, wait_exponential

from runbook import redact
from runbook.errors import CloudError, ConfigError, RemoteTimeout, UnreachableError
from runbook.lib import waits

if TYPE_CHECKING:
    from openstack.connection import Connection

    from runbook.config import Target

log = logging.getLogger(__name__)

T = TypeVar("T")
Record = dict[str, Any]

DEFAULT_TIMEOUT = 30.0  # seconds per API request (connect and read)


def cloud_name(env_id: int) -> str:
    """The clouds.yaml entry of an env, as the target's clouds file names them."""
    return f"env-{env_id}"


def connect(clouds_file: str | Path, cloud: str, timeout: float = DEFAULT_TIMEOUT) -> Connection:
    """A connection to `cloud` of `clouds_file`; every request gives up after `timeout` seconds.

    Only that file is read (not ~/.config/openstack or /etc/openstack), so the
    target alone decides where the runbook goes.
    """
    path = Path(clouds_file)
    if not path.is_file():
        raise ConfigError(f"clouds file {path} does not exist", "fix `clouds.file` in the target")
    try:
        config = openstack.config.OpenStackConfig(config_files=[str(path)], vendor_files=[],
                                                  load_envvars=False)
        region = config.get_one(cloud=cloud, api_timeout=timeout)
    except os_exc.ConfigException as exc:
        known = sorted(getattr(config, "cloud_config", {}).get("clouds", {})) if "config" in locals() else []
        raise ConfigError(f"{path}: no usable cloud {cloud!r}: {exc}",
                          f"use one of: {', '.join(known) or 'none'}; or fix the file") from None
    redact.register(region.auth.get("password"), region.auth.get("token"))
    return openstack.connection.Connection(config=region)


def from_target(target: Target, env_id: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> Connection:
    """The connection to an env (default: the target's original env) from the target's clouds file."""
    return connect(target.clouds.file, cloud_name(target.env if env_id is None else env_id), timeout)


def _where(conn: Connection) -> str:
    return f"cloud {conn.config.name}"


def call(conn: Connection, what: str, fn: Callable[[], T]) -> T:
    """Run one API read; its failure as CloudError / RemoteTimeout / UnreachableError with a fix."""
    try:
        return fn()
    except (ka_exc.ConnectTimeout, ka_exc.RequestTimeout) as exc:
        raise RemoteTimeout(
            f"{_where(conn)}: {what} got no answer within {conn.config.config.get('api_timeout')} s "
            f"({type(exc).__name__})",
            "check the API on the controllers (haproxy and the service behind it), then retry") from None
    except ka_exc.ConnectFailure as exc:
        raise UnreachableError(f"{_where(conn)}: {what}: the API cannot be reached ({type(exc).__name__})",
                               "check the env's public VIP and the clouds file's auth_url") from None
    except ka_exc.Unauthorized:
        raise CloudError(f"{_where(conn)}: keystone refused the credentials for {what}",
                         "check the user, project and password of the cloud in the clouds file") from None
    except (os_exc.SDKException, ka_exc.ClientException) as exc:
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
        detail = redact.redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise CloudError(f"{_where(conn)}: {what} failed" + (f" (HTTP {status})" if status else "")
                         + f": {detail}",
                         "check the service on the controllers (its log and `haproxy` backend), then retry") \
            from None
    except requests.exceptions.JSONDecodeError:
        # A body that is not JSON (HAProxy's 503 page while an API is in maintenance or its
        # backend is down) reaches openstacksdk's decoder, not its HTTP error handling.
        raise CloudError(f"{_where(conn)}: {what}: the API answered with a body that is not JSON",
                         "check the service's `haproxy` backend and the service's log, then retry") from None


def _listed(conn: Connection, what: str, items: Callable[[], Iterable[Any]],
            shape: Callable[[Any], Record]) -> list[Record]:
    rows = call(conn, what, lambda: [shape(item) for item in items()])
    return sorted(rows, key=lambda r: _key(r["id"]))


def _key(value: Any) -> tuple[int, Any]:
    """A sort key for ids (numbers in numeric order) and None-holding tuples (None first)."""
    if value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, tuple | list):
        return (2, tuple(_key(v) for v in value))
    return (3, str(value))


def _sorted_rows(rows: Iterable[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(r) for r in sorted(rows, key=_key)]


def _ids(values: Iterable[Any] | None, key: str = "id") -> list[str]:
    return sorted(str(v.get(key) if isinstance(v, dict) else getattr(v, key, v)) for v in values or [])


# --------------------------------------------------------------------------- compute


def servers(conn: Connection, host: str | None = None) -> list[Record]:
    """Every server of every project (or those nova places on `host`), with where it runs and its state."""
    def shape(s: Any) -> Record:
        addresses = _sorted_rows(
            (net, a.get("addr"), a.get("OS-EXT-IPS:type"))
            for net, items in (s.addresses or {}).items() for a in items)
        return {
            "id": s.id, "name": s.name, "project_id": s.project_id, "status": s.status,
            "vm_state": s.vm_state, "power_state": s.power_state, "host": s.compute_host,
            "hypervisor_hostname": s.hypervisor_hostname,
            "flavor_id": (s.flavor or {}).get("id"), "image_id": (s.image or {}).get("id") or None,
            "key_name": s.key_name, "addresses": addresses,
            "volume_ids": _ids(s.attached_volumes),
            "security_groups": sorted({g.get("name") for g in s.security_groups or []}),
        }
    query = {"compute_host": host} if host else {}
    return _listed(conn, "GET servers/detail?all_tenants" + (f"&host={host}" if host else ""),
                   lambda: conn.compute.servers(details=True, all_projects=True, **query), shape)


def _service(s: Any) -> Record:
    return {"id": s.id, "binary": s.binary, "host": s.host, "zone": s.availability_zone,
            "status": s.status, "state": s.state, "disabled_reason": s.disabled_reason}


def compute_services(conn: Connection) -> list[Record]:
    return _listed(conn, "GET os-services", conn.compute.services, _service)


def hypervisors(conn: Connection) -> list[Record]:
    return _listed(conn, "GET os-hypervisors/detail", lambda: conn.compute.hypervisors(details=True),
                   lambda h: {"id": h.id, "name": h.name, "host_ip": h.host_ip, "state": h.state,
                              "status": h.status, "type": h.hypervisor_type, "vcpus": h.vcpus,
                              "memory_mb": h.memory_size, "running_vms": h.running_vms})


def flavors(conn: Connection) -> list[Record]:
    return _listed(conn, "GET flavors/detail", lambda: conn.compute.flavors(details=True, is_public=None),
                   lambda f: {"id": f.id, "name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
                              "ephemeral": f.ephemeral, "swap": f.swap or 0, "is_public": f.is_public})


# --------------------------------------------------------------------------- block storage, image


def volumes(conn: Connection) -> list[Record]:
    """Every volume of every project, with its attachments (server, device, host)."""
    return _listed(conn, "GET volumes/detail?all_tenants", lambda: conn.block_storage.volumes(
        details=True, all_projects=True), lambda v: {
            "id": v.id, "name": v.name, "project_id": v.project_id, "status": v.status, "size": v.size,
            "volume_type": v.volume_type, "bootable": v.is_bootable,
            "attachments": sorted(({"server_id": a.get("server_id"), "device": a.get("device"),
                                    "host": a.get("host_name")} for a in v.attachments or []),
                                  key=lambda a: _key((a["server_id"], a["device"])))})


def images(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v2/images", conn.image.images, lambda i: {
        "id": i.id, "name": i.name, "status": i.status, "visibility": i.visibility, "owner": i.owner_id,
        "disk_format": i.disk_format, "container_format": i.container_format, "size": i.size,
        "checksum": i.checksum})


# --------------------------------------------------------------------------- network


def networks(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v2.0/networks", conn.network.networks, lambda n: {
        "id": n.id, "name": n.name, "project_id": n.project_id, "status": n.status,
        "shared": n.is_shared, "external": n.is_router_external,
        "network_type": n.provider_network_type, "physical_network": n.provider_physical_network,
        "segmentation_id": n.provider_segmentation_id, "subnet_ids": sorted(n.subnet_ids or [])})


def subnets(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v2.0/subnets", conn.network.subnets, lambda s: {
        "id": s.id, "name": s.name, "network_id": s.network_id, "project_id": s.project_id,
        "cidr": s.cidr, "gateway_ip": s.gateway_ip, "ip_version": s.ip_version,
        "dhcp": s.is_dhcp_enabled,
        "allocation_pools": _sorted_rows((p.get("start"), p.get("end")) for p in s.allocation_pools or [])})


def ports(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v2.0/ports", conn.network.ports, lambda p: {
        "id": p.id, "network_id": p.network_id, "project_id": p.project_id, "mac": p.mac_address,
        "device_id": p.device_id, "device_owner": p.device_owner,
        "fixed_ips": _sorted_rows((i.get("subnet_id"), i.get("ip_address")) for i in p.fixed_ips or []),
        "security_group_ids": sorted(p.security_group_ids or [])})


def routers(conn: Connection) -> list[Record]:
    def shape(r: Any) -> Record:
        gateway = r.external_gateway_info or {}
        return {"id": r.id, "name": r.name, "project_id": r.project_id, "status": r.status,
                "external_network_id": gateway.get("network_id"),
                "external_ips": sorted(str(i.get("ip_address")) for i in gateway.get("external_fixed_ips") or [])}
    return _listed(conn, "GET v2.0/routers", conn.network.routers, shape)


def floating_ips(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v2.0/floatingips", conn.network.ips, lambda f: {
        "id": f.id, "address": f.floating_ip_address, "fixed_address": f.fixed_ip_address,
        "port_id": f.port_id, "router_id": f.router_id, "network_id": f.floating_network_id,
        "project_id": f.project_id})


def security_groups(conn: Connection) -> list[Record]:
    def shape(g: Any) -> Record:
        rules = _sorted_rows(
            (r.get("direction"), r.get("ethertype"), r.get("protocol"), r.get("port_range_min"),
             r.get("port_range_max"), r.get("remote_ip_prefix"), r.get("remote_group_id"))
            for r in g.security_group_rules or [])
        return {"id": g.id, "name": g.name, "project_id": g.project_id, "rules": rules}
    return _listed(conn, "GET v2.0/security-groups", conn.network.security_groups, shape)


# --------------------------------------------------------------------------- identity, orchestration


def projects(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v3/projects", conn.identity.projects, lambda p: {
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "enabled": p.is_enabled})


def users(conn: Connection) -> list[Record]:
    return _listed(conn, "GET v3/users", conn.identity.users, lambda u: {
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.is_enabled,
        "default_project_id": u.default_project_id, "email": u.email})


def stacks(conn: Connection) -> list[Record]:
    """Every project's stacks. openstacksdk's Stack query drops `global_tenant`, so it is sent raw."""
    def fetch() -> list[dict[str, Any]]:
        response = conn.orchestration.get("/stacks", params={"global_tenant": "True"})
        os_exc.raise_from_response(response)
        return response.json().get("stacks", [])

    return _listed(conn, "GET v1/stacks?global_tenant", fetch, lambda s: {
        "id": s.get("id"), "name": s.get("stack_name"), "project_id": s.get("project") or _link_project(s),
        "status": s.get("stack_status")})


def _link_project(stack: dict[str, Any]) -> str | None:
    """The project from the stack's self link (/v1/<project>/stacks/...) when `project` is absent."""
    for link in stack.get("links") or []:
        parts = str(link.get("href", "")).split("/")
        if link.get("rel") == "self" and "stacks" in parts:
            return parts[parts.index("stacks") - 1] or None
    return None


def quotas(conn: Connection, project_ids: Iterable[str] | None = None) -> list[Record]:
    """Compute, volume and network quotas of each project (default: every project); id = project id."""
    ids = sorted(project_ids) if project_ids is not None else [p["id"] for p in projects(conn)]
    skip = {"id", "name", "location", "project_id", "tenant_id", "reservation", "usage"}

    def plain(resource: Any) -> dict[str, Any]:
        values = resource.to_dict(computed=False) if hasattr(resource, "to_dict") else dict(resource)
        return {k: v for k, v in sorted(values.items()) if k not in skip and v is not None}

    rows = []
    for project in ids:
        rows.append({
            "id": project,
            "compute": plain(call(conn, f"GET os-quota-sets/{project}",
                                  lambda p=project: conn.compute.get_quota_set(p))),
            "volume": plain(call(conn, f"GET os-quota-sets/{project} (cinder)",
                                 lambda p=project: conn.block_storage.get_quota_set(p))),
            "network": plain(call(conn, f"GET v2.0/quotas/{project}",
                                  lambda p=project: conn.network.get_quota(p))),
        })
    return rows


# --------------------------------------------------------------------------- agents, services, probes


def network_agents(conn: Connection, host: str | None = None) -> list[Record]:
    """Neutron's agents (every one, or those of `host`) with their liveness (`alive`: heartbeats reach
    neutron-server)."""
    query = {"host": host} if host else {}
    return _listed(conn, "GET v2.0/agents" + (f"?host={host}" if host else ""),
                   lambda: conn.network.agents(**query), lambda a: {
        "id": a.id, "type": a.agent_type, "binary": a.binary, "host": a.host, "alive": bool(a.is_alive),
        "admin_state_up": bool(a.is_admin_state_up)})


def delete_compute_service(conn: Connection, service_id: Any) -> None:
    """`nova service-delete`: the service row goes (with a nova-compute's compute node); one already
    gone is fine. A service whose daemon still runs registers again at its next report."""
    call(conn, f"DELETE os-services/{service_id}", lambda: conn.compute.delete_service(service_id,
                                                                                       ignore_missing=True))


def delete_network_agent(conn: Connection, agent_id: str) -> None:
    """`neutron agent-delete` (its router and network bindings go with it); one already gone is fine."""
    call(conn, f"DELETE v2.0/agents/{agent_id}", lambda: conn.network.delete_agent(agent_id, ignore_missing=True))


def router_hosts(conn: Connection, router_id: str) -> list[str]:
    """The ids of the L3 agents hosting a router."""
    return sorted(call(conn, f"GET v2.0/routers/{router_id}/l3-agents",
                       lambda: [a.id for a in conn.network.routers_hosting_l3_agents(router_id)]))


def add_router_to_agent(conn: Connection, agent_id: str, router_id: str) -> None:
    """`neutron l3-agent-router-add`: the L3 agent hosts the router (refused while another does)."""
    call(conn, f"POST v2.0/agents/{agent_id}/l3-routers", lambda: conn.network.add_router_to_agent(agent_id, router_id))


def remove_router_from_agent(conn: Connection, agent_id: str, router_id: str) -> None:
    """`neutron l3-agent-router-remove`."""
    call(conn, f"DELETE v2.0/agents/{agent_id}/l3-routers/{router_id}",
         lambda: conn.network.remove_router_from_agent(agent_id, router_id))


def volume_services(conn: Connection) -> list[Record]:
    """Cinder's services (`host` of a volume backend: `name@backend`), with their state."""
    rows = call(conn, "GET os-services (cinder)", lambda: [
        {"binary": s.binary, "host": s.host, "status": s.status, "state": s.state}
        for s in conn.block_storage.services()])
    return sorted(rows, key=lambda r: (r["binary"], r["host"]))


def volume_hosts(conn: Connection) -> dict[str, str | None]:
    """{volume id: the cinder-volume host serving it (`os-vol-host-attr:host`)} of every project."""
    return call(conn, "GET volumes/detail?all_tenants", lambda: {
        v.id: v.host for v in conn.block_storage.volumes(details=True, all_projects=True)})


def write_probes(conn: Connection) -> dict[str, int]:
    """One non-GET request per API that changes nothing even where the API is writable: a key pair whose
    name nova's validation refuses (400 before any write), and deletions of a fresh random UUID, which
    no resource has (404/405). The status says who answered: 503 is HAProxy's maintenance backend
    (the API refuses writes); anything else means the request reached the service."""
    import uuid

    answers = {}
    once = {"raise_exc": False, "status_code_retries": 0}  # openstacksdk retries some services' 503s
    probe = call(conn, "POST os-keypairs (probe)", lambda: conn.compute.post(
        "/os-keypairs", json={"keypair": {"name": "octane/write probe"}}, **once))
    answers[f"POST {probe.url}"] = probe.status_code
    for service, path in (("network", "/networks"), ("block_storage", "/volumes"), ("image", "/images"),
                          ("orchestration", "/stacks/octane-probe")):
        probe = call(conn, f"DELETE {path} (probe)", lambda s=service, p=path: getattr(conn, s).delete(
            f"{p}/{uuid.uuid4()}", **once))
        answers[f"DELETE {probe.url}"] = probe.status_code
    return answers


# --------------------------------------------------------------------------- draining a compute (stage 6)

DEFAULT_POLL = 2.0  # seconds between two reads of a wait: a GET of one server or of the list is cheap


def hypervisor_capacity(conn: Connection) -> dict[str, Record]:
    """{compute host: the hypervisor's totals (vcpus, memory_mb, local_gb), state, status}: what the
    scheduler's filters start from (allocation ratios and reserves are nova.conf's)."""
    def shape(h: Any) -> tuple[str, Record]:
        host = (h.service_details or {}).get("host") or str(h.name).split(".")[0]
        return host, {"vcpus": h.vcpus, "memory_mb": h.memory_size, "local_gb": h.local_disk_size,
                      "state": h.state, "status": h.status}
    return dict(call(conn, "GET os-hypervisors/detail", lambda: [shape(h) for h in conn.compute.hypervisors(
        details=True)]))


def compute_service(conn: Connection, host: str) -> Record:
    """The nova-compute service of `host` (status enabled/disabled, state up/down, reason); asked of
    nova by host and binary, not read out of the whole list."""
    found = [s for s in _listed(conn, f"GET os-services?host={host}&binary=nova-compute",
                                lambda: conn.compute.services(host=host, binary="nova-compute"), _service)
             if s["binary"] == "nova-compute" and s["host"] == host]
    if not found:
        raise CloudError(f"{_where(conn)}: no nova-compute service on host {host}",
                         "check the host name against `openstack compute service list`")
    return found[0]


def disable_compute(conn: Connection, host: str, reason: str) -> Record:
    """`nova service-disable --reason`: the scheduler sends nothing new to `host`; the service now."""
    call(conn, f"PUT os-services/disable-log-reason ({host})", lambda: conn.compute.disable_service(
        None, host=host, binary="nova-compute", disabled_reason=reason))
    return compute_service(conn, host)


def enable_compute(conn: Connection, host: str) -> Record:
    """`nova service-enable`: the scheduler may place VMs on `host` again; the service now."""
    call(conn, f"PUT os-services/enable ({host})", lambda: conn.compute.enable_service(
        None, host=host, binary="nova-compute"))
    return compute_service(conn, host)


def server(conn: Connection, server_id: str) -> Record:
    """One server, shaped as `servers` shapes them, with its task state (a migration in flight)."""
    raw = call(conn, f"GET servers/{server_id}", lambda: conn.compute.get_server(server_id))
    return {"id": raw.id, "name": raw.name, "status": raw.status, "vm_state": raw.vm_state,
            "task_state": raw.task_state, "power_state": raw.power_state, "host": raw.compute_host,
            "hypervisor_hostname": raw.hypervisor_hostname}


def live_migrate(conn: Connection, server_id: str, host: str | None, *, block_migration: bool) -> None:
    """`os-migrateLive` of one server (202: it runs in the background; `wait_migrated` follows it).

    The env's catalog is the legacy v2 API (no microversions): `block_migration` must be True or
    False (Ceph-backed ephemeral disks: False), never "auto". A named `host` bypasses the scheduler's
    choice (`force`), which is the plan's; nova still checks the host is up and has the memory."""
    call(conn, f"POST servers/{server_id}/action os-migrateLive (to {host or 'the scheduler'})",
         lambda: conn.compute.live_migrate_server(server_id, host=host, force=bool(host),
                                                  block_migration=block_migration, disk_over_commit=False))


class _NotYet(Exception):
    """A wait's condition does not hold yet (retried until the deadline)."""


def _wait(what: str, probe: Callable[[], T], timeout: float, poll: float) -> T:
    """`probe()` until it stops raising _NotYet; its last _NotYet once `timeout` seconds passed.
    Polls back off from 0.1 s to `poll`: a quick operation is seen at once, a long one costs few GETs."""
    return waits.retrying(what, stop=stop_after_delay(timeout),
                          wait=wait_exponential(multiplier=0.1, min=0.1, max=poll),
                          retry=retry_if_exception_type(_NotYet), reraise=True)(probe)


def wait_migrated(conn: Connection, server_id: str, source: str, timeout: float,
                  poll: float = DEFAULT_POLL) -> Record:
    """Wait until a server runs ACTIVE on another host than `source`, with no task.

    Ends at once with CloudError when the migration ended without moving it (nova clears the task
    and leaves it on the source: no valid host, the target refused) or left it in ERROR; with
    RemoteTimeout after `timeout` seconds."""
    def probe() -> Record:
        found = server(conn, server_id)
        if found["status"] == "ERROR":
            raise CloudError(f"{_where(conn)}: VM {server_id} ({found['name']}) went to ERROR while migrating "
                             f"from {source}", "read nova-compute's log on both hosts; reset the VM's state "
                             "(`nova reset-state --active`) once it is known to run, then re-run")
        if not found["task_state"] and found["host"] == source:
            raise CloudError(f"{_where(conn)}: the live migration of VM {server_id} ({found['name']}) ended "
                             f"with it still on {source} ({found['status']})",
                             "read nova-conductor's and nova-compute's logs (no valid host, target "
                             "refused), fix the cause, then re-run: done moves are not repeated")
        if found["task_state"] or found["status"] != "ACTIVE":
            raise _NotYet(f"VM {server_id} ({found['name']}) is {found['status']} ({found['task_state']}) "
                          f"on {found['host']}")
        return found

    try:
        return _wait(f"VM {server_id} to leave {source}", probe, timeout, poll)
    except _NotYet as exc:
        raise RemoteTimeout(f"{_where(conn)}: {exc} after {timeout:g} s",
                            "look at the migration with `nova migration-list`; wait longer or abort it") from None


def servers_on(conn: Connection, host: str) -> list[Record]:
    """The servers nova places on `host`, every project (asked of nova by host: one compute's, not all)."""
    return [s for s in servers(conn, host) if s["host"] == host]


def wait_host_empty(conn: Connection, host: str, timeout: float, poll: float = DEFAULT_POLL) -> None:
    """Wait until nova lists no server on `host`; RemoteTimeout naming those left."""
    def probe() -> None:
        left = servers_on(conn, host)
        if left:
            raise _NotYet(f"{host} still hosts {len(left)} server(s): "
                          + ", ".join(f"{s['id']} ({s['status']})" for s in left[:10]))

    try:
        _wait(f"{host} to host no server", probe, timeout, poll)
    except _NotYet as exc:
        raise RemoteTimeout(f"{_where(conn)}: {exc} after {timeout:g} s",
                            "migrate them away (or delete them), then re-run") from None


BASELINE = {
    "servers": servers, "compute_services": compute_services, "hypervisors": hypervisors,
    "flavors": flavors, "volumes": volumes, "images": images, "networks": networks,
    "subnets": subnets, "ports": ports, "routers": routers, "floating_ips": floating_ips,
    "security_groups": security_groups, "projects": projects, "users": users, "stacks": stacks,
    "quotas": quotas,
}
"""Every read helper by name, for callers that capture them all."""
