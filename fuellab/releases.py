"""What each Fuel release installs: packages, their binaries and upstart jobs, per role.

Deployment (fuellab.install) reads this catalogue; the node shell finds a
command only if its binary was installed into the node's rootfs, and `status`
knows a job only if its `/etc/init/<job>.conf` exists. So a compute has no
`nova-api`, a freshly provisioned node has no `ceph`, and a 7.0 node reports
Kilo versions because deployment of 7.0 wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JUNO = "2014.2.2-6.1"
KILO = "2015.1.0-7.0"
RELEASE_VERSIONS = (JUNO, KILO)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    binaries: tuple[str, ...] = ()  # installed under /usr/bin unless absolute
    jobs: tuple[str, ...] = ()  # upstart jobs (/etc/init/<job>.conf)
    manual_jobs: tuple[str, ...] = ()  # jobs pacemaker runs: /etc/init/<job>.override = manual


@dataclass(frozen=True)
class PacemakerResource:
    id: str  # vip__public, clone_p_haproxy, master_p_rabbitmq-server ...
    kind: str  # primitive | clone | master
    primitive: str  # p_haproxy ...
    agent: str
    job: str | None = None  # the process it runs on the node where it is placed
    vip: str | None = None  # network of the VIP it holds (public|management)


@dataclass(frozen=True)
class ReleaseSpec:
    version: str
    name: str
    openstack: str
    codename: str
    base: tuple[Package, ...]
    roles: dict[str, tuple[Package, ...]] = field(default_factory=dict)
    pacemaker: tuple[PacemakerResource, ...] = ()

    def packages_for(self, roles: list[str]) -> list[Package]:
        """Packages of the given roles, each once, in catalogue order."""
        seen: dict[str, Package] = {}
        for role in roles:
            for pkg in self.roles.get(role, ()):
                seen.setdefault(pkg.name, pkg)
        for pkg in self.roles.get("_deployed", ()):
            seen.setdefault(pkg.name, pkg)
        return list(seen.values())


def _base(ubuntu: str) -> tuple[Package, ...]:
    """Ubuntu 14.04 as Fuel's image-based provisioning lays it down."""
    return (
        Package("base-files", f"7.2ubuntu5.{ubuntu}"),
        Package("bash", "4.3-7ubuntu1.5", ("/bin/bash", "/bin/sh")),
        Package(
            "coreutils",
            "8.21-1ubuntu5.1",
            tuple(
                f"/bin/{b}"
                for b in (
                    "cat", "cp", "mv", "rm", "mkdir", "ls", "echo", "sleep", "stat", "touch",
                    "chmod", "chown", "chgrp", "ln", "uname", "true", "false", "date", "readlink",
                    "rmdir",
                )
            )
            + tuple(
                f"/usr/bin/{b}"
                for b in ("md5sum", "sha1sum", "sha256sum", "head", "tail", "wc", "cut", "sort", "uniq",
                          "tr", "test", "[", "env", "id", "tee", "dirname", "basename", "seq")
            ),
        ),
        Package("grep", "2.16-1", ("/bin/grep", "/bin/egrep")),
        Package("findutils", "4.4.2-7", ("/usr/bin/find",)),
        Package("sed", "4.2.2-4ubuntu1", ("/bin/sed",)),
        Package("tar", "1.27.1-1ubuntu0.1", ("/bin/tar",)),
        Package("gzip", "1.6-3ubuntu1", ("/bin/gzip", "/bin/gunzip", "/bin/zcat")),
        Package("procps", "1:3.3.9-1ubuntu2.2", ("/bin/ps", "/usr/bin/pgrep", "/bin/kill")),
        Package("iproute2", "3.12.0-2ubuntu1", ("/sbin/ip", "/bin/ss")),
        Package("iputils-arping", "3:20121221-4ubuntu1.1", ("/usr/bin/arping",)),
        Package("hostname", "3.15ubuntu1", ("/bin/hostname",)),
        Package("dpkg", "1.17.5ubuntu5.4", ("/usr/bin/dpkg-query", "/usr/bin/dpkg")),
        Package("apt", "1.0.1ubuntu2.10", ("/usr/bin/apt-get",)),
        Package("upstart", "1.12.1-0ubuntu4.2",
                ("/sbin/initctl", "/sbin/start", "/sbin/stop", "/sbin/status", "/sbin/restart")),
        Package("sysv-rc", "2.88dsf-41ubuntu6", ("/usr/sbin/service",)),
        Package("openssh-server", "1:6.6p1-2ubuntu2", ("/usr/sbin/sshd",), ("ssh",)),
        Package("ntp", "1:4.2.6.p5+dfsg-3ubuntu2", ("/usr/sbin/ntpd",), ("ntp",)),
    )


def _openstack(release: str) -> dict[str, str]:
    if release == JUNO:
        return {"os": "1:2014.2.2-fuel6.1~mira19", "ovs": "2.3.1-1~u14.04+mos2",
                "ceph": "0.80.9-0ubuntu0.14.04.2", "mysql": "5.6.23-1~u14.04+mos1",
                "rabbit": "3.3.5-1~u14.04+mos3", "libvirt": "1.2.9-0ubuntu14~cloud0"}
    return {"os": "1:2015.1.1-1~u14.04+mos19676", "ovs": "2.3.1-1~u14.04+mos3",
            "ceph": "0.80.9-0ubuntu0.14.04.2+mos1", "mysql": "5.6.23-1~u14.04+mos2",
            "rabbit": "3.5.4-1~u14.04+mos1", "libvirt": "1.2.12-0ubuntu14.1~cloud0"}


def _roles(release: str) -> dict[str, tuple[Package, ...]]:
    v = _openstack(release)
    os_ = v["os"]
    keystone_jobs: tuple[str, ...] = ("keystone",) if release == JUNO else ()
    controller = (
        Package("nova-api", os_, ("nova-api", "nova-manage"), ("nova-api",)),
        Package("nova-scheduler", os_, ("nova-scheduler",), ("nova-scheduler",)),
        Package("nova-conductor", os_, ("nova-conductor",), ("nova-conductor",)),
        Package("nova-cert", os_, ("nova-cert",), ("nova-cert",)),
        Package("nova-consoleauth", os_, ("nova-consoleauth",), ("nova-consoleauth",)),
        Package("nova-novncproxy", os_, ("nova-novncproxy",), ("nova-novncproxy",)),
        Package("python-novaclient", "1:2.20.0-fuel6.1" if release == JUNO else "1:2.23.0-1~u14.04+mos1",
                ("nova",)),
        Package("keystone", os_, ("keystone-all", "keystone-manage"), keystone_jobs),
        Package("glance-api", os_, ("glance-api", "glance-manage"), ("glance-api",)),
        Package("glance-registry", os_, ("glance-registry",), ("glance-registry",)),
        Package("cinder-api", os_, ("cinder-api", "cinder-manage"), ("cinder-api",)),
        Package("cinder-scheduler", os_, ("cinder-scheduler",), ("cinder-scheduler",)),
        Package("cinder-volume", os_, ("cinder-volume",), ("cinder-volume",)),
        Package("neutron-server", os_, ("neutron-server", "neutron-db-manage"), ("neutron-server",)),
        Package("neutron-l3-agent", os_, ("neutron-l3-agent",), (), ("neutron-l3-agent",)),
        Package("neutron-dhcp-agent", os_, ("neutron-dhcp-agent",), (), ("neutron-dhcp-agent",)),
        Package("neutron-metadata-agent", os_, ("neutron-metadata-agent",), (),
                ("neutron-metadata-agent",)),
        Package("heat-api", os_, ("heat-api", "heat-manage"), ("heat-api",)),
        Package("heat-api-cfn", os_, ("heat-api-cfn",), ("heat-api-cfn",)),
        Package("heat-engine", os_, ("heat-engine",), (), ("heat-engine",)),
        Package("mysql-server-wsrep-5.6", v["mysql"], ("mysqld", "mysql", "mysqldump"), (),
                ("mysql",)),
        Package("rabbitmq-server", v["rabbit"], ("rabbitmqctl",), (), ("rabbitmq-server",)),
        Package("haproxy", "1.5.3-1~u14.04+mos1", ("/usr/sbin/haproxy",), (), ("haproxy",)),
        Package("corosync", "2.3.3-1ubuntu1", ("/usr/sbin/corosync",), ("corosync",)),
        Package("pacemaker", "1.1.12-0ubuntu2~mos1",
                ("/usr/sbin/crm_mon", "/usr/sbin/cibadmin", "/usr/sbin/crm_resource"), ("pacemaker",)),
        Package("crmsh", "2.1.2-0ubuntu1~mos1", ("/usr/sbin/crm",)),
        Package("pcs", "0.9.137-1~u14.04+mos1", ("/usr/sbin/pcs",)),
        Package("ceph", v["ceph"], ("ceph-mon", "ceph-osd", "monmaptool", "ceph-authtool"),
                ("ceph-mon",)),
        Package("ceph-common", v["ceph"], ("ceph", "rados", "rbd")),
        Package("apache2", "2.4.7-1ubuntu4.5", ("/usr/sbin/apache2",), ("apache2",)),
        Package("memcached", "1.4.14-0ubuntu9", ("memcached",), ("memcached",)),
    )
    compute = (
        Package("nova-compute", os_, ("nova-compute",), ("nova-compute",)),
        Package("nova-compute-kvm", os_),
        Package("libvirt-bin", v["libvirt"], ("virsh", "/usr/sbin/libvirtd"), ("libvirt-bin",)),
        Package("qemu-kvm", "2.0.0+dfsg-2ubuntu1.13", ("kvm",)),
        Package("neutron-plugin-openvswitch-agent", os_, ("neutron-openvswitch-agent",),
                ("neutron-plugin-openvswitch-agent",)),
        Package("ceph-common", v["ceph"], ("ceph", "rados", "rbd")),
    )
    ceph_osd = (
        Package("ceph", v["ceph"], ("ceph-mon", "ceph-osd", "monmaptool", "ceph-authtool"),
                ("ceph-osd",)),
        Package("ceph-common", v["ceph"], ("ceph", "rados", "rbd")),
    )
    # Controllers run the OVS agent under pacemaker, computes as a plain job.
    controller += (
        Package("neutron-plugin-openvswitch-agent", os_, ("neutron-openvswitch-agent",), (),
                ("neutron-plugin-openvswitch-agent",)),
    )
    deployed = (Package("openvswitch-switch", v["ovs"], ("ovs-vsctl", "ovs-ofctl"),
                        ("openvswitch-switch",)),)
    return {"controller": controller, "compute": compute, "ceph-osd": ceph_osd,
            "_deployed": deployed}


def _pacemaker() -> tuple[PacemakerResource, ...]:
    return (
        PacemakerResource("vip__public", "primitive", "vip__public", "ocf:fuel:ns_IPaddr2",
                          vip="public"),
        PacemakerResource("vip__management", "primitive", "vip__management", "ocf:fuel:ns_IPaddr2",
                          vip="management"),
        PacemakerResource("clone_p_haproxy", "clone", "p_haproxy", "ocf:fuel:ns_haproxy", "haproxy"),
        PacemakerResource("clone_p_mysql", "clone", "p_mysql", "ocf:fuel:mysql-wss", "mysql"),
        PacemakerResource("master_p_rabbitmq-server", "master", "p_rabbitmq-server",
                          "ocf:fuel:rabbitmq-server", "rabbitmq-server"),
        PacemakerResource("clone_p_neutron-plugin-openvswitch-agent", "clone",
                          "p_neutron-plugin-openvswitch-agent", "ocf:fuel:ocf-neutron-ovs-agent",
                          "neutron-plugin-openvswitch-agent"),
        PacemakerResource("clone_p_neutron-l3-agent", "clone", "p_neutron-l3-agent",
                          "ocf:fuel:ocf-neutron-l3-agent", "neutron-l3-agent"),
        PacemakerResource("clone_p_neutron-metadata-agent", "clone", "p_neutron-metadata-agent",
                          "ocf:fuel:ocf-neutron-metadata-agent", "neutron-metadata-agent"),
        PacemakerResource("p_neutron-dhcp-agent", "primitive", "p_neutron-dhcp-agent",
                          "ocf:fuel:ocf-neutron-dhcp-agent", "neutron-dhcp-agent"),
        PacemakerResource("clone_p_heat-engine", "clone", "p_heat-engine", "ocf:fuel:heat-engine",
                          "heat-engine"),
    )


RELEASES: dict[str, ReleaseSpec] = {
    JUNO: ReleaseSpec(JUNO, "Juno on Ubuntu 14.04.1", "2014.2.2", "juno", _base("1"),
                      _roles(JUNO), _pacemaker()),
    KILO: ReleaseSpec(KILO, "Kilo on Ubuntu 14.04", "2015.1.0", "kilo", _base("2"),
                      _roles(KILO), _pacemaker()),
}

ROLES = ("controller", "compute", "ceph-osd")


def spec(version: str) -> ReleaseSpec:
    try:
        return RELEASES[version]
    except KeyError:
        raise KeyError(f"unknown release {version!r}; the lab knows {', '.join(RELEASES)}") from None
