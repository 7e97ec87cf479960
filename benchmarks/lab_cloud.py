"""OpenStack API latency and guest reachability probes against the lab's env 1.

For a lab of 12 guests (the default scenario) and one of 2,000 guests, prints:

- GET /v2.1/servers/detail?all_tenants=True, every page (nova's pages hold at
  most 1,000 servers), raw HTTP through a keystoneauth session: p50 and p99
  of the whole listing, and of its first page;
- the same listing through openstacksdk (`conn.compute.servers(details=True,
  all_projects=True)`), once: what a runbook pays, client-side object building
  included;
- a TCP probe of every guest's floating IP (connect, read the SSH banner):
  p50 and p99, and how many guests answered.

Each figure is printed with its ratio to an aim (< 1 is better).

    .venv/bin/python benchmarks/lab_cloud.py [--vms 2000] [--computes 40] [--samples 30]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openstack
import yaml

from fuellab import prefixes

FUELLAB = [sys.executable, "-m", "fuellab.cli"]
AIMS = {"list_p99_ms_small": 50.0, "list_p99_ms_large": 1000.0, "probe_p99_ms": 10.0}


def fuellab(*args: str) -> None:
    subprocess.run([*FUELLAB, *args], check=True, capture_output=True, timeout=900)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def connect(lab_dir: Path) -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(lab_dir / "clouds.yaml")])
    return openstack.connection.Connection(config=config.get_one("env-1"), api_timeout=60)


def list_latency(conn: openstack.connection.Connection, samples: int) -> dict[str, float]:
    session = conn.session
    endpoint = conn.compute.get_endpoint()
    base = endpoint.replace("/v2/", "/v2.1/")
    headers = {"OpenStack-API-Version": "compute 2.25"}
    whole: list[float] = []
    first: list[float] = []
    count = 0
    for _ in range(samples):
        url: str | None = f"{base}/servers/detail?all_tenants=True"
        started = time.perf_counter()
        count = 0
        page = 0
        while url:
            body = session.get(url, headers=headers, timeout=60).json()
            if page == 0:
                first.append((time.perf_counter() - started) * 1000)
            page += 1
            count += len(body["servers"])
            url = next((link["href"] for link in body.get("servers_links", []) if link["rel"] == "next"), None)
        whole.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    sdk_count = len(list(conn.compute.servers(details=True, all_projects=True)))
    sdk_ms = (time.perf_counter() - started) * 1000
    return {"servers": count, "sdk_servers": sdk_count, "list_p50_ms": statistics.median(whole),
            "list_p99_ms": percentile(whole, 0.99), "page_p50_ms": statistics.median(first),
            "page_p99_ms": percentile(first, 0.99), "sdk_ms": sdk_ms}


def probe_latency(conn: openstack.connection.Connection, port: int) -> dict[str, float]:
    fips = [ip.floating_ip_address for ip in conn.network.ips() if ip.port_id]
    times: list[float] = []
    for address in fips:
        started = time.perf_counter()
        try:
            with socket.create_connection((address, port), timeout=5) as sock:
                sock.settimeout(5)
                if not sock.recv(256).startswith(b"SSH-"):
                    continue
        except OSError:
            continue
        times.append((time.perf_counter() - started) * 1000)
    return {"fips": len(fips), "answered": len(times),
            "probe_p50_ms": statistics.median(times) if times else float("nan"),
            "probe_p99_ms": percentile(times, 0.99) if times else float("nan")}


def measure(vms: int, computes: int | None, samples: int) -> dict[str, float]:
    prefix, lock = prefixes.claim()
    base = Path(tempfile.mkdtemp(prefix="fuellab-cloud-bench-"))
    lab_dir = base / "lab"
    try:
        extra = ["--vms", str(vms)] + (["--computes", str(computes)] if computes else [])
        started = time.perf_counter()
        fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix), *extra)
        up_s = time.perf_counter() - started
        target = yaml.safe_load((lab_dir / "target.yaml").read_text())
        conn = connect(lab_dir)
        figures = {"vms": vms, "up_s": up_s, **list_latency(conn, samples),
                   **probe_latency(conn, int(target["vm_probe_port"]))}
        fuellab("down", "--dir", str(lab_dir))
        return figures
    finally:
        if (lab_dir / "lab.pid").exists():
            subprocess.run([*FUELLAB, "down", "--dir", str(lab_dir)], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)
        lock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=2000, help="guests of the large lab")
    parser.add_argument("--computes", type=int, default=40, help="computes of the large lab (capacity)")
    parser.add_argument("--samples", type=int, default=30, help="listings timed per lab")
    args = parser.parse_args()
    small = measure(12, None, args.samples)
    large = measure(args.vms, args.computes, max(5, args.samples // 3))
    rows = []
    for name, figures, aim in (("12 VMs", small, AIMS["list_p99_ms_small"]),
                               (f"{args.vms} VMs", large, AIMS["list_p99_ms_large"])):
        rows += [
            (f"{name}: lab up, s", figures["up_s"], None),
            (f"{name}: servers listed (raw / sdk)", figures["servers"], None),
            (f"{name}: GET servers/detail all pages p50, ms", figures["list_p50_ms"], None),
            (f"{name}: GET servers/detail all pages p99, ms", figures["list_p99_ms"], aim),
            (f"{name}: first page p50, ms", figures["page_p50_ms"], None),
            (f"{name}: first page p99, ms", figures["page_p99_ms"], None),
            (f"{name}: openstacksdk listing, ms", figures["sdk_ms"], None),
            (f"{name}: floating IPs probed / answered", figures["answered"], None),
            (f"{name}: TCP probe p50, ms", figures["probe_p50_ms"], None),
            (f"{name}: TCP probe p99, ms", figures["probe_p99_ms"], AIMS["probe_p99_ms"]),
        ]
    for label, value, aim in rows:
        ratio = f"  ratio to aim {value / aim:.2f} (aim {aim:g})" if aim else ""
        print(f"{label:<52} {value:>10.2f}{ratio}")
    print(f"(sdk listed {small['sdk_servers']} and {large['sdk_servers']}; "
          f"floating IPs: {small['fips']} and {large['fips']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
