"""The workload monitor (runbook.monitor) against the lab, and its arithmetic on synthetic records.

Against the lab: the process (start, idempotent start, stop, a stale pid file, the
ends it finds by itself), its wiring into the stages (a stage session starts it and it
outlives the session; --validate-only and --no-monitor do not), and what it measures:
a guest's libvirt domain destroyed for a while is one outage of about the length the
lab's own ledger records, tied to the journal's running step; HAProxy stopped is an
API read gap; read-only maintenance is a write outage window with reads answered,
and the write probe leaves no key pair behind. Every test checks with `ps` that no
monitor of its lab survives it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
import yaml

from runbook import monitor
from runbook.config import Target, load_target
from runbook.errors import MonitorError
from runbook.journal import Journal
from runbook.lib import cloud, haproxy
from runbook.monitor import attribution, figures, process
from runbook.monitor.__main__ import _parser
from runbook.monitor.prober import KEYPAIR_PREFIX, TcpProber
from runbook.monitor.settings import Paths, Settings
from runbook.monitor.store import EventStore, read_events
from runbook.procedure import preflight
from tests.lab.cloudkit import wait_for
from tests.labkit import LabHandle
from tests.runbook.ctxkit import make_ctx

ROOT = Path(__file__).resolve().parents[2]
STAGE = "stage9_monitor_test"  # a stage only these tests journal: its records are the attribution under test
FAST = Settings(api_interval=0.25)
CONTROLLERS = ["node-1", "node-2", "node-3"]


# --------------------------------------------------------------------------- helpers


def _target(lab: LabHandle) -> Target:
    return load_target(lab.dir / "target.yaml")


def monitor_pids(lab: LabHandle) -> list[int]:
    """Monitor processes probing this lab, as `ps` lists them."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, timeout=10).stdout
    target = str(lab.dir / "target.yaml")
    return sorted(int(line.split(None, 1)[0]) for line in out.splitlines()
                  if "runbook.monitor" in line and target in line)


@pytest.fixture
def no_stray(session_lab: LabHandle) -> Iterator[None]:
    """After the test: its monitor is stopped and `ps` shows none of this lab's."""
    yield
    process.stop_all(session_lab.dir / "journal")
    assert monitor_pids(session_lab) == [], "a monitor of this lab survived the test"


def write_baseline(lab: LabHandle) -> list[dict[str, Any]]:
    """The cloud part of stage 0's baseline that the monitor reads (servers, ports, floating IPs)."""
    target = _target(lab)
    conn = cloud.from_target(target)
    data = {"cloud": {"servers": cloud.servers(conn), "ports": cloud.ports(conn),
                      "floating_ips": cloud.floating_ips(conn)}}
    folder = Journal.open(target.journal_dir, target.env).folder
    (folder / preflight.BASELINE_FILE).write_text(json.dumps(data))
    return data["cloud"]["servers"]


def records(target: Target, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in read_events(monitor.paths(target).events) if kind is None or e["e"] == kind]


def wait_all_up(target: Target, vms: int, api: bool = True) -> None:
    """The monitor has seen every VM (and the API read) answer."""
    def seen() -> bool:
        up = {e["id"] for e in records(target, "vm") if e["up"]}
        reads = [e for e in records(target, "api") if e["k"] == "read" and e["up"]]
        return len(up) == vms and (bool(reads) or not api)
    wait_for(seen, "the monitor to see every VM answer", timeout=15)


def answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def api_url(lab: LabHandle) -> str:
    """The original env's keystone as clouds.yaml names it (at the public VIP)."""
    url = urlparse(yaml.safe_load((lab.dir / "clouds.yaml").read_text())["clouds"]["env-1"]["auth"]["auth_url"])
    return f"{url.scheme}://{url.netloc}/"


def http_answers(url: str) -> bool:
    """An HTTP answer (any status): with HAProxy stopped the VIP closes connections without one."""
    try:
        requests.get(url, timeout=2)
        return True
    except requests.RequestException:
        return False


def time_factor(lab: LabHandle) -> float:
    """Wall seconds per lab second (the lab's own setting; the runbook never reads it)."""
    return float(yaml.safe_load((lab.dir / "lab.yaml").read_text())["time_factor"])


def run_stage_session(lab: LabHandle, *args: str) -> subprocess.CompletedProcess[str]:
    """A stage module as an operator runs it, monitor allowed (the test suite's default is off)."""
    env = {k: v for k, v in os.environ.items() if k != "OCTANE_NO_MONITOR"}
    return subprocess.run([sys.executable, "-m", "pytest", "runbook/stages/stage1_prepare.py", "--target",
                           str(lab.dir / "target.yaml"), "-p", "no:cacheprovider", "-q", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------- the process


def test_start_is_idempotent_stop_ends_it_and_a_stale_pid_file_is_harmless(shared_lab, no_stray) -> None:
    target = _target(shared_lab)
    paths = monitor.paths(target)
    first = monitor.start(target)
    assert first.running and first.pid and monitor_pids(shared_lab) == [first.pid]
    assert monitor.start(target).pid == first.pid, "a second start must leave the running monitor alone"
    cli = subprocess.run([sys.executable, "-m", "runbook.monitor", "run", "--target", str(target.path)],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0 and "already running" in cli.stdout, cli.stdout + cli.stderr
    assert monitor_pids(shared_lab) == [first.pid]
    assert "stopped" in monitor.stop(target)
    assert monitor_pids(shared_lab) == [] and not paths.pid.exists()
    assert records(target)[-1]["e"] == "stop" and records(target)[-1]["why"] == "signal SIGTERM"

    bystander = subprocess.Popen(["sleep", "60"])  # a live process that is no monitor
    try:
        paths.pid.write_text(f"{bystander.pid}\n")
        stale = monitor.status(target)
        assert not stale.running and stale.stale_pid == bystander.pid
        assert "stale pid file" in monitor.stop(target) and not paths.pid.exists()
        paths.pid.write_text(f"{bystander.pid}\n")
        again = monitor.start(target)
        assert again.running and again.pid != bystander.pid and process.read_pid(paths) == again.pid
        assert "stopped" in monitor.stop(target)
        assert bystander.poll() is None, "stop signalled the process a stale pid file named"
    finally:
        bystander.kill()
        bystander.wait(10)
    shutil.rmtree(paths.folder)


def test_the_monitor_ends_by_itself_at_its_lifetime_and_when_its_folder_goes(shared_lab, no_stray) -> None:
    target = _target(shared_lab)
    paths = monitor.paths(target)
    monitor.start(target, settings=Settings(max_lifetime=1.0))
    wait_for(lambda: not monitor.status(target).running, "the monitor to end at its lifetime", timeout=10)
    assert records(target, "stop")[-1]["why"] == "maximum lifetime of 1 s reached"
    assert monitor_pids(shared_lab) == []

    started = monitor.start(target, settings=Settings(tick_interval=0.25))
    shutil.rmtree(paths.folder)  # as a test's journal clean-up does
    wait_for(lambda: started.pid not in monitor_pids(shared_lab), "the monitor to notice its folder went",
             timeout=10)


def test_settings_are_checked_and_travel_through_the_command_line() -> None:
    with pytest.raises(MonitorError, match="probe_interval"):
        Settings(probe_interval=-1)
    with pytest.raises(MonitorError, match="max_lifetime"):
        Settings(max_lifetime=float("inf"))
    chosen = Settings(probe_interval=0.5, api_timeout=2.0, write_probe=True, max_lifetime=3600)
    argv = process.command(Path("/t/target.yaml"), 7, chosen)
    assert argv[1:5] == ["-m", "runbook.monitor", "run", "--target"] and "--write-probe" in argv
    args = _parser().parse_args(argv[3:])
    assert Settings(**{k: getattr(args, k) for k in Settings().as_dict()}) == chosen and args.env == 7


# --------------------------------------------------------------------------- wiring into the stages


def test_a_stage_session_starts_the_monitor_and_it_outlives_the_session(lab, no_stray) -> None:
    target = _target(lab)
    # stage1 refuses at once on a fresh journal (stage0 not done): the session is short,
    # but the monitor starts before any stage acts.
    session = run_stage_session(lab)
    assert session.returncode != 0 and "needs stage0_preflight" in session.stdout, session.stdout[-2000:]
    status = monitor.status(target)
    assert status.running and monitor_pids(lab) == [status.pid], "the monitor did not outlive the session"
    assert records(target, "start"), "no record of the monitor's start"
    assert "stopped" in monitor.stop(target) and monitor_pids(lab) == []

    for option in ("--validate-only", "--no-monitor"):
        run_stage_session(lab, option)
        assert monitor_pids(lab) == [] and not monitor.status(target).running, f"{option} started a monitor"


# --------------------------------------------------------------------------- what it measures


def test_a_vm_outage_is_measured_and_tied_to_the_running_step(lab, no_stray) -> None:
    target = _target(lab)
    servers = write_baseline(lab)
    vm = servers[0]
    fip = next(a[1] for a in vm["addresses"] if a[2] == "floating")
    monitor.start(target)
    wait_all_up(target, len(servers))
    journal = Journal.open(target.journal_dir, target.env)
    ledger_before = lab.inspect()["vm_outage_s"][vm["id"]]  # a restore's blip may be in it already
    with journal.stage(STAGE) as stage, stage.step("guest destroyed"):
        time.sleep(0.5)  # the monitor re-reads the journal at most once per probe interval
        lab.run(vm["host"], f"virsh destroy {vm['id']}")
        time.sleep(1.5)
        lab.run(vm["host"], f"virsh start {vm['id']}")
        wait_for(lambda: answers(fip, target.vm_probe_port), "the guest to answer again", timeout=10)
        time.sleep(0.5)  # the monitor sees it back while the step still runs
    assert "stopped" in monitor.stop(target)

    found = monitor.compute_figures(monitor.paths(target))
    row = found["vms"][vm["id"]]
    assert (row["outages"], list(row["by_stage"])) == (1, [STAGE]), row
    outage = next(o for o in found["vm_outages"] if o["id"] == vm["id"])
    assert (outage["stage"], outage["step"], outage["why"], outage["open"]) == \
        (STAGE, "guest destroyed", "refused", False), outage
    # the lab's own account of this outage, in wall seconds
    ledger = (lab.inspect()["vm_outage_s"][vm["id"]] - ledger_before) * time_factor(lab)
    assert abs(outage["seconds"] - ledger) <= 0.4, (outage["seconds"], ledger)
    assert row["max_s"] == row["total_s"] == outage["seconds"] and row["by_stage"][STAGE]["outages"] == 1
    others = {v: r["outages"] for v, r in found["vms"].items() if v != vm["id"]}
    assert len(others) == len(servers) - 1 and set(others.values()) == {0}, others


def test_api_reads_fail_while_haproxy_is_stopped(lab, no_stray) -> None:
    target = _target(lab)
    servers = write_baseline(lab)
    vip = api_url(lab)
    monitor.start(target, settings=FAST)
    wait_all_up(target, len(servers))
    journal = Journal.open(target.journal_dir, target.env)
    with journal.stage(STAGE) as stage, stage.step("haproxy stopped"):
        time.sleep(0.5)
        lab.run("node-1", "crm resource stop clone_p_haproxy")
        wait_for(lambda: not http_answers(vip), "the VIP to stop answering", timeout=10)
        down = time.monotonic()
        time.sleep(1.5)
        lab.run("node-1", "crm resource start clone_p_haproxy")
        wait_for(lambda: http_answers(vip), "the VIP to answer again", timeout=10)
        up = time.monotonic()
        wait_for(lambda: records(target, "api")[-1]["up"], "the monitor to read again", timeout=10)
    monitor.stop(target)

    found = monitor.compute_figures(monitor.paths(target))
    reads = found["api_read"]
    during = reads["by_stage"][STAGE]
    assert during["gaps"] == 1 and 0 < during["availability_pct"] < 100, during
    assert abs(during["longest_gap_s"] - (up - down)) <= 0.6, (during, up - down)
    assert reads["gaps"][0]["step"] == "haproxy stopped" and reads["gaps"][0]["why"] == "ConnectFailure"
    assert reads["by_stage"][attribution.IDLE]["availability_pct"] == 100.0, reads
    assert reads[figures.ALL]["probes"] == sum(r["probes"] for r in reads["by_stage"].values())
    assert all(vm["outages"] == 0 for vm in found["vms"].values()), "HAProxy carries no tenant traffic"


def test_read_only_maintenance_is_a_write_outage_window_and_leaves_no_key_pair(lab, no_stray) -> None:
    target = _target(lab)
    servers = write_baseline(lab)
    monitor.start(target, settings=Settings(api_interval=0.25, write_probe=True))
    wait_all_up(target, len(servers))
    wait_for(lambda: any(e["k"] == "write" and e["up"] for e in records(target, "api")), "a write", timeout=10)
    ctx = make_ctx(lab.dir)
    journal = Journal.open(target.journal_dir, target.env)
    with journal.stage(STAGE) as stage:
        with stage.step("read-only"):
            time.sleep(0.5)
            for node in CONTROLLERS:
                haproxy.set_mode(ctx.pool, node, "read-only")
            haproxy.restart(ctx.pool, CONTROLLERS[0])
            wait_for(lambda: not records(target, "api")[-1]["up"], "a refused write", timeout=10)
            time.sleep(1.0)
        with stage.step("normal"):
            for node in CONTROLLERS:
                haproxy.set_mode(ctx.pool, node, "normal")
            haproxy.restart(ctx.pool, CONTROLLERS[0])
            wait_for(lambda: records(target, "api")[-1]["up"], "a write again", timeout=10)
    ctx.pool.close()
    monitor.stop(target)

    found = monitor.compute_figures(monitor.paths(target))
    writes = found["api_write"]
    during = writes["by_stage"][STAGE]
    assert writes["probed"] and during["refused"] >= 4 and during["window_s"] >= 1.0, writes
    assert writes[figures.ALL]["window_s"] == during["window_s"] and writes[figures.ALL]["refused"] == during["refused"]
    assert [g["why"] for g in writes["gaps"]] == ["POST os-keypairs HTTP 503"], writes["gaps"]
    assert found["api_read"]["by_stage"][STAGE]["availability_pct"] == 100.0, "reads go on in read-only mode"
    left = [k.name for k in cloud.from_target(target).compute.keypairs() if k.name.startswith(KEYPAIR_PREFIX)]
    assert left == [], f"the write probe left key pairs behind: {left}"


# --------------------------------------------------------------------------- probes and inputs, no lab


def test_tcp_prober_tells_a_listener_from_a_closed_port() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    seen: dict[str, tuple[bool, str]] = {}
    prober = TcpProber(0.05, 1.0, lambda key, up, why, at: seen.setdefault(key, (up, why)))
    prober.set_endpoints({"open": ("127.0.0.1", listener.getsockname()[1]), "closed": ("127.0.0.1", closed_port)})
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        prober.poll(0.05)
    prober.close()
    listener.close()
    assert seen == {"open": (True, "connected"), "closed": (False, "refused")}


def test_running_step_and_vm_targets_read_the_runbooks_files() -> None:
    journal = {"stages": {"stage2_upgrade_env": {"status": "done", "steps": {"clone": {"status": "done"}}},
                          "stage3_upgrade_db": {"status": "running", "steps": {
                              "maintenance": {"status": "done"}, "dump": {"status": "running"}}}}}
    assert attribution.running_step(journal) == ("stage3_upgrade_db", "dump")
    journal["stages"]["stage3_upgrade_db"]["status"] = "failed"
    assert attribution.running_step(journal) == (None, None)
    baseline = {"cloud": {
        "servers": [{"id": "s1", "name": "web", "status": "ACTIVE", "addresses": [["net", "10.0.0.5", "fixed"]]},
                    {"id": "s2", "name": "db", "status": "SHUTOFF", "addresses": []},
                    {"id": "s3", "name": "old", "status": "ACTIVE",
                     "addresses": [["net", "10.0.0.7", "fixed"], ["net", "172.16.0.7", "floating"]]},
                    {"id": "s4", "name": "private", "status": "ACTIVE", "addresses": []}],
        "ports": [{"id": "p1", "device_id": "s1"}, {"id": "p2", "device_id": "s2"}],
        "floating_ips": [{"address": "172.16.0.5", "port_id": "p1"}, {"address": "172.16.0.6", "port_id": "p2"},
                         {"address": "172.16.0.9", "port_id": None}]}}
    found = attribution.vm_targets(baseline, 22)
    assert {k: (t.name, t.address, t.port) for k, t in found.items()} == {
        "s1": ("web", "172.16.0.5", 22), "s3": ("old", "172.16.0.7", 22)}
    assert (attribution.BASELINE_FILE, attribution.BASELINE_FACT) == (preflight.BASELINE_FILE,
                                                                      preflight.BASELINE_FACT)


def test_the_record_skips_a_line_cut_by_a_crash(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.jsonl")
    store.append("start", run="r")
    store.append("stop", why="x")
    store.close()
    with (tmp_path / "events.jsonl").open("a") as handle:
        handle.write('{"t": 1, "m": 1, "e": "vm", "id"')
    assert [e["e"] for e in read_events(tmp_path / "events.jsonl")] == ["start", "stop"]
    assert (tmp_path / "events.jsonl").stat().st_mode & 0o077 == 0


# --------------------------------------------------------------------------- the figures' arithmetic


def ev(m: float, kind: str, **fields: Any) -> dict[str, Any]:
    """A record at monotonic second `m` (wall = 1000 + m)."""
    return {"t": 1000.0 + m, "m": m, "e": kind, **fields}


def at(seg: int, stage: str | None, step: str | None) -> dict[str, Any]:
    return {"seg": seg, "stage": stage, "step": step}


S3, S5 = at(2, "stage3_upgrade_db", "dump"), at(3, "stage5_upgrade_control", "switch")
IDLE = at(1, None, None)
SYNTHETIC = [
    ev(0, "start", run="r1", settings={"write_probe": True}),
    ev(0, "ctx", **IDLE),
    ev(0.1, "targets", vms={"a": ["vm-a", "10.0.0.1", 22], "b": ["vm-b", "10.0.0.2", 22],
                            "c": ["vm-c", "10.0.0.3", 22]}),
    ev(0.2, "vm", id="a", up=True, why="connected", **IDLE),
    ev(0.2, "vm", id="b", up=False, why="refused", **IDLE),  # down from the first probe
    ev(0.2, "vm", id="c", up=True, why="connected", **IDLE),
    ev(1, "ctx", **S3),
    ev(1.5, "api", k="read", up=False, why="HTTP 503", **S3),
    ev(2, "vm", id="a", up=False, why="refused", **S3),
    ev(2.5, "vm", id="b", up=True, why="connected", **S3),
    ev(2.5, "api", k="read", up=True, why="HTTP 200", **S3),
    ev(3, "seg", seg=2, final=True, vm=[30, 2, 1002.0, 1002.25], read=[3, 1, 1001.5, 1001.5],
       write=[2, 2, 1001.2, 1001.8]),
    ev(3, "ctx", **S5),
    ev(3.5, "api", k="read", up=False, why="ConnectFailure", **S5),
    ev(3.75, "api", k="read", up=True, why="HTTP 200", **S5),
    ev(4.5, "vm", id="a", up=True, why="connected", **S5),  # began in stage3: counts there
    ev(5, "vm", id="a", up=False, why="timeout", **S5),
    ev(5.75, "vm", id="a", up=True, why="connected", **S5),
    ev(6, "vm", id="a", up=False, why="refused", **S5),  # still down at the stop
    ev(7, "seg", seg=1, final=True, read=[1, 0, None, None], write=[1, 0, None, None]),
    ev(7, "seg", seg=3, final=False, read=[5, 1, 1003.5, 1003.5], write=[0, 2, 1003.1, 1003.6]),
    ev(7, "seg", seg=3, final=True, read=[8, 2, 1003.5, 1003.6], write=[0, 3, 1003.1, 1004.9]),
    ev(7, "stop", why="signal SIGTERM"),
]


def test_vm_outages_count_for_the_stage_they_began_in() -> None:
    found = figures.compute(SYNTHETIC)
    a, b, c = (found["vms"][k] for k in "abc")
    assert (a["outages"], a["max_s"], a["total_s"]) == (3, 2.5, 4.25)
    assert a["by_stage"] == {"stage3_upgrade_db": {"outages": 1, "max_s": 2.5, "total_s": 2.5},
                             "stage5_upgrade_control": {"outages": 2, "max_s": 1.0, "total_s": 1.75}}
    assert (b["outages"], b["total_s"], list(b["by_stage"])) == (1, 2.3, [attribution.IDLE])
    assert (c["outages"], c["by_stage"]) == (0, {})
    last = [o for o in found["vm_outages"] if o["id"] == "a"][-1]
    assert last["open"] and last["closed"] == "still down when the monitor stopped" and last["seconds"] == 1.0
    first_b = next(o for o in found["vm_outages"] if o["id"] == "b")
    assert first_b["down_at_start"] and first_b["name"] == "vm-b" and first_b["start"].startswith("1970-01-01T00:16:40.2")
    assert found["stages"] == [attribution.IDLE, "stage3_upgrade_db", "stage5_upgrade_control"]


def test_api_read_availability_and_gaps_by_stage() -> None:
    reads = figures.compute(SYNTHETIC)["api_read"]
    assert reads["by_stage"]["stage3_upgrade_db"] == {"probes": 4, "answered": 3, "availability_pct": 75.0,
                                                      "gaps": 1, "longest_gap_s": 1.0}
    assert reads["by_stage"]["stage5_upgrade_control"] == {"probes": 10, "answered": 8, "availability_pct": 80.0,
                                                           "gaps": 1, "longest_gap_s": 0.25}
    assert reads[figures.ALL] == {"probes": 15, "answered": 12, "availability_pct": 80.0, "gaps": 2,
                                  "longest_gap_s": 1.0}


def test_api_write_window_runs_from_first_to_last_refusal() -> None:
    writes = figures.compute(SYNTHETIC)["api_write"]
    assert writes["probed"]
    s3, s5 = writes["by_stage"]["stage3_upgrade_db"], writes["by_stage"]["stage5_upgrade_control"]
    assert (s3["probes"], s3["refused"], s3["window_s"]) == (4, 2, 0.6)
    assert (s5["probes"], s5["refused"], s5["window_s"]) == (3, 3, 1.8)  # the final count wins over the tick's
    assert writes[figures.ALL]["window_s"] == 3.7 and writes[figures.ALL]["refused"] == 5
    assert writes[figures.ALL]["first_refusal"] == figures.iso(1001.2) and \
        writes[figures.ALL]["last_refusal"] == figures.iso(1004.9)


def test_runs_are_separate_and_a_crashed_or_running_one_ends_at_its_last_record_or_now() -> None:
    crashed = [ev(0, "start", run="r1", settings={}), ev(0, "ctx", **IDLE),
               ev(0, "targets", vms={"a": ["vm-a", "10.0.0.1", 22]}),
               ev(1, "vm", id="a", up=True, **IDLE), ev(15, "vm", id="a", up=False, why="refused", **IDLE),
               ev(20, "seg", seg=1, final=False, read=[9, 0, None, None])]  # killed: no stop record
    running = [ev(100, "start", run="r2", settings={}), ev(100, "ctx", **IDLE),
               ev(101, "vm", id="a", up=False, why="refused", **IDLE)]
    found = figures.compute(crashed + running, now=(1000.0 + 103.5, 103.5))
    assert [(o["seconds"], o["closed"]) for o in found["vm_outages"]] == [
        (5.0, "still down at the end of the record"), (2.5, "still down at the end of the record")]
    assert [r["run"] for r in found["runs"]] == ["r1", "r2"] and found["runs"][-1]["running"]
    assert found["api_write"]["probed"] is False and found["api_read"][figures.ALL]["probes"] == 9
    text = figures.render(found)
    assert "vm-a" in text and "not probed" in text and "2 run(s)" in text
    assert figures.compute([]) ["vms"] == {}


def test_report_writes_private_json_and_a_table(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "env-1" / "monitor")
    paths.folder.mkdir(parents=True)
    paths.events.write_text("".join(json.dumps(e) + "\n" for e in SYNTHETIC))
    target = Target(path=tmp_path / "target.yaml", name="t", fuel=None, ssh=None, clouds=None,  # type: ignore[arg-type]
                    env=1, journal_dir=tmp_path)
    found, text = monitor.report(target)
    assert json.loads(paths.figures.read_text()) == found and paths.figures.stat().st_mode & 0o077 == 0
    assert "stage3_upgrade_db" in text and "75.0" in text and "3.7" in text
