"""`ceph`: the firefly (0.80.9) admin tool, answered by the quorum its node's ceph.conf reaches.

Global options may come anywhere on the line, as ceph.in's argparse allows:
-c/--conf, -k/--keyring, -n/--name, --id/--user, -m (monitor address),
-f/--format plain|json|json-pretty, -o/--out-file, -i/--in-file,
--connect-timeout SECONDS (lab seconds; without it a real `ceph` waits for ever,
the lab gives up after 5), -s/--status, -v/--version.

Connecting is fuellab.ceph.client.connect: with no reachable quorum the tool
prints the messenger's fault lines, then "Cluster connection aborted", exit 1;
an unknown key is an authentication error and a conf fsid other than the
quorum's is refused. JSON answers start with an empty line, as firefly's did.
Commands: status (-s), health [detail], quorum_status, mon_status, fsid,
mon dump|stat|getmap|add|remove, osd tree|dump|stat|ls|lspools|set|unset|out|in|down|rm,
osd pool get|set|create, pg stat, df [detail], auth list|get|get-key|print-key|
import|add|get-or-create|caps|del.

`ceph daemon mon.<id> mon_status` (or the socket's path,
/var/run/ceph/ceph-mon.<id>.asok) asks the monitor daemon running on this node
through its admin socket, without a quorum: its own state (leader, peon, or
probing while it is in no quorum), its rank in its own monmap (-1 when the map
lacks it) and that monmap. A monitor that does not run has no socket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fuellab.ceph import cluster, keys, store
from fuellab.ceph import health as H
from fuellab.ceph.client import DEFAULT_CONNECT_TIMEOUT, Client, ClientError, connect
from fuellab.ceph.conf import parse_addrs
from fuellab.ceph.timefmt import stamp
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context

VERSION = "ceph version 0.80.9 (b5a67f0e1d15385bc0d60a6da6e7fc810bde6047)"
FLAGS = ("pause", "noup", "nodown", "noout", "noin", "nobackfill", "norecover", "noscrub",
         "nodeep-scrub", "notieragent")
ERRNO = {"EPERM": 1, "ENOENT": 2, "EIO": 5, "EACCES": 13, "EEXIST": 17, "EINVAL": 22,
         "ETIMEDOUT": 110, "EBUSY": 16}


class CephCommandError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass
class Opts:
    conf: str | None = None
    keyring: str | None = None
    name: str = "client.admin"
    fmt: str = "plain"
    outfile: str | None = None
    infile: str | None = None
    timeout: float = DEFAULT_CONNECT_TIMEOUT
    mon: str | None = None
    version: bool = False
    words: list[str] = field(default_factory=list)


_VALUED = {"-c": "conf", "--conf": "conf", "-k": "keyring", "--keyring": "keyring", "-n": "name",
           "--name": "name", "--id": "id", "--user": "id", "-f": "fmt", "--format": "fmt",
           "-o": "outfile", "--out-file": "outfile", "-i": "infile", "--in-file": "infile",
           "--connect-timeout": "timeout", "-m": "mon", "--cluster": "cluster"}


def parse_opts(args: list[str]) -> Opts:
    opts = Opts()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _VALUED:
            if not eq:
                if i >= len(args):
                    raise CommandError(f"ceph: error: argument {name}: expected one argument", 22)
                value = args[i]
                i += 1
            field_name = _VALUED[name]
            if field_name == "id":
                opts.name = f"client.{value}"
            elif field_name == "timeout":
                try:
                    opts.timeout = float(value)
                except ValueError:
                    raise CommandError(f"ceph: error: argument --connect-timeout: invalid int value: "
                                       f"'{value}'", 22) from None
            elif field_name != "cluster":
                setattr(opts, field_name, value)
        elif arg in ("-s", "--status"):
            opts.words.append("status")
        elif arg in ("-v", "--version"):
            opts.version = True
        elif arg in ("-h", "--help"):
            opts.words = ["--help"]
        else:
            opts.words.append(arg)
    if opts.fmt not in ("plain", "json", "json-pretty", "xml", "xml-pretty"):
        raise CommandError(f"ceph: error: argument -f/--format: invalid choice: '{opts.fmt}' "
                           "(choose from 'json', 'json-pretty', 'xml', 'xml-pretty', 'plain')", 22)
    return opts


# --------------------------------------------------------------------------- output helpers


@dataclass
class Reply:
    out: str | bytes = ""
    err: str = ""
    status: int = 0


def _json(opts: Opts, data: Any) -> str:
    indent = 4 if opts.fmt == "json-pretty" else None
    text = json.dumps(data, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    return "\n" + text.replace("/", "\\/") + "\n"


def _is_json(opts: Opts) -> bool:
    return opts.fmt.startswith("json")


def _need(client: Client, want: str) -> None:
    if not client.may("mon", want):
        raise CephCommandError("EACCES", "access denied")


def _int(value: str, what: str = "id") -> int:
    try:
        return int(value.removeprefix("osd."))
    except ValueError:
        raise CephCommandError("EINVAL", f"invalid {what} '{value}'") from None


# --------------------------------------------------------------------------- reports


def _monmap_dict(quorum: Any) -> dict[str, Any]:
    return _monmap_json(quorum.monmap)


def _monmap_json(monmap: dict[str, Any]) -> dict[str, Any]:
    return {"epoch": monmap["epoch"], "fsid": monmap["fsid"], "modified": stamp(monmap.get("modified", 0.0)),
            "created": stamp(monmap.get("created", 0.0)),
            "mons": [{"rank": i, "name": m["name"], "addr": m["addr"]} for i, m in enumerate(monmap["mons"])]}


def _mons_line(quorum: Any) -> str:
    monmap = quorum.monmap
    at = ",".join(f"{m['name']}={m['addr']}" for m in sorted(monmap["mons"], key=lambda m: m["name"]))
    return (f"e{monmap['epoch']}: {len(monmap['mons'])} mons at {{{at}}}, election epoch "
            f"{quorum.state.get('election_epoch', 0)}, quorum {','.join(map(str, quorum.ranks))} "
            f"{','.join(quorum.names)}")


def _osd_counts(quorum: Any) -> tuple[int, int, int]:
    osds = quorum.state["osdmap"]["osds"].values()
    return len(osds), sum(1 for o in osds if o.get("up")), sum(1 for o in osds if o.get("in"))


def _osdmap_line(quorum: Any) -> str:
    n, up, inn = _osd_counts(quorum)
    return f"osdmap e{quorum.state['osdmap']['epoch']}: {n} osds: {up} up, {inn} in"


def _health_dict(client: Client, detail: bool) -> dict[str, Any]:
    overall, summary, lines = H.health(client.view, client.quorum)
    return {
        "health": {"health_services": [{"mons": [
            {"name": m, "health": "HEALTH_OK", "last_updated": stamp(client.view.now)}
            for m in client.quorum.names]}]},
        "timechecks": {"epoch": client.quorum.state.get("election_epoch", 0), "round": 0,
                       "round_status": "finished"},
        "summary": [{"severity": sev, "summary": text} for sev, text in summary],
        "overall_status": overall,
        "detail": [text for _, text in lines] if detail else [],
    }


def cmd_health(client: Client, args: list[str], opts: Opts) -> Reply:
    detail = bool(args) and args[0] == "detail"
    if _is_json(opts):
        return Reply(_json(opts, _health_dict(client, detail)))
    overall, summary, lines = H.health(client.view, client.quorum)
    text = overall if not summary else f"{overall} " + "; ".join(t for _, t in summary)
    if detail:
        text += "".join(f"\n{line}" for _, line in lines)
    return Reply(text + "\n")


def cmd_status(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    pgs = H.pg_summary(q)
    use = H.usage(q)
    by_state = sorted(pgs.by_state().items(), key=lambda kv: (-kv[1], kv[0]))
    osdmap = q.state["osdmap"]
    n, up, inn = _osd_counts(q)
    if _is_json(opts):
        return Reply(_json(opts, {
            "health": _health_dict(client, False), "fsid": q.fsid,
            "election_epoch": q.state.get("election_epoch", 0), "quorum": q.ranks, "quorum_names": q.names,
            "monmap": _monmap_dict(q),
            "osdmap": {"osdmap": {"epoch": osdmap["epoch"], "num_osds": n, "num_up_osds": up,
                                  "num_in_osds": inn, "full": False, "nearfull": False}},
            "pgmap": {"pgs_by_state": [{"state_name": s, "count": c} for s, c in by_state],
                      "version": q.state["pgmap"].get("version", 0), "num_pgs": len(pgs.pgs),
                      "data_bytes": pgs.data_bytes, "bytes_used": use.used, "bytes_avail": use.avail,
                      "bytes_total": use.total},
            "mdsmap": {"epoch": 1, "up": 0, "in": 0, "max": 1, "by_rank": []},
        }))
    lines = [
        f"    cluster {q.fsid}",
        f"     health {H.health_line(client.view, q)}",
        f"     monmap {_mons_line(q)}",
        f"     {_osdmap_line(q)}",
    ]
    if osdmap.get("flags"):
        lines.append(f"            flags {','.join(osdmap['flags'])}")
    lines.append(f"      pgmap v{q.state['pgmap'].get('version', 0)}: {len(pgs.pgs)} pgs, "
                 f"{len(osdmap['pools'])} pools, {H.prettybyte(pgs.data_bytes)} data, {pgs.objects} objects")
    lines.append(f"            {H.kb_t(use.used)} used, {H.kb_t(use.avail)} / {H.kb_t(use.total)} avail")
    if pgs.degraded:
        lines.append(f"            {pgs.degraded}/{pgs.replicas} objects degraded "
                     f"({100.0 * pgs.degraded / pgs.replicas:.3f}%)")
    lines += [f"                {count:>4} {state}" for state, count in by_state]
    return Reply("\n".join(lines) + "\n")


def _quorum_dict(client: Client) -> dict[str, Any]:
    q = client.quorum
    return {"election_epoch": q.state.get("election_epoch", 0), "quorum": q.ranks, "quorum_names": q.names,
            "quorum_leader_name": q.leader.name, "monmap": _monmap_dict(q)}


def cmd_quorum_status(client: Client, args: list[str], opts: Opts) -> Reply:
    return Reply(_json(opts, _quorum_dict(client)).lstrip("\n") if not _is_json(opts)
                 else _json(opts, _quorum_dict(client)))


def cmd_mon_status(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    me = q.leader
    data = {"name": me.name, "rank": store.rank_of(q.monmap, me.name), "state": "leader",
            "election_epoch": q.state.get("election_epoch", 0), "quorum": q.ranks,
            "outside_quorum": [], "extra_probe_peers": [], "sync_provider": [],
            "monmap": _monmap_dict(q)}
    text = _json(opts, data)
    return Reply(text if _is_json(opts) else text.lstrip("\n"))


def cmd_fsid(client: Client, args: list[str], opts: Opts) -> Reply:
    if _is_json(opts):
        return Reply(_json(opts, {"fsid": client.quorum.fsid}))
    return Reply(client.quorum.fsid + "\n")


# --------------------------------------------------------------------------- mon


def cmd_mon(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    sub = args[0] if args else ""
    if sub == "dump":
        if _is_json(opts):
            return Reply(_json(opts, {**_monmap_dict(q), "quorum": q.ranks}),
                         f"dumped monmap epoch {q.monmap['epoch']}\n")
        m = q.monmap
        lines = [f"epoch {m['epoch']}", f"fsid {m['fsid']}", f"last_changed {stamp(m.get('modified', 0.0))}",
                 f"created {stamp(m.get('created', 0.0))}"]
        lines += [f"{i}: {mon['addr']} mon.{mon['name']}" for i, mon in enumerate(m["mons"])]
        return Reply("\n".join(lines) + "\n", f"dumped monmap epoch {m['epoch']}\n")
    if sub == "stat":
        return Reply(_mons_line(q) + "\n")
    if sub == "getmap":
        return Reply(store.MONMAP_MAGIC + json.dumps(q.monmap, sort_keys=True) + "\n",
                     f"got monmap epoch {q.monmap['epoch']}\n")
    if sub == "add" and len(args) == 3:
        _need(client, "w")
        name = args[1]
        (ip, port), = parse_addrs(args[2]) or [("", 0)]
        if store.mon_entry(q.monmap, name) is not None:
            return Reply("", f"mon {name} already exists\n")
        q.monmap["mons"].append({"name": name, "addr": store.addr(ip, port)})
        store.sort_mons(q.monmap)
        q.monmap["epoch"] += 1
        q.monmap["modified"] = client.view.now
        client.commit()
        return Reply("", f"adding mon.{name} at {store.addr(ip, port)}\n")
    if sub in ("remove", "rm") and len(args) == 2:
        _need(client, "w")
        entry = store.mon_entry(q.monmap, args[1])
        if entry is None:
            raise CephCommandError("ENOENT", f"mon {args[1]} does not exist")
        q.monmap["mons"].remove(entry)
        q.monmap["epoch"] += 1
        q.monmap["modified"] = client.view.now
        client.commit()
        return Reply("", f"removed mon.{args[1]} at {entry['addr']}, there are now "
                         f"{len(q.monmap['mons'])} monitors\n")
    raise CephCommandError("EINVAL", "invalid command")


# --------------------------------------------------------------------------- osd


def _tree(q: Any) -> dict[str, Any]:
    osds = q.state["osdmap"]["osds"]
    hosts: dict[str, list[int]] = {}
    for key, osd in osds.items():
        hosts.setdefault(osd.get("host", ""), []).append(int(key))
    nodes: list[dict[str, Any]] = []
    host_ids = {h: -2 - i for i, h in enumerate(sorted(hosts))}
    weight = {int(k): round(o.get("kb", 0) / 1024 ** 3, 6) or 1.0 for k, o in osds.items()}
    nodes.append({"id": -1, "name": "default", "type": "root", "type_id": 10,
                  "children": sorted(host_ids.values())})
    for host in sorted(hosts):
        nodes.append({"id": host_ids[host], "name": host, "type": "host", "type_id": 1,
                      "children": sorted(hosts[host], reverse=True)})
        for osd_id in sorted(hosts[host]):
            osd = osds[str(osd_id)]
            nodes.append({"id": osd_id, "name": f"osd.{osd_id}", "exists": 1, "type": "osd", "type_id": 0,
                          "status": "up" if osd.get("up") else "down",
                          "reweight": 1.0 if osd.get("in") else 0.0, "crush_weight": weight[osd_id],
                          "depth": 2})
    return {"nodes": nodes, "stray": []}


def _tree_plain(tree: dict[str, Any]) -> str:
    by_id = {n["id"]: n for n in tree["nodes"]}
    lines = ["# id\tweight\ttype name\tup/down\treweight"]

    def weight(n: dict[str, Any]) -> float:
        return n["crush_weight"] if n["type"] == "osd" else sum(weight(by_id[c]) for c in n["children"])

    def walk(n: dict[str, Any], depth: int) -> None:
        if n["type"] == "osd":
            lines.append(f"{n['id']}\t{weight(n):g}\t{chr(9) * depth}osd.{n['id']}\t{n['status']}\t"
                         f"{n['reweight']:g}\t")
            return
        lines.append(f"{n['id']}\t{weight(n):g}\t{chr(9) * depth}{n['type']} {n['name']}")
        for child in sorted(n["children"], key=lambda c: (c >= 0, abs(c))):
            walk(by_id[child], depth + 1)

    walk(by_id[-1], 0)
    return "\n".join(lines) + "\n"


def _pool_line(pool: dict[str, Any]) -> str:
    return (f"pool {pool['id']} '{pool['name']}' replicated size {pool['size']} min_size {pool['min_size']} "
            f"crush_ruleset {pool['crush_ruleset']} object_hash rjenkins pg_num {pool['pg_num']} "
            f"pgp_num {pool['pgp_num']} last_change {pool.get('last_change', 1)} owner 0 flags hashpspool "
            "stripe_width 0")


def _osd_line(osd_id: int, osd: dict[str, Any]) -> str:
    ip = osd.get("ip") or "0.0.0.0"
    pid = 1000 + osd_id
    addrs = " ".join(f"{ip}:{6800 + 4 * (osd_id % 8) + i}/{pid}" for i in range(4))
    state = "exists,up" if osd.get("up") else "exists"
    return (f"osd.{osd_id} {'up  ' if osd.get('up') else 'down'} {'in ' if osd.get('in') else 'out'} "
            f"weight {osd.get('weight', 1.0):g} up_from {osd.get('up_from', 0)} up_thru {osd.get('up_from', 0)} "
            f"down_at {osd.get('down_epoch', 0)} last_clean_interval [0,0) {addrs} {state} {osd.get('uuid', '')}")


def cmd_osd(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    osdmap = q.state["osdmap"]
    osds = osdmap["osds"]
    sub = args[0] if args else ""
    if sub == "tree":
        tree = _tree(q)
        return Reply(_json(opts, tree) if _is_json(opts) else _tree_plain(tree))
    if sub == "stat":
        if _is_json(opts):
            n, up, inn = _osd_counts(q)
            return Reply(_json(opts, {"epoch": osdmap["epoch"], "num_osds": n, "num_up_osds": up,
                                      "num_in_osds": inn, "full": "false", "nearfull": "false"}))
        flags = f"\n            flags {','.join(osdmap['flags'])}" if osdmap.get("flags") else ""
        return Reply(f"     {_osdmap_line(q)}{flags}\n")
    if sub == "ls":
        ids = sorted(int(k) for k in osds)
        return Reply(_json(opts, ids) if _is_json(opts) else "".join(f"{i}\n" for i in ids))
    if sub == "lspools":
        pools = sorted(osdmap["pools"].values(), key=lambda p: p["id"])
        if _is_json(opts):
            return Reply(_json(opts, [{"poolnum": p["id"], "poolname": p["name"]} for p in pools]))
        return Reply("".join(f"{p['id']} {p['name']}," for p in pools) + "\n")
    if sub == "dump":
        if _is_json(opts):
            return Reply(_json(opts, {
                "epoch": osdmap["epoch"], "fsid": osdmap["fsid"], "created": stamp(osdmap.get("created", 0.0)),
                "modified": stamp(osdmap.get("modified", 0.0)), "flags": ",".join(osdmap.get("flags", [])),
                "pools": [{"pool": p["id"], "pool_name": p["name"], "size": p["size"], "min_size": p["min_size"],
                           "pg_num": p["pg_num"], "pg_placement_num": p["pgp_num"],
                           "crush_ruleset": p["crush_ruleset"]}
                          for p in sorted(osdmap["pools"].values(), key=lambda p: p["id"])],
                "max_osd": osdmap.get("max_osd", 0),
                "osds": [{"osd": int(k), "uuid": o.get("uuid", ""), "up": int(bool(o.get("up"))),
                          "in": int(bool(o.get("in"))), "weight": o.get("weight", 1.0),
                          "up_from": o.get("up_from", 0), "down_at": o.get("down_epoch", 0),
                          "state": ["exists", "up"] if o.get("up") else ["exists"]}
                         for k, o in sorted(osds.items(), key=lambda kv: int(kv[0]))],
            }))
        lines = [f"epoch {osdmap['epoch']}", f"fsid {osdmap['fsid']}",
                 f"created {stamp(osdmap.get('created', 0.0))}", f"modified {stamp(osdmap.get('modified', 0.0))}"]
        lines.append(f"flags {','.join(osdmap.get('flags', []))}")
        lines += [_pool_line(p) for p in sorted(osdmap["pools"].values(), key=lambda p: p["id"])]
        lines.append(f"max_osd {osdmap.get('max_osd', 0)}")
        lines += [_osd_line(int(k), o) for k, o in sorted(osds.items(), key=lambda kv: int(kv[0]))]
        return Reply("\n".join(lines) + "\n")
    if sub in ("set", "unset") and len(args) == 2:
        flag = args[1]
        if flag not in FLAGS:
            raise CephCommandError("EINVAL", "invalid command")
        _need(client, "w")
        flags = osdmap.setdefault("flags", [])
        if sub == "set" and flag not in flags:
            flags.append(flag)
        elif sub == "unset" and flag in flags:
            flags.remove(flag)
        osdmap["epoch"] += 1
        osdmap["modified"] = client.view.now
        client.commit()
        return Reply("", f"{sub} {flag}\n")
    if sub in ("out", "in", "down") and len(args) >= 2:
        from fuellab.ceph import data, placement

        _need(client, "w")
        before_in = placement.in_set(osds)  # where the data sits now
        err = []
        changed = False
        for arg in args[1:]:
            osd_id = _int(arg)
            osd = osds.get(str(osd_id))
            if osd is None:
                raise CephCommandError("ENOENT", f"osd.{osd_id} does not exist")
            key = "up" if sub == "down" else "in"
            want = sub == "in"
            if bool(osd.get(key)) == want:
                err.append(f"osd.{osd_id} is already {sub}. ")
                continue
            if sub == "down":
                # It boots again at once if its daemon is still alive ("wrongly marked me down").
                osd.update(up=False, down_at=client.view.now, down_epoch=osdmap["epoch"] + 1)
            else:
                osd.update({"in": want, "auto_out": False, "weight": 1.0 if want else 0.0})
            err.append(f"marked {sub} osd.{osd_id}. ")
            changed = True
        if changed:
            osdmap["epoch"] += 1
            osdmap["modified"] = client.view.now
            data.reconcile(client.view, q, before_in, set())
            client.commit()
        return Reply("", "".join(err) + "\n")
    if sub == "rm" and len(args) >= 2:
        _need(client, "w")
        done = []
        for arg in args[1:]:
            osd_id = _int(arg)
            osd = osds.get(str(osd_id))
            if osd is None:
                done.append(f"osd.{osd_id} does not exist. ")
                continue
            if osd.get("up"):
                raise CephCommandError("EBUSY", f"osd.{osd_id} is still up; must be down before removal. ")
            del osds[str(osd_id)]
            done.append(f"removed osd.{osd_id}")
        osdmap["epoch"] += 1
        osdmap["modified"] = client.view.now
        client.commit()
        return Reply("", ", ".join(done) + "\n")
    if sub == "pool" and len(args) >= 2:
        return _cmd_pool(client, args[1:], opts)
    raise CephCommandError("EINVAL", "invalid command")


def _cmd_pool(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    osdmap = q.state["osdmap"]
    sub = args[0]
    if sub == "create" and len(args) >= 3:
        _need(client, "w")
        if store.pool_by_name(q.state, args[1]) is not None:
            return Reply("", f"pool '{args[1]}' already exists\n")
        pool_id = int(osdmap.get("pool_max", -1)) + 1
        size = max((p["size"] for p in osdmap["pools"].values()), default=2)
        osdmap["pools"][str(pool_id)] = store.new_pool(pool_id, args[1], size, _int(args[2], "pg_num"),
                                                       client.view.now)
        osdmap["pool_max"] = pool_id
        osdmap["epoch"] += 1
        client.commit()
        return Reply("", f"pool '{args[1]}' created\n")
    pool = store.pool_by_name(q.state, args[1]) if len(args) >= 2 else None
    if pool is None:
        raise CephCommandError("ENOENT", f"unrecognized pool '{args[1] if len(args) > 1 else ''}'")
    if sub == "get" and len(args) == 3:
        var = args[2]
        if var not in ("size", "min_size", "pg_num", "pgp_num", "crush_ruleset"):
            raise CephCommandError("EINVAL", f"unrecognized variable '{var}'")
        if _is_json(opts):
            return Reply(_json(opts, {"pool": pool["name"], "pool_id": pool["id"], var: pool[var]}))
        return Reply(f"{var}: {pool[var]}\n")
    if sub == "set" and len(args) == 4:
        _need(client, "w")
        var = args[2]
        if var not in ("size", "min_size"):
            raise CephCommandError("EINVAL", f"unrecognized variable '{var}'")
        pool[var] = _int(args[3], var)
        pool["last_change"] = osdmap["epoch"] + 1
        osdmap["epoch"] += 1
        client.commit()
        return Reply("", f"set pool {pool['id']} {var} to {pool[var]}\n")
    raise CephCommandError("EINVAL", "invalid command")


# --------------------------------------------------------------------------- pg, df


def cmd_pg(client: Client, args: list[str], opts: Opts) -> Reply:
    if not args or args[0] != "stat":
        raise CephCommandError("EINVAL", "invalid command")
    q = client.quorum
    pgs = H.pg_summary(q)
    use = H.usage(q)
    by_state = sorted(pgs.by_state().items(), key=lambda kv: (-kv[1], kv[0]))
    if _is_json(opts):
        return Reply(_json(opts, {"num_pgs": len(pgs.pgs), "num_bytes": pgs.data_bytes,
                                  "raw_bytes_used": use.used, "raw_bytes_avail": use.avail,
                                  "raw_bytes": use.total, "version": q.state["pgmap"].get("version", 0),
                                  "num_pg_by_state": [{"name": s, "num": c} for s, c in by_state]}))
    states = ", ".join(f"{c} {s}" for s, c in by_state)
    line = (f"v{q.state['pgmap'].get('version', 0)}: {len(pgs.pgs)} pgs: {states}; "
            f"{H.prettybyte(pgs.data_bytes)} data, {H.kb_t(use.used)} used, {H.kb_t(use.avail)} / "
            f"{H.kb_t(use.total)} avail")
    if pgs.degraded:
        line += f"; {pgs.degraded}/{pgs.replicas} objects degraded ({100.0 * pgs.degraded / pgs.replicas:.3f}%)"
    return Reply(line + "\n")


def _short(nbytes: int) -> str:
    """`ceph df`'s si_t: 0, 1234, 12345k, 1025M, 5589G."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("k", 10)):
        if nbytes >= 10 << shift:
            return f"{nbytes >> shift}{unit}"
    return str(nbytes)


def cmd_df(client: Client, args: list[str], opts: Opts) -> Reply:
    q = client.quorum
    use = H.usage(q)
    pools = sorted(q.state["osdmap"]["pools"].values(), key=lambda p: p["id"])
    pct = (100.0 * use.used / use.total) if use.total else 0.0
    if _is_json(opts):
        return Reply(_json(opts, {
            "stats": {"total_space": use.total // 1024, "total_used": use.used // 1024,
                      "total_avail": use.avail // 1024},
            "pools": [{"name": p["name"], "id": p["id"],
                       "stats": {"kb_used": -(-use.per_pool.get(p["id"], (0, 0))[0] // 1024),
                                 "bytes_used": use.per_pool.get(p["id"], (0, 0))[0],
                                 "objects": use.per_pool.get(p["id"], (0, 0))[1]}} for p in pools],
        }))
    lines = ["GLOBAL:", f"    {'SIZE':<10} {'AVAIL':<10} {'RAW USED':<12} %RAW USED ",
             f"    {_short(use.total):<10} {_short(use.avail):<10} {_short(use.used):<12} {pct:<10.2f}",
             "POOLS:", f"    {'NAME':<12} {'ID':<6} {'USED':<8} {'%USED':<9} OBJECTS "]
    for p in pools:
        used, objects = use.per_pool.get(p["id"], (0, 0))
        ppct = (100.0 * used / use.total) if use.total else 0.0
        lines.append(f"    {p['name']:<12} {p['id']:<6} {_short(used):<8} {ppct:<9.2f} {objects:<8}")
    return Reply("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- auth


def _caps_args(words: list[str]) -> dict[str, str]:
    if len(words) % 2:
        raise CephCommandError("EINVAL", "caps must come in subsystem/capability pairs")
    return {words[i]: words[i + 1] for i in range(0, len(words), 2)}


async def cmd_auth(client: Client, args: list[str], opts: Opts, ctx: Context) -> Reply:
    auth = client.quorum.state["auth"]
    sub = args[0] if args else ""
    if sub in ("list", "ls"):
        _need(client, "x")
        entries = {k: v for k, v in sorted(auth.items()) if k != "mon."}
        if _is_json(opts):
            return Reply(_json(opts, {"auth_dump": [{"entity": k, "key": v["key"], "caps": v.get("caps", {})}
                                                    for k, v in entries.items()]}),
                         "installed auth entries:\n\n")
        out = []
        for name, rec in entries.items():
            out.append(f"{name}\n\tkey: {rec['key']}\n")
            out += [f"\tcaps: [{svc}] {cap}\n" for svc, cap in sorted(rec.get("caps", {}).items())]
        return Reply("".join(out), "installed auth entries:\n\n")
    if sub in ("get", "get-key", "print-key", "print_key") and len(args) == 2:
        _need(client, "x")
        rec = auth.get(args[1])
        if rec is None:
            raise CephCommandError("ENOENT", f"failed to find {args[1]} in keyring")
        if sub != "get":
            return Reply(rec["key"] + "\n")
        text = keys.render_entity(keys.entity_from_auth(args[1], rec))
        return Reply(text, f"exported keyring for {args[1]}\n")
    if sub in ("import", "add", "get-or-create", "get-or-create-key", "caps", "del", "rm"):
        _need(client, "rwx")
    if sub == "import":
        if not opts.infile:
            raise CephCommandError("EINVAL", "auth import requires -i <keyring>")
        entities = keys.parse_keyring((await _read_in(ctx, opts.infile)).decode(errors="replace"))
        if not entities:
            raise CephCommandError("EINVAL", "error decoding keyring")
        for entity in entities.values():
            if not keys.valid_key(entity.key):
                raise CephCommandError("EINVAL", f"invalid key for {entity.name}")
            auth[entity.name] = {"key": entity.key, "caps": dict(entity.caps)}
        client.commit()
        return Reply("", "imported keyring\n")
    if sub == "add" and len(args) >= 2:
        name = args[1]
        caps = _caps_args(args[2:])
        if opts.infile:
            found = keys.parse_keyring((await _read_in(ctx, opts.infile)).decode(errors="replace")).get(name)
            if found is None:
                raise CephCommandError("EINVAL", f"entity {name} not found in keyring")
            key = found.key
            caps = caps or found.caps
        else:
            key = keys.new_key(client.view.now)
        if name in auth and auth[name]["key"] != key:
            raise CephCommandError("EINVAL", f"entity {name} exists but key does not match")
        auth[name] = {"key": key, "caps": caps}
        client.commit()
        return Reply("", f"added key for {name}\n")
    if sub in ("get-or-create", "get-or-create-key") and len(args) >= 2:
        name = args[1]
        caps = _caps_args(args[2:])
        if name in auth:
            if caps and auth[name].get("caps") != caps:
                raise CephCommandError("EINVAL", f"key for {name} exists but cap "
                                                 f"{next(iter(caps))} does not match")
        else:
            auth[name] = {"key": keys.new_key(client.view.now), "caps": caps}
            client.commit()
        rec = auth[name]
        if sub == "get-or-create-key":
            return Reply(rec["key"] + "\n")
        return Reply(keys.render_entity(keys.entity_from_auth(name, rec)))
    if sub == "caps" and len(args) >= 2:
        name = args[1]
        if name not in auth:
            raise CephCommandError("EINVAL", f"couldn't find entry {name}")
        auth[name]["caps"] = _caps_args(args[2:])
        client.commit()
        return Reply("", f"updated caps for {name}\n")
    if sub in ("del", "rm") and len(args) == 2:
        if args[1] not in auth:
            raise CephCommandError("ENOENT", f"failed to find {args[1]} in keyring")
        del auth[args[1]]
        client.commit()
        return Reply("", "updated\n")
    raise CephCommandError("EINVAL", "invalid command")


async def _read_in(ctx: Context, path: str) -> bytes:
    if path == "-":
        return await ctx.read_stdin()
    try:
        return ctx.path(path).read_bytes()
    except OSError:
        raise CephCommandError("ENOENT", f"can't open {path}: (2) No such file or directory") from None


# --------------------------------------------------------------------------- admin socket

NO_SOCKET = "admin_socket: exception getting command descriptions: [Errno 2] No such file or directory"


def _socket_name(target: str) -> str:
    """`mon.a` or `/var/run/ceph/ceph-mon.a.asok` -> `mon.a`."""
    if "/" in target:
        base = target.rsplit("/", 1)[1]
        return base.removeprefix("ceph-").removesuffix(".asok")
    return target


def admin_socket(ctx: Context, words: list[str]) -> int:
    """`ceph daemon <name|socket> mon_status`: a monitor daemon of this node, asked directly."""
    if len(words) < 3:
        ctx.err("usage: ceph daemon {type.id|path} <command>\n")
        return 22
    kind, _, mon_id = _socket_name(words[1]).partition(".")
    view = cluster.refresh(ctx.lab.world, ctx.lab.addresses)
    mon = next((m for m in view.mons if m.node.id == ctx.node.id and m.name == mon_id), None) \
        if kind == "mon" else None
    if mon is None:
        ctx.err(NO_SOCKET + "\n")
        return 22
    if " ".join(words[2:]) != "mon_status":
        ctx.err(f"no valid command found; try `ceph daemon {words[1]} mon_status`\n")
        return 22
    quorum = view.quorum_of(mon)
    own = mon.state["monmap"]
    state = "probing" if quorum is None else "leader" if quorum.leader is mon else "peon"
    data = {"name": mon.name, "rank": store.rank_of(own, mon.name), "state": state,
            "election_epoch": mon.state.get("election_epoch", 0), "quorum": quorum.ranks if quorum else [],
            "outside_quorum": [] if quorum else [mon.name], "extra_probe_peers": [], "sync_provider": [],
            "monmap": _monmap_json(own)}
    ctx.out(json.dumps(data, indent=4).replace("/", "\\/") + "\n")
    return 0


# --------------------------------------------------------------------------- dispatch

Handler = Callable[[Client, list[str], Opts], Reply]
COMMANDS: dict[str, Handler] = {
    "status": cmd_status, "health": cmd_health, "quorum_status": cmd_quorum_status,
    "mon_status": cmd_mon_status, "fsid": cmd_fsid, "mon": cmd_mon, "osd": cmd_osd, "pg": cmd_pg,
    "df": cmd_df,
}
KNOWN = ("status", "health", "health detail", "quorum_status", "mon_status", "fsid", "mon dump", "mon stat",
         "mon getmap", "mon add <name> <addr>", "mon remove <name>", "osd tree", "osd dump", "osd stat",
         "osd ls", "osd lspools", "osd set <flag>", "osd unset <flag>", "osd out <ids>", "osd in <ids>",
         "osd down <ids>", "osd rm <ids>", "osd pool get <pool> <var>", "osd pool set <pool> <var> <val>",
         "osd pool create <pool> <pg_num>", "pg stat", "df", "auth list", "auth get <entity>",
         "auth get-key <entity>", "auth import", "auth add <entity> {<caps> ...}",
         "auth get-or-create <entity> {<caps> ...}", "auth caps <entity> <caps> ...", "auth del <entity>")


def _no_match(words: list[str]) -> Reply:
    close = [k for k in KNOWN if words and k.split()[0] == words[0]] or list(KNOWN)
    return Reply("", "no valid command found; 10 closest matches:\n" + "\n".join(close[:10])
                 + "\nError EINVAL: invalid command\n", 22)


async def _run(ctx: Context, client: Client, opts: Opts) -> Reply:
    words = opts.words
    name, args = words[0], words[1:]
    if name == "auth":
        return await cmd_auth(client, args, opts, ctx)
    handler = COMMANDS.get(name)
    if handler is None:
        return _no_match(words)
    try:
        return handler(client, args, opts)
    except CephCommandError as exc:
        if exc.name == "EINVAL" and exc.message == "invalid command":
            return _no_match(words)
        raise


@command("ceph")
async def ceph(ctx: Context, argv: list[str]) -> int:
    opts = parse_opts(argv[1:])
    if opts.version:
        ctx.out(VERSION + "\n")
        return 0
    if not opts.words or opts.words == ["--help"]:
        ctx.out("usage: ceph [-h] [-c CEPHCONF] [-i INPUT_FILE] [-o OUTPUT_FILE] [--id CLIENT_ID]\n"
                "            [--name CLIENT_NAME] [--cluster CLUSTER] [-s] [-w] [-f FORMAT]\n"
                "            [--connect-timeout CLUSTER_TIMEOUT]\n")
        return 0 if opts.words else 1
    if opts.words[0] == "daemon":
        return admin_socket(ctx, opts.words)
    lab = ctx.lab
    mon_addrs = parse_addrs(opts.mon) if opts.mon else None
    try:
        client = connect(lab.world, lab.addresses, ctx.node, conf_path=opts.conf, entity=opts.name,
                         keyring=opts.keyring, timeout=opts.timeout, mon_addrs=mon_addrs)
    except ClientError as exc:
        if exc.timeout:
            await lab.clock.sleep(opts.timeout)
        ctx.err("\n".join(exc.lines) + "\n")
        return exc.status
    try:
        reply = await _run(ctx, client, opts)
    except CephCommandError as exc:
        ctx.err(f"Error {exc.name}: {exc.message}\n")
        return ERRNO.get(exc.name, 22)
    if opts.outfile and opts.outfile != "-":
        payload = reply.out.encode() if isinstance(reply.out, str) else reply.out
        if _is_json(opts) and payload.startswith(b"\n"):
            payload = payload[1:]
        try:
            target = ctx.path(opts.outfile)
            target.write_bytes(payload)
        except OSError as exc:
            ctx.err(f"Can't open output file {opts.outfile}: {exc.strerror}\n")
            return 1
    else:
        ctx.out(reply.out)
    ctx.err(reply.err)
    return reply.status
