"""Ceph as an operator sees it over SSH, and upgrade-ceph's store move, for lab tests."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from tests.labkit import LabHandle

OTHER_FSID = "0badf5d0-1111-4222-8333-444455556666"


def ceph(lab: LabHandle, host: str, args: str, expect: int | None = 0) -> tuple[int, str, str]:
    status, out, err = lab.run(host, f"ceph {args}")
    if expect is not None:
        assert status == expect, f"ceph {args} on {host}: {status}\n{out}\n{err}"
    return status, out, err


def ceph_json(lab: LabHandle, host: str, args: str) -> Any:
    _, out, _ = ceph(lab, host, f"{args} -f json")
    return json.loads(out)


def controllers(lab: LabHandle) -> list[str]:
    return sorted(n["hostname"] for n in lab.nodes_with_role("controller") if n["cluster"] == 1)


def osd_nodes(lab: LabHandle) -> list[str]:
    return sorted(n["hostname"] for n in lab.nodes_with_role("ceph-osd"))


def osd_ids(lab: LabHandle, host: str) -> list[int]:
    tree = ceph_json(lab, controllers(lab)[0], "osd tree")
    node = next(n for n in tree["nodes"] if n["type"] == "host" and n["name"] == host)
    return sorted(node["children"])


def osds(lab: LabHandle) -> dict[int, dict[str, Any]]:
    tree = ceph_json(lab, controllers(lab)[0], "osd tree")
    return {n["id"]: n for n in tree["nodes"] if n["type"] == "osd"}


def conf_fsid(lab: LabHandle, host: str) -> str:
    _, out, _ = lab.run(host, "grep '^fsid' /etc/ceph/ceph.conf")
    return out.split("=", 1)[1].strip()


def mgmt_ip(lab: LabHandle, host: str) -> str:
    _, out, _ = lab.run(host, "grep '^mon_host' /etc/ceph/ceph.conf")
    ips = out.split("=", 1)[1].split()
    return ips[controllers(lab).index(host)] if host in controllers(lab) else ips[0]


def wait_lab_time(lab: LabHandle, seconds: float, wall_limit: float = 20.0) -> None:
    """Let `seconds` of lab time pass (the lab's clock runs much faster than the wall's)."""
    start = lab.status()["lab_time"]
    deadline = time.monotonic() + wall_limit
    while lab.status()["lab_time"] < start + seconds:
        assert time.monotonic() < deadline, "lab time does not advance"
        time.sleep(0.05)


def wait_until(check: Any, wall_limit: float = 20.0) -> Any:
    deadline = time.monotonic() + wall_limit
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def stop_osds(lab: LabHandle, host: str) -> list[int]:
    ids = osd_ids(lab, host)
    status, out, err = lab.run(host, " && ".join(f"stop ceph-osd id={i}" for i in ids))
    assert status == 0, err
    return ids


# --------------------------------------------------------------------------- moving a monitor store


def copy_original_store(lab: LabHandle, source: str, target: str) -> None:
    """tar /etc/ceph and the source MON's store, carry it over to the target controller."""
    status, _, err = lab.run(source, f"tar czf /tmp/ceph-mon.tgz /etc/ceph /var/lib/ceph/mon/ceph-{source}")
    assert status == 0, err
    buf = io.BytesIO()
    with lab.ssh(source) as client, client.open_sftp() as sftp:
        sftp.getfo("/tmp/ceph-mon.tgz", buf)
    with lab.ssh(target) as client, client.open_sftp() as sftp:
        sftp.putfo(io.BytesIO(buf.getvalue()), "/tmp/ceph-mon.tgz")


def move_mon(lab: LabHandle, source: str, target: str, fsid: str) -> list[tuple[int, str, str]]:
    """upgrade-ceph's steps on `target`, as shell commands, with the given fsid in the monmap."""
    copy_original_store(lab, source, target)
    steps = [
        f"stop ceph-mon id={target}",
        f"ceph-mon -i {target} --extract-monmap /tmp/monmap",
        f"rm -rf /var/lib/ceph/mon/ceph-{target} /tmp/orig && mkdir -p /tmp/orig",
        "tar xzf /tmp/ceph-mon.tgz -C /tmp/orig",
        f"mv /tmp/orig/var/lib/ceph/mon/ceph-{source} /var/lib/ceph/mon/ceph-{target}",
        "cp /tmp/orig/etc/ceph/* /etc/ceph/",
        f"sed -i 's/^fsid = .*/fsid = {fsid}/' /etc/ceph/ceph.conf",
        f"monmaptool --fsid {fsid} --clobber /tmp/monmap",
        f"ceph-mon -i {target} --inject-monmap /tmp/monmap",
        f"start ceph-mon id={target}",
    ]
    results = []
    for step in steps:
        result = lab.run(target, step)
        assert result[0] == 0, f"{step}: {result}"
        results.append(result)
    return results
