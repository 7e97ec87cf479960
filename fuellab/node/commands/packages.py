"""dpkg-query, dpkg and apt-get over the node's dpkg database and its release's repositories.

What is installed is `/var/lib/dpkg/status` in the node's rootfs (written by
provisioning, deployment and `apt-get install`). What `apt-get` can install
is the catalogue (fuellab.releases) of each release whose repository the node
has: its own release, plus any release a `deb` line of
`/etc/apt/sources.list[.d/*.list]` names (Fuel's repository URLs carry the
release version, e.g. `http://10.20.0.2:8080/2015.1.0-7.0/ubuntu/x86_64`).
Among several, the highest version wins, as apt's candidate does;
`name=version` takes that version from any of them, and installing one
older than the installed package (a downgrade) needs `--force-yes`.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from fuellab import install, releases
from fuellab.node.commands import command
from fuellab.node.commands import opts as getopt
from fuellab.node.context import CommandError, Context
from fuellab.releases import Package

DPKG_STATUS = "/var/lib/dpkg/status"


# --------------------------------------------------------------------------- Debian versions


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (with ~ lowest) and numeric runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_version(v: str) -> tuple[int, str, str]:
    epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch or 0), upstream, revision


def compare_versions(a: str, b: str) -> int:
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


# --------------------------------------------------------------------------- the dpkg database


def read_status(path: Path) -> dict[str, dict[str, str]]:
    """Package name -> its paragraph of the status file (field names as written)."""
    entries: dict[str, dict[str, str]] = {}
    try:
        text = path.read_text()
    except OSError:
        return entries
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if "Package" in fields:
            entries[fields["Package"]] = fields
    return entries


def _installed(ctx: Context) -> dict[str, dict[str, str]]:
    return {name: f for name, f in read_status(ctx.path(DPKG_STATUS)).items()
            if f.get("Status", "").endswith(" installed")}


def _field(entry: dict[str, str], name: str) -> str:
    lower = name.lower()
    status = entry.get("Status", "install ok installed").split()
    virtual = {
        "binary:package": entry.get("Package", ""),
        "db:status-abbrev": "ii " if status[-1:] == ["installed"] else "un ",
        "db:status-want": status[0] if status else "",
        "db:status-eflag": status[1] if len(status) > 1 else "",
        "db:status-status": status[2] if len(status) > 2 else "",
        "binary:summary": entry.get("Description", "").split("\n")[0],
    }
    if lower in virtual:
        return virtual[lower]
    for key, value in entry.items():
        if key.lower() == lower:
            return value
    return ""


def render(fmt: str, entry: dict[str, str]) -> str:
    """dpkg-query --showformat: ${Field}, ${Field;width} (negative: left aligned), \\n \\t."""
    def sub(match: re.Match[str]) -> str:
        value = _field(entry, match.group(1))
        if match.group(2):
            width = int(match.group(2))
            value = value.ljust(-width) if width < 0 else value.rjust(width)
        return value

    text = re.sub(r"\$\{([^};]+)(?:;(-?\d+))?\}", sub, fmt)
    return text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")


def _matching(entries: dict[str, dict[str, str]], pattern: str) -> list[str]:
    return sorted(n for n in entries if fnmatch.fnmatchcase(n, pattern))


def _list(ctx: Context, patterns: list[str]) -> int:
    entries = _installed(ctx)
    names: list[str] = []
    missing = []
    for pattern in patterns or ["*"]:
        found = _matching(entries, pattern)
        if not found:
            missing.append(pattern)
        names += [n for n in found if n not in names]
    if names:
        wn = max(14, max(len(n) for n in names))
        wv = max(15, max(len(_field(entries[n], "Version")) for n in names))
        wa = 12
        ctx.out(
            "Desired=Unknown/Install/Remove/Purge/Hold\n"
            "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n"
            "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n"
            f"||/ {'Name'.ljust(wn)} {'Version'.ljust(wv)} {'Architecture'.ljust(wa)} Description\n"
            f"+++-{'=' * wn}-{'=' * wv}-{'=' * wa}-{'=' * 79}\n"
        )
        for n in names:
            e = entries[n]
            desc = _field(e, "binary:summary") or "(no description available)"
            ctx.out(f"ii  {n.ljust(wn)} {_field(e, 'Version').ljust(wv)} "
                    f"{_field(e, 'Architecture').ljust(wa)} {desc}\n")
    for pattern in missing:
        ctx.err(f"dpkg-query: no packages found matching {pattern}\n")
    return 1 if missing else 0


def _show(ctx: Context, fmt: str, patterns: list[str]) -> int:
    entries = _installed(ctx)
    status = 0
    for pattern in patterns or ["*"]:
        found = _matching(entries, pattern)
        if not found:
            ctx.err(f"dpkg-query: no packages found matching {pattern}\n")
            status = 1
        for name in found:
            ctx.out(render(fmt, entries[name]))
    return status


def _status(ctx: Context, names: list[str]) -> int:
    if not names:
        raise CommandError("dpkg-query: --status needs at least one package name argument")
    entries = _installed(ctx)
    status = 0
    blocks = []
    for name in names:
        entry = entries.get(name)
        if entry is None:
            ctx.err(f"dpkg-query: package '{name}' is not installed and no information is available\n"
                    "Use dpkg --info (= dpkg-deb --info) to examine archive files,\n"
                    "and dpkg --contents (= dpkg-deb --contents) to list their contents.\n")
            status = 1
            continue
        blocks.append("".join(f"{k}: {v}\n" for k, v in entry.items()))
    ctx.out("\n".join(blocks))
    return status


DEFAULT_FORMAT = "${binary:Package}\\t${Version}\\n"
QUERY_LONG = ("show", "list", "status", "showformat=", "help", "version", "get-selections",
              "compare-versions", "admindir=")


async def _query(ctx: Context, prog: str, args: list[str]) -> int:
    parsed = getopt.parse([prog, *args], "WlsLf:", QUERY_LONG, status=2)
    operands = parsed.args
    fmt = DEFAULT_FORMAT
    action = None
    for dashed, value in parsed.opts:
        name = dashed.lstrip("-")
        if name in ("f", "showformat"):
            fmt = value or ""
        elif name in ("W", "show"):
            action = "show"
        elif name in ("l", "list"):
            action = "list"
        elif name in ("s", "status"):
            action = "status"
        elif name == "version":
            ctx.out("Debian dpkg package management program query tool version 1.17.5 (amd64).\n")
            return 0
        elif name == "get-selections":
            action = "selections"
        elif name == "compare-versions":
            action = "compare"
    if action == "show":
        return _show(ctx, fmt, operands)
    if action == "list":
        return _list(ctx, operands)
    if action == "status":
        return _status(ctx, operands)
    if action == "selections":
        for name in sorted(_installed(ctx)):
            if any(fnmatch.fnmatchcase(name, p) for p in operands or ["*"]):
                ctx.out(f"{name.ljust(48)}install\n")
        return 0
    if action == "compare":
        return _compare(prog, operands)
    raise CommandError(f"{prog}: error: need an action option\n\nType {prog} --help for help.", 2)


def _compare(prog: str, operands: list[str]) -> int:
    if len(operands) != 3:
        raise CommandError(f"{prog}: error: --compare-versions takes three arguments: "
                           "<version> <relation> <version>", 2)
    a, op, b = operands
    c = compare_versions(a, b)
    ok = {"lt": c < 0, "le": c <= 0, "eq": c == 0, "ne": c != 0, "ge": c >= 0, "gt": c > 0,
          "<<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">>": c > 0}
    if op not in ok:
        raise CommandError(f"{prog}: error: --compare-versions bad relation", 2)
    return 0 if ok[op] else 1


@command("dpkg-query")
async def dpkg_query(ctx: Context, argv: list[str]) -> int:
    return await _query(ctx, "dpkg-query", argv[1:])


@command("dpkg")
async def dpkg(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if args[:1] == ["--compare-versions"]:
        return _compare("dpkg", args[1:])
    if args[:1] in (["-i"], ["--install"], ["-r"], ["--remove"], ["-P"], ["--purge"]):
        raise CommandError("dpkg: error: the lab installs packages only through apt-get install", 2)
    return await _query(ctx, "dpkg-query", args)


# --------------------------------------------------------------------------- apt-get


def _catalogue(version: str) -> dict[str, Package]:
    spec = releases.spec(version)
    found: dict[str, Package] = {p.name: p for p in spec.base}
    for packages in spec.roles.values():
        for pkg in packages:
            found.setdefault(pkg.name, pkg)
    return found


def repositories(ctx: Context) -> list[str]:
    """Release versions whose repositories the node has."""
    repos = [ctx.node.release] if ctx.node.release in releases.RELEASES else []
    files = [ctx.path("/etc/apt/sources.list")]
    listd = ctx.path("/etc/apt/sources.list.d")
    if listd.is_dir():
        files += sorted(listd.glob("*.list"))
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            for version in releases.RELEASE_VERSIONS:
                if version in line and version not in repos:
                    repos.append(version)
    return repos


def candidates(ctx: Context) -> dict[str, Package]:
    """Per package name, the highest version any configured repository offers."""
    best: dict[str, Package] = {}
    for version in repositories(ctx):
        for name, pkg in _catalogue(version).items():
            if name not in best or compare_versions(pkg.version, best[name].version) > 0:
                best[name] = pkg
    return best


def offered(ctx: Context, name: str, version: str) -> Package | None:
    """`name` at exactly `version` from any configured repository (what `apt-get install name=version`
    takes, older than the candidate or not)."""
    for release in repositories(ctx):
        pkg = _catalogue(release).get(name)
        if pkg is not None and pkg.version == version:
            return pkg
    return None


def _start_jobs(ctx: Context, packages: list[Package]) -> None:
    """Maintainer scripts start the jobs they install (not the ones left to pacemaker)."""
    from fuellab import services
    from fuellab.node import daemons

    started = []
    for pkg in packages:
        for job in pkg.jobs:
            conf = ctx.path(f"/etc/init/{job}.conf")
            if "instance " in (conf.read_text() if conf.is_file() else "instance "):
                continue
            if job not in services.running_jobs(ctx.world, ctx.node):
                ctx.node.jobs.append(job)
                started.append(job)
    if started:
        ctx.world.changed()
        pids = {p.job: p.pid for p in reversed(daemons.processes(ctx.lab, ctx.node))}
        for job in started:
            ctx.out(f"{job} start/running, process {pids.get(job, 0)}\n")


def _install(ctx: Context, names: list[str], simulate: bool, force_yes: bool = False) -> int:
    available = candidates(ctx)
    installed = _installed(ctx)
    chosen: list[Package] = []
    for spec in names:
        name, _, wanted = spec.partition("=")
        pkg = available.get(name)
        if pkg is None:
            ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n")
            raise CommandError(f"E: Unable to locate package {name}", 100)
        if wanted and wanted != pkg.version:
            pkg = offered(ctx, name, wanted)
            if pkg is None:
                ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n")
                raise CommandError(f"E: Version '{wanted}' for '{name}' was not found", 100)
        chosen.append(pkg)
    ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n")
    new = [p for p in chosen if p.name not in installed]
    upgrade = [p for p in chosen if p.name in installed
               and compare_versions(p.version, installed[p.name].get("Version", "")) > 0]
    downgrade = [p for p in chosen if p.name in installed
                 and compare_versions(p.version, installed[p.name].get("Version", "")) < 0]
    current = [p for p in chosen if p not in new and p not in upgrade and p not in downgrade]
    for pkg in current:
        ctx.out(f"{pkg.name} is already the newest version.\n")
    if downgrade:
        ctx.out("The following packages will be DOWNGRADED:\n  " + " ".join(p.name for p in downgrade) + "\n")
        if not force_yes:
            raise CommandError("E: Packages were downgraded and -y was used without --force-yes", 100)
    if new:
        ctx.out("The following NEW packages will be installed:\n  " + " ".join(p.name for p in new) + "\n")
    if upgrade:
        ctx.out("The following packages will be upgraded:\n  " + " ".join(p.name for p in upgrade) + "\n")
    shown = f"{len(downgrade)} downgraded, " if downgrade else ""
    ctx.out(f"{len(upgrade)} upgraded, {len(new)} newly installed, {shown}0 to remove and 0 not upgraded.\n")
    changing = new + upgrade + downgrade
    if simulate:
        for pkg in changing:
            ctx.out(f"Inst {pkg.name} ({pkg.version} mos [amd64])\n")
        return 0
    if not changing:
        return 0
    for pkg in new:
        ctx.out(f"Selecting previously unselected package {pkg.name}.\n")
    for pkg in changing:
        ctx.out(f"Unpacking {pkg.name} ({pkg.version}) ...\n")
    install.install_packages(ctx.path("/"), changing)
    for pkg in changing:
        ctx.out(f"Setting up {pkg.name} ({pkg.version}) ...\n")
    _start_jobs(ctx, changing)
    ctx.world.changed()
    return 0


@command("apt-get")
async def apt_get(ctx: Context, argv: list[str]) -> int:
    parsed = getopt.parse(argv, "yqfsdVmuo:c:t:", (
        "yes", "assume-yes", "quiet", "force-yes", "no-install-recommends", "allow-unauthenticated",
        "reinstall", "simulate", "dry-run", "fix-broken", "download-only", "option=", "target-release=",
        "only-upgrade", "fix-missing", "show-upgraded"), status=100)
    operands = parsed.args
    simulate = parsed.has("-s", "--simulate", "--dry-run")
    if not operands:
        raise CommandError("E: No operation specified (see apt-get --help)", 100)
    verb, names = operands[0], operands[1:]
    if verb == "update":
        for version in repositories(ctx):
            ctx.out(f"Hit http://{ctx.world.meta.get('master_ip', '')}:8080 {version} Release\n")
        ctx.out("Reading package lists...\n")
        return 0
    if verb == "install":
        if not names:
            ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
                    "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
            return 0
        return _install(ctx, names, simulate, parsed.has("--force-yes"))
    if verb in ("upgrade", "dist-upgrade"):
        available = candidates(ctx)
        names = [n for n, e in _installed(ctx).items() if n in available
                 and compare_versions(available[n].version, e.get("Version", "")) > 0]
        if not names:
            ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
                    "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
            return 0
        if not simulate and not parsed.has("-y", "--yes", "--assume-yes"):
            # apt asks before upgrading; with no terminal to answer it gives up.
            ctx.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
                    f"{len(names)} upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
                    "Do you want to continue? [Y/n] Abort.\n")
            return 1
        return _install(ctx, names, simulate)
    if verb in ("clean", "autoclean", "check"):
        return 0
    raise CommandError(f"E: Invalid operation {verb}", 100)
