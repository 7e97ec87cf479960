"""libvirt guests on a compute: definitions in the node's files, running state in the world.

A guest is *defined* by its XML at `/etc/libvirt/qemu/<name>.xml` on the
compute's OS disk (what `virsh define` and nova write), with nova's copy at
`/var/lib/nova/instances/<uuid>/libvirt.xml` on the `vm` volume. It *runs*
while `Node.domains` lists it: runtime state, gone when the host goes down or
is re-provisioned (fuellab.install.provision), exactly like a qemu process.
So a re-install of a compute that still hosts guests kills them, and the
definitions go with the wiped rootfs.
"""

from __future__ import annotations

import contextlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fuellab.node.context import node_path

if TYPE_CHECKING:
    from fuellab.world import Node, World

QEMU_DIR = "/etc/libvirt/qemu"
INSTANCES_DIR = "/var/lib/nova/instances"
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.0"
RUNNING, PAUSED, SHUTOFF = "running", "paused", "shut off"


def domain_name(instance_id: int) -> str:
    """nova's instance_name_template `instance-%08x` over the instances table id."""
    return f"instance-{int(instance_id):08x}"


@dataclass(frozen=True)
class DomainSpec:
    name: str
    uuid: str
    display_name: str
    flavor: str
    memory_mb: int
    vcpus: int
    disk: str  # "<pool>/<rbd image>" of the boot disk
    mac: str = ""
    port_id: str = ""


class _WorldOnly:
    """What node_path needs of a lab, for callers that only hold the world (scenarios)."""

    def __init__(self, world: World) -> None:
        self.world = world


def resolve(world: World, node: Node, abspath: str) -> Path:
    """A node path on the lab's folders, mount points (the `vm` volume) included."""
    return node_path(_WorldOnly(world), node, abspath)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- XML


def render_xml(spec: DomainSpec) -> str:
    """The domain XML nova's libvirt driver (Juno/Kilo) writes for an RBD-backed guest."""
    tap = spec.port_id[:11]
    pool, _, image = spec.disk.partition("/")
    iface = (
        "    <interface type='bridge'>\n"
        f"      <mac address='{spec.mac}'/>\n"
        f"      <source bridge='qbr{tap}'/>\n"
        f"      <target dev='tap{tap}'/>\n"
        "      <model type='virtio'/>\n"
        "    </interface>\n"
    ) if spec.port_id else ""
    return (
        "<domain type='kvm'>\n"
        f"  <name>{spec.name}</name>\n"
        f"  <uuid>{spec.uuid}</uuid>\n"
        "  <metadata>\n"
        f"    <nova:instance xmlns:nova='{NOVA_NS}'>\n"
        "      <nova:package version='2014.2.2'/>\n"
        f"      <nova:name>{_escape(spec.display_name)}</nova:name>\n"
        f"      <nova:flavor name='{spec.flavor}'>\n"
        f"        <nova:memory>{spec.memory_mb}</nova:memory>\n"
        f"        <nova:vcpus>{spec.vcpus}</nova:vcpus>\n"
        "      </nova:flavor>\n"
        "    </nova:instance>\n"
        "  </metadata>\n"
        f"  <memory unit='KiB'>{spec.memory_mb * 1024}</memory>\n"
        f"  <currentMemory unit='KiB'>{spec.memory_mb * 1024}</currentMemory>\n"
        f"  <vcpu placement='static'>{spec.vcpus}</vcpu>\n"
        "  <os>\n    <type arch='x86_64' machine='pc-i440fx-trusty'>hvm</type>\n"
        "    <boot dev='hd'/>\n  </os>\n"
        "  <features><acpi/><apic/></features>\n"
        "  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    <emulator>/usr/bin/kvm-spice</emulator>\n"
        "    <disk type='network' device='disk'>\n"
        "      <driver name='qemu' type='raw' cache='writeback'/>\n"
        f"      <auth username='compute'><secret type='ceph' uuid='{spec.uuid}'/></auth>\n"
        f"      <source protocol='rbd' name='{pool}/{image}'/>\n"
        "      <target dev='vda' bus='virtio'/>\n"
        "    </disk>\n"
        f"{iface}"
        "    <serial type='file'>\n"
        f"      <source path='{INSTANCES_DIR}/{spec.uuid}/console.log'/>\n"
        "    </serial>\n"
        "  </devices>\n"
        "</domain>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_xml(text: str) -> DomainSpec | None:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    name, uuid = root.findtext("name"), root.findtext("uuid")
    if not name or not uuid:
        return None
    memory = int(root.findtext("memory") or 0) // 1024
    vcpus = int(root.findtext("vcpu") or 1)
    flavor = root.find(f".//{{{NOVA_NS}}}flavor")
    source = root.find("./devices/disk/source")
    mac = root.find("./devices/interface/mac")
    return DomainSpec(
        name=name, uuid=uuid,
        display_name=root.findtext(f".//{{{NOVA_NS}}}name") or name,
        flavor=flavor.get("name", "") if flavor is not None else "",
        memory_mb=memory, vcpus=vcpus,
        disk=source.get("name", "") if source is not None else "",
        mac=mac.get("address", "") if mac is not None else "",
    )


# --------------------------------------------------------------------------- definitions


_parsed: dict[Path, tuple[tuple[int, int, int], DomainSpec | None]] = {}


def _read_spec(path: Path) -> DomainSpec | None:
    try:
        st = path.stat()
    except OSError:
        return None
    sig = (st.st_ino, st.st_mtime_ns, st.st_size)
    hit = _parsed.get(path)
    if hit is not None and hit[0] == sig:
        return hit[1]
    try:
        spec = parse_xml(path.read_text())
    except OSError:
        return None
    _parsed[path] = (sig, spec)
    return spec


def xml_path(world: World, node: Node, name: str) -> Path:
    return resolve(world, node, f"{QEMU_DIR}/{name}.xml")


def defined(world: World, node: Node) -> dict[str, DomainSpec]:
    """Persistent domains of the node: the XML files libvirtd loads at start."""
    folder = resolve(world, node, QEMU_DIR)
    out: dict[str, DomainSpec] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if entry.name.endswith(".xml") and entry.is_file():
            spec = _read_spec(Path(entry.path))
            if spec is not None:
                out[spec.name] = spec
    return out


def spec_of(world: World, node: Node, name: str) -> DomainSpec | None:
    return _read_spec(xml_path(world, node, name))


def define(world: World, node: Node, spec: DomainSpec) -> None:
    """Write the domain XML where libvirt and nova keep it, plus the instance directory."""
    from fuellab.install import write

    text = render_xml(spec)
    root = world.rootfs(node)
    write(root, f"{QEMU_DIR}/{spec.name}.xml", text, 0o600)
    inst = resolve(world, node, f"{INSTANCES_DIR}/{spec.uuid}")
    inst.mkdir(parents=True, exist_ok=True)
    (inst / "libvirt.xml").write_text(text)


def undefine(world: World, node: Node, name: str, uuid: str = "") -> None:
    """Remove the definition (VIR_MIGRATE_UNDEFINE_SOURCE, or a delete)."""
    xml_path(world, node, name).unlink(missing_ok=True)
    if uuid:
        inst = resolve(world, node, f"{INSTANCES_DIR}/{uuid}")
        (inst / "libvirt.xml").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            inst.rmdir()


# --------------------------------------------------------------------------- running state


def running(node: Node) -> dict[str, dict[str, Any]]:
    """Guests with a qemu process on the node (running or paused); none while it is down."""
    return node.domains if node.online else {}


def state_of(world: World, node: Node, name: str) -> str | None:
    live = running(node).get(name)
    if live is not None:
        return str(live.get("state", RUNNING))
    return SHUTOFF if spec_of(world, node, name) is not None else None


def next_id(node: Node) -> int:
    ids = [int(d.get("id", 0)) for d in node.domains.values()]
    return max(ids, default=0) + 1


def start(world: World, node: Node, spec: DomainSpec, *, reboot: bool = False) -> None:
    """Start the guest's qemu. A start of a guest that ran before is a reboot of its OS."""
    node.domains[spec.name] = {"uuid": spec.uuid, "state": RUNNING, "since": round(world.clock.now(), 3),
                               "id": next_id(node)}
    if reboot:
        world.record("vm_reboot", vm=spec.uuid, node=node.hostname)
    world.changed()


def set_state(world: World, node: Node, name: str, state: str) -> None:
    if name in node.domains:
        node.domains[name]["state"] = state
        world.changed()


def destroy(world: World, node: Node, name: str) -> bool:
    """Kill the guest's qemu (`virsh destroy`); False when it was not running."""
    if node.domains.pop(name, None) is None:
        return False
    world.changed()
    return True


def find(world: World, uuid: str) -> tuple[Node, str] | None:
    """The node running the guest with this uuid, and the domain's name."""
    for node in world.nodes.values():
        for name, dom in running(node).items():
            if dom.get("uuid") == uuid:
                return node, name
    return None
