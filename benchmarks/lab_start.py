"""Lab start time and memory, and SSH latency through paramiko.

Prints, for the default scenario and a 500-node one: the first `fuellab up
--detach` (world created), a restart (`down` then `up`), and the daemon's RSS;
then paramiko connect and exec latency (p50, p99) against the default lab.
Each figure is printed with its ratio to the aim of the issue (< 1 is better).

    .venv/bin/python benchmarks/lab_start.py [--connects 200] [--execs 300]
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

import paramiko
import psutil

FUELLAB = [sys.executable, "-m", "fuellab.cli"]
AIMS = {"default_ready_s": 3.0, "large_ready_s": 10.0, "large_rss_mib": 1024.0, "connect_p50_ms": 10.0}


def fuellab(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([*FUELLAB, *args], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def daemon_rss_mib(lab_dir: Path) -> float:
    pid = int((lab_dir / "lab.pid").read_text())
    return psutil.Process(pid).memory_info().rss / 2**20


def start_figures(lab_dir: Path, prefix: int, *knobs: str) -> dict[str, float]:
    first = fuellab("up", "--detach", "--dir", str(lab_dir), "--prefix", str(prefix), *knobs)
    rss = daemon_rss_mib(lab_dir)
    fuellab("down", "--dir", str(lab_dir))
    restart = fuellab("up", "--detach", "--dir", str(lab_dir))
    rss = max(rss, daemon_rss_mib(lab_dir))
    nodes = len(list((lab_dir / "nodes").iterdir()))
    return {"nodes": nodes, "first_up_s": first, "restart_s": restart, "rss_mib": rss}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ssh_latency(lab_dir: Path, connects: int, execs: int) -> dict[str, float]:
    import yaml

    target = yaml.safe_load((lab_dir / "target.yaml").read_text())
    port, key = target["ssh"]["port"], target["ssh"]["key"]
    hosts = paramiko.HostKeys(target["ssh"]["known_hosts"])
    addresses = [line.split()[0].strip("[]").split("]:")[0] for line in
                 Path(target["ssh"]["known_hosts"]).read_text().splitlines()]
    pkey = paramiko.Ed25519Key.from_private_key_file(key)

    def connect(address: str) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client._host_keys = hosts  # the lab's pinned keys, verified
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        sock = socket.create_connection((address, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.connect(address, port, username="root", pkey=pkey, sock=sock, look_for_keys=False,
                       allow_agent=False, timeout=10)
        return client

    connect_ms = []
    for i in range(connects):
        started = time.perf_counter()
        client = connect(addresses[i % len(addresses)])
        connect_ms.append((time.perf_counter() - started) * 1000)
        client.close()
    client = connect(addresses[0])
    exec_ms = []
    for _ in range(execs):
        started = time.perf_counter()
        _, out, _ = client.exec_command("uname -s", timeout=10)
        out.read()
        out.channel.recv_exit_status()
        exec_ms.append((time.perf_counter() - started) * 1000)
    client.close()
    return {
        "connect_p50_ms": statistics.median(connect_ms),
        "connect_p99_ms": percentile(connect_ms, 0.99),
        "exec_p50_ms": statistics.median(exec_ms),
        "exec_p99_ms": percentile(exec_ms, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=200)
    parser.add_argument("--execs", type=int, default=300)
    parser.add_argument("--large-computes", type=int, default=491, help="491 computes make a 500-node lab")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fuellab-bench-"))
    default_dir, large_dir = base / "default", base / "large"
    try:
        default = start_figures(default_dir, 40)  # below the tests' blocks (100+)
        latency = ssh_latency(default_dir, args.connects, args.execs)
        fuellab("down", "--dir", str(default_dir))
        large = start_figures(large_dir, 50, "--computes", str(args.large_computes))
        fuellab("down", "--dir", str(large_dir))
    finally:
        for d in (default_dir, large_dir):
            if (d / "lab.pid").exists():
                subprocess.run([*FUELLAB, "down", "--dir", str(d)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    rows = [
        ("default lab: nodes", default["nodes"], None),
        ("default lab: first up (create + ready), s", default["first_up_s"], AIMS["default_ready_s"]),
        ("default lab: restart up, s", default["restart_s"], AIMS["default_ready_s"]),
        ("default lab: daemon RSS, MiB", default["rss_mib"], None),
        ("large lab: nodes", large["nodes"], None),
        ("large lab: first up (create + ready), s", large["first_up_s"], AIMS["large_ready_s"]),
        ("large lab: restart up, s", large["restart_s"], AIMS["large_ready_s"]),
        ("large lab: daemon RSS, MiB", large["rss_mib"], AIMS["large_rss_mib"]),
        ("paramiko connect p50, ms", latency["connect_p50_ms"], AIMS["connect_p50_ms"]),
        ("paramiko connect p99, ms", latency["connect_p99_ms"], None),
        ("paramiko exec p50, ms", latency["exec_p50_ms"], None),
        ("paramiko exec p99, ms", latency["exec_p99_ms"], None),
    ]
    for label, value, aim in rows:
        ratio = f"  ratio to aim {value / aim:.2f} (aim {aim:g})" if aim else ""
        print(f"{label:<44} {value:>9.2f}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
