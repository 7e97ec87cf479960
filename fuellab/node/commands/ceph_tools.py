"""ceph-mon (store maintenance), monmaptool, ceph-authtool, rados and rbd.

ceph-mon works on the monitor's data directory (fuellab.ceph.store), which is
locked while the monitor runs (its job `ceph-mon id=<id>` is started): stop it
first. `--extract-monmap` writes the store's monmap to a file;
`--inject-monmap` puts a monmap file into the store, as the next epoch;
`--mkfs` creates a store from a monmap and a keyring. Started by hand
(`ceph-mon -i X`), the daemon runs as the job would.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from fuellab.ceph import keys, store
from fuellab.ceph.client import DEFAULT_CONNECT_TIMEOUT, Client, ClientError, connect
from fuellab.ceph.conf import parse_addrs
from fuellab.ceph.data import DataError
from fuellab.ceph.timefmt import log_prefix, stamp
from fuellab.node.commands import command
from fuellab.node.context import CommandError, Context

# --------------------------------------------------------------------------- helpers


def _take(args: list[str], i: int, prog: str, opt: str) -> str:
    if i >= len(args):
        raise CommandError(f"{prog}: option {opt} requires an argument", 1)
    return args[i]


def _now(ctx: Context) -> float:
    return ctx.lab.clock.now()


def _derr(ctx: Context, text: str) -> None:
    ctx.err(f"{log_prefix(_now(ctx), '7f8e4c1d5780', -1)}{text}\n")


def _print_monmap(monmap: dict[str, Any]) -> str:
    lines = [f"epoch {monmap['epoch']}", f"fsid {monmap['fsid']}",
             f"last_changed {stamp(monmap.get('modified', 0.0))}", f"created {stamp(monmap.get('created', 0.0))}"]
    lines += [f"{i}: {m['addr']} mon.{m['name']}" for i, m in enumerate(monmap["mons"])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ceph-mon


@command("ceph-mon")
async def ceph_mon(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    mon_id = extract = inject = monmap_file = keyring_file = fsid = None
    mkfs = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-i", "--id"):
            mon_id = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg.startswith("--id="):
            mon_id = arg.split("=", 1)[1]
        elif arg == "--extract-monmap":
            extract = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg == "--inject-monmap":
            inject = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg == "--mkfs":
            mkfs = True
        elif arg == "--monmap":
            monmap_file = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg in ("--keyring", "-k"):
            keyring_file = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg == "--fsid":
            fsid = _take(args, i, "ceph-mon", arg)
            i += 1
        elif arg in ("-c", "--conf", "--cluster", "--setuser", "--setgroup", "--public-addr"):
            i += 1
        elif arg in ("-f", "-d", "--foreground"):
            continue
        else:
            ctx.err(f"unrecognized arg {arg}\n")
            return 1
    if not mon_id:
        ctx.err("must specify '-i name' with the ceph-mon instance name\n")
        return 1
    node = ctx.node
    path = ctx.path(store.mon_dir(mon_id))
    running = f"ceph-mon id={mon_id}" in node.jobs
    if mkfs:
        return await _mkfs(ctx, mon_id, path, running, monmap_file, keyring_file, fsid)
    if not (path / store.STORE_FILE).exists():
        _derr(ctx, f"monitor data directory at '{store.mon_dir(mon_id)}' does not exist: have you run 'mkfs'?")
        return 1
    if (extract or inject) and running:
        ctx.err(f"IO error: lock {store.mon_dir(mon_id)}/store.db/LOCK: Resource temporarily unavailable\n")
        _derr(ctx, f"error opening mon data directory at '{store.mon_dir(mon_id)}': (22) Invalid argument")
        return 1
    try:
        state = store.load(path)
    except store.StoreError as exc:
        _derr(ctx, str(exc))
        return 1
    if extract:
        try:
            store.write_monmap_file(ctx.path(extract), state["monmap"])
        except OSError as exc:
            _derr(ctx, f"error writing monmap to {extract}: ({exc.errno}) {exc.strerror}")
            return 1
        _derr(ctx, f"wrote monmap to {extract}")
        return 0
    if inject:
        try:
            monmap = store.read_monmap_file(ctx.path(inject))
        except (OSError, ValueError) as exc:
            _derr(ctx, f"unable to read monmap from {inject}: {getattr(exc, 'strerror', None) or exc}")
            return 1
        # The injected map becomes the next epoch of the store's monmap.
        monmap["epoch"] = int(state["monmap"]["epoch"]) + 1
        state["monmap"] = monmap
        store.save(path, state)
        return 0
    if running:
        _derr(ctx, f"failed to create new leveldb store: store.db/LOCK held by mon.{mon_id}")
        return 1
    # Started by hand: the same daemon its upstart job runs.
    node.jobs.append(f"ceph-mon id={mon_id}")
    ctx.world.changed()
    entry = store.mon_entry(state["monmap"], mon_id)
    rank = store.rank_of(state["monmap"], mon_id)
    ctx.out(f"starting mon.{mon_id} rank {rank} at {entry['addr'] if entry else '0.0.0.0:0/0'} mon_data "
            f"{store.mon_dir(mon_id)} fsid {state['monmap']['fsid']}\n")
    return 0


async def _mkfs(ctx: Context, mon_id: str, path: Any, running: bool, monmap_file: str | None,
                keyring_file: str | None, fsid: str | None) -> int:
    if running or (path / store.STORE_FILE).exists():
        ctx.err("ceph-mon: error creating monfs: (17) File exists\n")
        return 1
    now = _now(ctx)
    if monmap_file:
        try:
            monmap = store.read_monmap_file(ctx.path(monmap_file))
        except (OSError, ValueError) as exc:
            ctx.err(f"ceph-mon: error reading monmap from {monmap_file}: {exc}\n")
            return 1
    else:
        from fuellab.ceph.cluster import read_conf

        conf = read_conf(ctx.world, ctx.node, "/etc/ceph/ceph.conf")
        addrs = conf.mon_addrs() if conf else []
        names = (conf.get("mon_initial_members", "global") or "").replace(",", " ").split() if conf else []
        if not addrs:
            ctx.err("ceph-mon: no monmap and no mon_host in ceph.conf\n")
            return 1
        monmap = store.new_monmap(fsid or (conf.fsid if conf else "") or str(uuid.uuid4()),
                                  [(names[i] if i < len(names) else f"noname-{chr(97 + i)}", ip)
                                   for i, (ip, _) in enumerate(addrs)], now, epoch=0)
    if fsid:
        monmap["fsid"] = fsid
    ring_text = None
    if keyring_file:
        try:
            ring_text = ctx.path(keyring_file).read_text()
        except OSError:
            ring_text = None
    entities = keys.parse_keyring(ring_text or "")
    if "mon." not in entities:
        _derr(ctx, f"unable to find a keyring on {keyring_file or store.mon_dir(mon_id) + '/keyring'}: "
                   "(2) No such file or directory")
        ctx.err("ceph-mon: error creating monfs: (2) No such file or directory\n")
        return 1
    auth = {name: {"key": e.key, "caps": dict(e.caps) or {"mon": "allow *"}} for name, e in entities.items()}
    state = store.new_state(monmap["fsid"], monmap, auth, 2, now, pools=("data", "metadata", "rbd"))
    state["version"] = 0  # a new monitor of an existing cluster takes the quorum's store
    store.save(path, state)
    (path / "keyring").write_text(keys.render_entity(entities["mon."]))
    os.chmod(path / "keyring", 0o600)
    ctx.out(f"ceph-mon: set fsid to {monmap['fsid']}\n")
    ctx.out(f"ceph-mon: created monfs at {store.mon_dir(mon_id)} for mon.{mon_id}\n")
    return 0


# --------------------------------------------------------------------------- monmaptool


@command("monmaptool")
async def monmaptool(ctx: Context, argv: list[str]) -> int:
    me = "monmaptool"
    args = argv[1:]
    show = create = clobber = False
    fsid: str | None = None
    adds: list[tuple[str, str]] = []
    rms: list[str] = []
    fn: str | None = None
    i = 0
    usage = ("usage: [--print] [--create [--clobber][--fsid uuid]] [--generate] [--set-initial-members] "
             "[--add name 1.2.3.4:567] [--rm name] <mapfilename>\n")
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-p", "--print"):
            show = True
        elif arg == "--create":
            create = True
        elif arg == "--clobber":
            clobber = True
        elif arg == "--fsid":
            fsid = _take(args, i, me, arg)
            i += 1
        elif arg == "--add":
            if i + 1 >= len(args):
                ctx.err(usage)
                return 1
            adds.append((args[i], args[i + 1]))
            i += 2
        elif arg == "--rm":
            rms.append(_take(args, i, me, arg))
            i += 1
        elif arg in ("-h", "--help"):
            ctx.err(usage)
            return 1
        elif arg.startswith("-") and arg != "-":
            ctx.err(f"{me}: invalid argument {arg}\n" + usage)
            return 1
        elif fn is None:
            fn = arg
        else:
            ctx.err(f"{me}: too many arguments\n" + usage)
            return 1
    if fn is None:
        ctx.err(f"{me}: must specify monmap filename\n" + usage)
        return 1
    target = ctx.path(fn)
    ctx.out(f"{me}: monmap file {fn}\n")
    now = _now(ctx)
    monmap: dict[str, Any] | None = None
    if not create:
        try:
            monmap = store.read_monmap_file(target)
        except FileNotFoundError:
            ctx.err(f"{me}: couldn't open {fn}: (2) No such file or directory\n")
            return 255
        except (OSError, ValueError):
            ctx.err(f"{me}: unable to read monmap file\n")
            return 255
    elif target.exists() and not clobber:
        ctx.err(f"{me}: {fn} exists, --clobber to overwrite\n")
        return 255
    modified = False
    if create:
        monmap = {"epoch": 0, "fsid": "", "created": now, "modified": now, "mons": []}
        if not fsid:
            monmap["fsid"] = str(uuid.uuid4())
            ctx.out(f"{me}: generated fsid {monmap['fsid']}\n")
        modified = True
    assert monmap is not None
    if fsid:
        try:
            fsid = str(uuid.UUID(fsid))
        except ValueError:
            ctx.err(f"{me}: invalid fsid '{fsid}'\n")
            return 255
        monmap["fsid"] = fsid
        ctx.out(f"{me}: set fsid to {fsid}\n")
        modified = True
    for name, where in adds:
        parsed = parse_addrs(where)
        if len(parsed) != 1:
            ctx.err(f"{me}: invalid ip:port '{where}'\n" + usage)
            return 1
        if store.mon_entry(monmap, name) is not None:
            ctx.err(f"{me}: map already contains mon.{name}\n" + usage)
            return 1
        monmap["mons"].append({"name": name, "addr": store.addr(*parsed[0])})
        store.sort_mons(monmap)
        modified = True
    for name in rms:
        ctx.out(f"{me}: removing {name}\n")
        entry = store.mon_entry(monmap, name)
        if entry is None:
            ctx.err(f"{me}: map does not contain {name}\n" + usage)
            return 1
        monmap["mons"].remove(entry)
        modified = True
    if not show and not modified:
        ctx.err(usage)
        return 1
    if modified:
        monmap["modified"] = now
        ctx.out(f"{me}: writing epoch {monmap['epoch']} to {fn} ({len(monmap['mons'])} monitors)\n")
        try:
            store.write_monmap_file(target, monmap)
        except OSError as exc:
            ctx.err(f"{me}: error writing to '{fn}': ({exc.errno}) {exc.strerror}\n")
            return 255
    if show:
        ctx.out(_print_monmap(monmap))
    return 0


# --------------------------------------------------------------------------- ceph-authtool


@command("ceph-authtool")
async def ceph_authtool(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    fn: str | None = None
    name = "client.admin"
    listing = print_key = create = gen_key = gen_print = False
    add_key: str | None = None
    imports: list[str] = []
    caps: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("-l", "--list"):
            listing = True
        elif arg in ("-p", "--print-key"):
            print_key = True
        elif arg in ("-C", "--create-keyring"):
            create = True
        elif arg in ("-g", "--gen-key"):
            gen_key = True
        elif arg == "--gen-print-key":
            gen_print = True
        elif arg == "--import-keyring":
            imports.append(_take(args, i, "ceph-authtool", arg))
            i += 1
        elif arg in ("-n", "--name"):
            name = _take(args, i, "ceph-authtool", arg)
            i += 1
        elif arg in ("-a", "--add-key"):
            add_key = _take(args, i, "ceph-authtool", arg)
            i += 1
        elif arg == "--cap":
            if i + 1 >= len(args):
                ctx.err("ceph-authtool: --cap requires a subsystem and a capability\n")
                return 1
            caps[args[i]] = args[i + 1]
            i += 2
        elif arg in ("-u", "--set-uid"):
            i += 1
        elif arg.startswith("-"):
            ctx.err(f"unrecognized arg {arg}\n")
            return 1
        elif fn is None:
            fn = arg
        else:
            ctx.err(f"unrecognized arg {arg}\n")
            return 1
    if gen_print:
        ctx.out(keys.new_key(_now(ctx)) + "\n")
        return 0
    if fn is None:
        ctx.err("ceph-authtool: must specify filename\nusage: ceph-authtool keyringfile [OPTIONS]...\n")
        return 1
    target = ctx.path(fn)
    entities: dict[str, keys.Entity] = {}
    if create:
        ctx.out(f"creating {fn}\n")
    else:
        try:
            entities = keys.parse_keyring(target.read_text())
        except OSError:
            ctx.err(f"can't open {fn}: can't open {fn}: (2) No such file or directory\n")
            return 1
    modified = create
    for other in imports:
        try:
            more = keys.parse_keyring(ctx.path(other).read_text())
        except OSError:
            ctx.err(f"can't open {other}: (2) No such file or directory\n")
            return 1
        ctx.out(f"importing contents of {other} into {fn}\n")
        entities.update(more)
        modified = True
    if gen_key or add_key:
        if add_key and not keys.valid_key(add_key):
            ctx.err(f"can't decode key '{add_key}'\n")
            return 1
        entity = entities.setdefault(name, keys.Entity(name))
        entity.key = add_key or keys.new_key(_now(ctx))
        if add_key:
            ctx.out(f"added entity {name} auth auth(auid = 18446744073709551615 key={add_key} with 0 caps)\n")
        modified = True
    if caps:
        if name not in entities:
            ctx.err(f"can't find entity {name}\n")
            return 1
        entities[name].caps = caps
        modified = True
    if modified:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(keys.render_keyring(entities))
        os.chmod(target, 0o600)
    if listing:
        ctx.out(keys.render_keyring(entities))
    if print_key:
        if name not in entities:
            ctx.err(f"entity {name} not found\n")
            return 1
        ctx.out(entities[name].key + "\n")
    return 0


# --------------------------------------------------------------------------- rados, rbd


def _client_opts(args: list[str]) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    words: list[str] = []
    valued = {"-c": "conf", "--conf": "conf", "-k": "keyring", "--keyring": "keyring", "-n": "name",
              "--name": "name", "--id": "id", "--user": "id", "-p": "pool", "--pool": "pool", "-s": "size",
              "--size": "size", "--format": "format", "--connect-timeout": "timeout"}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        key, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if key in valued:
            if not eq:
                if i >= len(args):
                    raise CommandError(f"{key} requires an argument", 1)
                value = args[i]
                i += 1
            opts[valued[key]] = value
        else:
            words.append(arg)
    return opts, words


def _connect(ctx: Context, opts: dict[str, str]) -> Client:
    entity = opts.get("name") or (f"client.{opts['id']}" if "id" in opts else "client.admin")
    return connect(ctx.lab.world, ctx.lab.addresses, ctx.node, conf_path=opts.get("conf"), entity=entity,
                   keyring=opts.get("keyring"),
                   timeout=float(opts.get("timeout", DEFAULT_CONNECT_TIMEOUT)))


async def _connect_or_fail(ctx: Context, prog: str, opts: dict[str, str]) -> Client | None:
    try:
        return _connect(ctx, opts)
    except ClientError as exc:
        if exc.timeout:
            await ctx.lab.clock.sleep(float(opts.get("timeout", DEFAULT_CONNECT_TIMEOUT)))
        ctx.err("\n".join(line for line in exc.lines if not line.startswith(("Error", "Cluster"))) + "\n")
        ctx.err(f"{prog}: couldn't connect to cluster! error -{110 if exc.timeout else exc.status}\n")
        return None


@command("rados")
async def rados(ctx: Context, argv: list[str]) -> int:
    opts, words = _client_opts(argv[1:])
    if not words:
        ctx.err("rados: you must give an action. Try --help\n")
        return 1
    client = await _connect_or_fail(ctx, "rados", opts)
    if client is None:
        return 1
    action, rest = words[0], words[1:]
    pools = sorted(client.state["osdmap"]["pools"].values(), key=lambda p: p["id"])
    try:
        if action == "lspools":
            ctx.out("".join(f"{p['name']}\n" for p in pools))
            return 0
        if action == "df":
            from fuellab.ceph import health

            use = health.usage(client.quorum)
            ctx.out(f"{'pool name':<16}{'category':>16}{'KB':>16}{'objects':>16}\n")
            for p in pools:
                used, objects = use.per_pool.get(p["id"], (0, 0))
                ctx.out(f"{p['name']:<16}{'-':>16}{-(-used // 1024):>16}{objects:>16}\n")
            ctx.out(f"  total used {use.used // 1024:>16}{sum(o for _, o in use.per_pool.values()):>16}\n"
                    f"  total avail{use.avail // 1024:>16}\n  total space{use.total // 1024:>16}\n")
            return 0
        pool = opts.get("pool")
        if not pool:
            ctx.err("rados: pool name was not specified\n")
            return 1
        if action == "ls":
            ctx.out("".join(f"{name}\n" for name in sorted(client.objects(pool))))
            return 0
        if action in ("put", "get", "stat", "rm") and rest:
            name = rest[0]
            if action == "put" and len(rest) == 2:
                data = await ctx.read_stdin() if rest[1] == "-" else ctx.path(rest[1]).read_bytes()
                client.put(pool, name, data)
                return 0
            if action == "get" and len(rest) == 2:
                data = client.get(pool, name)
                if rest[1] == "-":
                    ctx.out(data)
                else:
                    ctx.path(rest[1]).write_bytes(data)
                return 0
            if action == "stat":
                record = client.objects(pool).get(name)
                if record is None:
                    raise DataError(f" error stat-ing {pool}/{name}: (2) No such file or directory", "ENOENT")
                ctx.out(f"{pool}/{name} mtime {stamp(client.view.now)}, size {record[0]}\n")
                return 0
            if action == "rm":
                client.remove(pool, name)
                return 0
    except DataError as exc:
        ctx.err(f"{exc}\n")
        return 1
    except OSError as exc:
        ctx.err(f"rados: {exc.strerror}\n")
        return 1
    ctx.err(f"rados: unrecognized command {action}\n")
    return 1


def _pool_image(opts: dict[str, str], spec: str) -> tuple[str, str]:
    if "/" in spec:
        pool, image = spec.split("/", 1)
        return pool, image
    return opts.get("pool", "rbd"), spec


@command("rbd")
async def rbd(ctx: Context, argv: list[str]) -> int:
    opts, words = _client_opts(argv[1:])
    if not words:
        ctx.err("rbd: you must specify a command.\n")
        return 1
    client = await _connect_or_fail(ctx, "rbd", opts)
    if client is None:
        return 1
    action, rest = words[0], words[1:]
    try:
        if action in ("ls", "list"):
            pool = rest[0] if rest else opts.get("pool", "rbd")
            names = sorted(client.rbd_directory(pool))
            if opts.get("format", "").startswith("json"):
                ctx.out(json.dumps(names) + "\n")
            else:
                ctx.out("".join(f"{n}\n" for n in names))
            return 0
        if action == "info" and rest:
            pool, image = _pool_image(opts, rest[0])
            info = client.rbd_info(pool, image)
            size = int(info["size"])
            objects = -(-size // (1 << info["order"]))
            ctx.out(f"rbd image '{image}':\n\tsize {size >> 20} MB in {objects} objects\n"
                    f"\torder {info['order']} ({(1 << info['order']) >> 10} kB objects)\n"
                    f"\tblock_name_prefix: {info['object_prefix']}\n\tformat: {info['format']}\n"
                    "\tfeatures: layering\n")
            return 0
        if action == "create" and rest:
            pool, image = _pool_image(opts, rest[0])
            size = int(opts.get("size", "0")) << 20
            client.create_rbd(pool, image, size)
            return 0
        if action in ("rm", "remove") and rest:
            pool, image = _pool_image(opts, rest[0])
            client.rbd_remove(pool, image)
            ctx.err("Removing image: 100% complete...done.\n")
            return 0
    except DataError as exc:
        ctx.err(f"{exc}\n")
        return 1
    ctx.err(f"rbd: error parsing command '{action}'\n")
    return 1
