"""Pacemaker 1.1.12's output formats, rendered from a member's view of its cluster.

`crm_mon -1` text, `crm_mon --as-xml`, the CIB of `cibadmin -Q` and crmsh's
`crm configure show`. Layout and attribute names follow pacemaker 1.1.12 and
crmsh 2.1 as shipped with Fuel 6.1/7.0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from fuellab import pacemaker, services
from fuellab.node.daemons import LAB_EPOCH
from fuellab.pacemaker import View
from fuellab.world import Cluster, Node, World

FEATURE_SET = "3.0.9"


def lab_date(lab_seconds: float) -> str:
    """`Mon Nov  2 09:00:00 2015`, as ctime() prints it."""
    d: datetime = LAB_EPOCH + timedelta(seconds=lab_seconds)
    return f"{d:%a %b} {d.day:2d} {d:%H:%M:%S %Y}"


def agent_parts(res: dict[str, Any]) -> tuple[str, str, str]:
    """"ocf:fuel:ns_IPaddr2" -> ("ocf", "fuel", "ns_IPaddr2")."""
    parts = res["agent"].split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return parts[0], "", parts[-1]


def agent_label(res: dict[str, Any]) -> str:
    cls, provider, kind = agent_parts(res)
    return f"{cls}::{provider}:{kind}" if provider else f"{cls}::{kind}"


def instance_count(v: View, res: dict[str, Any]) -> int:
    return 1 if res["kind"] == "primitive" else len(v.configured)


def _params(world: World, cluster: Cluster, res: dict[str, Any]) -> dict[str, str]:
    vip = res.get("vip")
    if vip and vip in cluster.vips and vip in world.networks:
        net = world.networks[vip]
        return {"ns": "haproxy", "ip": cluster.vips[vip], "cidr_netmask": net.cidr.split("/")[1],
                "bridge": net.bridge, "base_veth": f"{net.bridge}-hapr", "ns_veth": f"hapr-{vip[0]}"}
    return {}


def _meta(res: dict[str, Any]) -> dict[str, str]:
    if res["kind"] == "clone":
        return {"interleave": "true"}
    if res["kind"] == "master":
        return {"notify": "true", "ordered": "false", "interleave": "true", "master-max": "1",
                "master-node-max": "1"}
    return {}


# --------------------------------------------------------------------------- crm_mon text


def crm_mon_text(world: World, v: View, inactive: bool = False) -> str:
    return "\n".join(header_lines(world, v) + resource_lines(v, inactive)) + "\n"


def header_lines(world: World, v: View) -> list[str]:
    """crm_mon's summary and node list, up to the blank line before the resources."""
    cluster = v.cluster
    quorum = "partition with quorum" if v.quorate else "partition WITHOUT quorum"
    lines = [
        f"Last updated: {lab_date(world.clock.now())}",
        f"Last change: {lab_date(float(cluster.pacemaker.get('changed_at', 0.0)))} "
        f"via cibadmin on {v.dc.hostname}",
        "Stack: corosync",
        f"Current DC: {v.dc.hostname} ({v.dc.id}) - {quorum}",
        f"Version: {pacemaker.BUILD}",
        f"{len(v.configured)} Nodes configured",
        f"{sum(instance_count(v, r) for r in services.resources(cluster))} Resources configured",
        "",
        "",
    ]
    if cluster.pacemaker.get("maintenance"):
        lines += ["              *** Resource management is DISABLED ***",
                  "  The cluster will not attempt to start, stop or recover services", ""]
    for node in v.configured:
        if v.online(node) and v.standby(node):
            lines.append(f"Node {node.hostname} ({node.id}): standby")
    online = [n.hostname for n in v.configured if v.online(n) and not v.standby(n)]
    offline = [n.hostname for n in v.configured if not v.online(n)]
    if online:
        lines.append(f"Online: [ {' '.join(online)} ]")
    if offline:
        lines.append(f"OFFLINE: [ {' '.join(offline)} ]")
    lines.append("")
    return lines


def resource_lines(v: View, inactive: bool = False) -> list[str]:
    """The resource section of crm_mon (also what `pcs resource` and `crm resource list` show)."""
    cluster = v.cluster
    unmanaged = " (unmanaged)" if cluster.pacemaker.get("maintenance") else ""
    lines = []
    for res in services.resources(cluster):
        where = v.where(res["id"])
        if res["kind"] == "primitive":
            if where:
                lines.append(f" {res['id']}\t({agent_label(res)}):\tStarted {where[0][0].hostname} {unmanaged}".rstrip(" ") + " ")
            elif inactive:
                lines.append(f" {res['id']}\t({agent_label(res)}):\tStopped{unmanaged} ")
            continue
        title = "Clone Set" if res["kind"] == "clone" else "Master/Slave Set"
        lines.append(f" {title}: {res['id']} [{res['primitive']}]{unmanaged}")
        running = {n.hostname for n, _ in where}
        if res["kind"] == "master":
            masters = [n.hostname for n, role in where if role == "Master"]
            slaves = [n.hostname for n, role in where if role != "Master"]
            if masters:
                lines.append(f"     Masters: [ {' '.join(masters)} ]")
            if slaves:
                lines.append(f"     Slaves: [ {' '.join(slaves)} ]")
        elif running:
            lines.append(f"     Started: [ {' '.join(n.hostname for n in v.configured if n.hostname in running)} ]")
        stopped = [n.hostname for n in v.configured if n.hostname not in running]
        if stopped:
            lines.append(f"     Stopped: [ {' '.join(stopped)} ]")
    return lines


# --------------------------------------------------------------------------- crm_mon --as-xml


def _node_attrs(v: View, node: Node, xml_view: bool) -> dict[str, str]:
    online = v.online(node)
    running = sum(1 for p in v.placements if p.node_id == node.id)
    attrs = {"name": node.hostname, "id": str(node.id), "online": str(online).lower(),
             "standby": str(v.standby(node)).lower(), "standby_onfail": "false",
             "maintenance": "false", "pending": "false", "unclean": "false", "shutdown": "false",
             "expected_up": str(online).lower(), "is_dc": str(online and node.id == v.dc.id).lower(),
             "resources_running": str(running), "type": "member"}
    return attrs


def _xml_resource(parent: ET.Element, res: dict[str, Any], rid: str, role: str, nodes: list[Node],
                  managed: bool) -> None:
    el = ET.SubElement(parent, "resource", {
        "id": rid, "resource_agent": agent_label(res), "role": role,
        "active": str(bool(nodes)).lower(), "orphaned": "false", "managed": str(managed).lower(),
        "failed": "false", "failure_ignored": "false", "nodes_running_on": str(len(nodes)),
    })
    for node in nodes:
        ET.SubElement(el, "node", {"name": node.hostname, "id": str(node.id), "cached": "false"})


def crm_mon_xml(world: World, v: View) -> str:
    cluster = v.cluster
    managed = not cluster.pacemaker.get("maintenance")
    root = ET.Element("crm_mon", {"version": pacemaker.VERSION})
    summary = ET.SubElement(root, "summary")
    ET.SubElement(summary, "last_update", {"time": lab_date(world.clock.now())})
    ET.SubElement(summary, "last_change", {
        "time": lab_date(float(cluster.pacemaker.get("changed_at", 0.0))), "user": "",
        "client": "cibadmin", "origin": v.dc.hostname})
    ET.SubElement(summary, "stack", {"type": "corosync"})
    ET.SubElement(summary, "current_dc", {
        "present": "true", "version": pacemaker.BUILD, "name": v.dc.hostname, "id": str(v.dc.id),
        "with_quorum": str(v.quorate).lower()})
    ET.SubElement(summary, "nodes_configured", {"number": str(len(v.configured)), "expected_votes": "unknown"})
    ET.SubElement(summary, "resources_configured", {
        "number": str(sum(instance_count(v, r) for r in services.resources(cluster)))})
    nodes = ET.SubElement(root, "nodes")
    for node in v.configured:
        ET.SubElement(nodes, "node", _node_attrs(v, node, True))
    resources = ET.SubElement(root, "resources")
    for res in services.resources(cluster):
        where = v.where(res["id"])
        if res["kind"] == "primitive":
            role = "Started" if where else "Stopped"
            _xml_resource(resources, res, res["id"], role, [n for n, _ in where], managed)
            continue
        clone = ET.SubElement(resources, "clone", {
            "id": res["id"], "multi_state": str(res["kind"] == "master").lower(), "unique": "false",
            "managed": str(managed).lower(), "failed": "false", "failure_ignored": "false"})
        for node, role in where:
            _xml_resource(clone, res, res["primitive"], role, [node], managed)
        for _ in range(len(v.configured) - len(where)):
            _xml_resource(clone, res, res["primitive"], "Stopped", [], managed)
    ET.SubElement(root, "node_attributes")
    ET.indent(root, space="    ")
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- the CIB


def _nvset(parent: ET.Element, tag: str, owner: str, values: dict[str, str]) -> None:
    if not values:
        return
    group = ET.SubElement(parent, tag, {"id": f"{owner}-{tag}"})
    for name, value in values.items():
        ET.SubElement(group, "nvpair", {"id": f"{owner}-{tag}-{name}", "name": name, "value": value})


def _primitive(world: World, cluster: Cluster, parent: ET.Element, res: dict[str, Any]) -> None:
    cls, provider, kind = agent_parts(res)
    pid = res["primitive"]
    attrs = {"class": cls, "id": pid}
    if provider:
        attrs["provider"] = provider
    attrs["type"] = kind
    prim = ET.SubElement(parent, "primitive", attrs)
    _nvset(prim, "instance_attributes", pid, _params(world, cluster, res))
    if res["kind"] == "primitive":
        _nvset(prim, "meta_attributes", pid, {"target-role": res.get("target_role", "Started")})
    ops = ET.SubElement(prim, "operations")
    ET.SubElement(ops, "op", {"id": f"{pid}-monitor-20", "interval": "20", "name": "monitor", "timeout": "30"})


def configuration_xml(world: World, cluster: Cluster) -> ET.Element:
    conf = ET.Element("configuration")
    crm_config = ET.SubElement(conf, "crm_config")
    props = ET.SubElement(crm_config, "cluster_property_set", {"id": "cib-bootstrap-options"})
    for name, value in pacemaker.properties(cluster).items():
        ET.SubElement(props, "nvpair", {"id": f"cib-bootstrap-options-{name}", "name": name, "value": value})
    nodes = ET.SubElement(conf, "nodes")
    for name in services.configured_nodes(cluster):
        node = world.node_by_hostname(name)
        el = ET.SubElement(nodes, "node", {"id": str(node.id if node else 0), "uname": name})
        if name in cluster.pacemaker.get("standby", []):
            _nvset(el, "instance_attributes", f"nodes-{node.id if node else 0}", {"standby": "on"})
    resources = ET.SubElement(conf, "resources")
    for res in services.resources(cluster):
        if res["kind"] == "primitive":
            _primitive(world, cluster, resources, res)
            continue
        wrapper = ET.SubElement(resources, "clone" if res["kind"] == "clone" else "master", {"id": res["id"]})
        meta = {**_meta(res), "target-role": res.get("target_role", "Started")}
        _nvset(wrapper, "meta_attributes", res["id"], meta)
        _primitive(world, cluster, wrapper, res)
    constraints = ET.SubElement(conf, "constraints")
    for res in services.resources(cluster):
        if res.get("location"):
            ET.SubElement(constraints, "rsc_location", {
                "id": f"cli-prefer-{res['id']}", "rsc": res["id"], "role": "Started",
                "node": res["location"], "score": "INFINITY"})
    return conf


def _status_xml(world: World, v: View) -> ET.Element:
    status = ET.Element("status")
    by_id = {r["id"]: r for r in services.resources(v.cluster)}
    for node in v.configured:
        up = v.online(node)
        state = ET.SubElement(status, "node_state", {
            "id": str(node.id), "uname": node.hostname, "in_ccm": str(up).lower(),
            "crmd": "online" if up else "offline", "crm-debug-origin": "do_update_resource",
            "join": "member" if up else "down", "expected": "member" if up else "down"})
        lrm = ET.SubElement(state, "lrm", {"id": str(node.id)})
        lrm_resources = ET.SubElement(lrm, "lrm_resources")
        for p in v.placements:
            if p.node_id != node.id:
                continue
            res = by_id[p.resource]
            cls, provider, kind = agent_parts(res)
            prim = res["primitive"]
            attrs = {"id": prim, "type": kind, "class": cls}
            if provider:
                attrs["provider"] = provider
            el = ET.SubElement(lrm_resources, "lrm_resource", attrs)
            op = "promote" if p.role == "Master" else "start"
            started = str(int((LAB_EPOCH + timedelta(seconds=node.booted_at)).timestamp()))
            ET.SubElement(el, "lrm_rsc_op", {
                "id": f"{prim}_last_0", "operation_key": f"{prim}_{op}_0", "operation": op,
                "crm-debug-origin": "do_update_resource", "crm_feature_set": FEATURE_SET,
                "call-id": "10", "rc-code": "0", "op-status": "0", "interval": "0",
                "last-run": started, "last-rc-change": started, "exec-time": "120",
                "queue-time": "0", "on_node": node.hostname})
            ET.SubElement(el, "lrm_rsc_op", {
                "id": f"{prim}_monitor_20000", "operation_key": f"{prim}_monitor_20000",
                "operation": "monitor", "crm-debug-origin": "do_update_resource",
                "crm_feature_set": FEATURE_SET, "call-id": "11", "rc-code": "0", "op-status": "0",
                "interval": "20000", "last-rc-change": started, "exec-time": "40",
                "queue-time": "0", "on_node": node.hostname})
    return status


def cib_xml(world: World, v: View, scope: str | None = None) -> str:
    cluster = v.cluster
    root = ET.Element("cib", {
        "crm_feature_set": FEATURE_SET, "validate-with": "pacemaker-2.0",
        "epoch": str(cluster.pacemaker.get("epoch", 100)), "num_updates": "0", "admin_epoch": "0",
        "cib-last-written": lab_date(float(cluster.pacemaker.get("changed_at", 0.0))),
        "have-quorum": "1" if v.quorate else "0", "dc-uuid": str(v.dc.id)})
    conf = configuration_xml(world, cluster)
    root.append(conf)
    root.append(_status_xml(world, v))
    if scope:
        found = root.find(f".//{scope}") if scope not in ("configuration", "status") else root.find(scope)
        if found is None:
            raise pacemaker.PacemakerError("No such device or address")
        root = found
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- crm configure show


def configure_show(world: World, cluster: Cluster) -> str:
    out = []
    for name in services.configured_nodes(cluster):
        node = world.node_by_hostname(name)
        line = f"node {node.id if node else 0}: {name}"
        if name in cluster.pacemaker.get("standby", []):
            line += " \\\n\tattributes standby=on"
        out.append(line)

    def primitive(res: dict[str, Any]) -> str:
        cls, provider, kind = agent_parts(res)
        agent = f"{cls}:{provider}:{kind}" if provider else f"{cls}:{kind}"
        text = f"primitive {res['primitive']} {agent}"
        params = _params(world, cluster, res)
        if params:
            text += " \\\n\tparams " + " ".join(f"{k}={v}" for k, v in params.items())
        if res["kind"] == "primitive":
            text += f" \\\n\tmeta target-role={res.get('target_role', 'Started')}"
        return text + " \\\n\top monitor interval=20 timeout=30"

    for res in services.resources(cluster):
        out.append(primitive(res))
    for res in services.resources(cluster):
        if res["kind"] == "primitive":
            continue
        word = "clone" if res["kind"] == "clone" else "ms"
        meta = {**_meta(res), "target-role": res.get("target_role", "Started")}
        out.append(f"{word} {res['id']} {res['primitive']} \\\n\tmeta "
                   + " ".join(f"{k}={v}" for k, v in meta.items()))
    for res in services.resources(cluster):
        if res.get("location"):
            out.append(f"location cli-prefer-{res['id']} {res['id']} role=Started inf: {res['location']}")
    props = pacemaker.properties(cluster)
    out.append("property cib-bootstrap-options: \\\n\t" + " \\\n\t".join(f"{k}={v}" for k, v in props.items()))
    return "\n".join(out) + "\n"
