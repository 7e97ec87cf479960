"""runbook.journal: stage order, re-runs that skip done steps, one run at a time, atomic redacted files."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from runbook import redact
from runbook.config import load_target
from runbook.errors import JournalError, RemoteError
from runbook.journal import Journal
from runbook.lib.ssh import SSHPool


def test_stage_refused_until_its_predecessor_is_done(tmp_path):
    journal = Journal.open(tmp_path, 1)
    with pytest.raises(JournalError) as caught, \
            journal.stage("stage3_upgrade_db", requires=["stage0_preflight", "stage2_upgrade_env"]):
        pytest.fail("the body of a refused stage must not run")
    assert "needs stage0_preflight, which is pending for env 1" in str(caught.value)
    with journal.stage("stage0_preflight"):
        pass
    with pytest.raises(JournalError, match="needs stage2_upgrade_env, which is pending") as caught, \
            journal.stage("stage3_upgrade_db", requires=["stage0_preflight", "stage2_upgrade_env"]):
        pass
    assert caught.value.fix.startswith("run stage2_upgrade_env first")
    with pytest.raises(RuntimeError), journal.stage("stage2_upgrade_env", requires=["stage0_preflight"]):
        raise RuntimeError("deploy failed")
    with pytest.raises(JournalError, match="needs stage2_upgrade_env, which is failed"), \
            journal.stage("stage3_upgrade_db", requires=["stage2_upgrade_env"]):
        pass
    assert [row["stage"] for row in journal.status()] == ["stage0_preflight", "stage2_upgrade_env"]  # refusals leave no trace


def test_rerun_continues_without_repeating_done_steps(tmp_path):
    calls: list[str] = []

    def run_stage(journal: Journal, fail_at: str | None) -> None:
        with journal.stage("stage2_upgrade_env", {"env": 1}) as st:
            for name in ("clone", "assign", "deploy"):
                with st.step(name) as step:
                    if step.done:
                        continue
                    calls.append(name)
                    if name == fail_at:
                        raise RuntimeError(f"{name} failed")
                    step.result = {"seed": 2} if name == "clone" else name
                    step.evidence("output", f"{name} ok")

    with pytest.raises(RuntimeError, match="assign failed"):
        run_stage(Journal.open(tmp_path, 1), fail_at="assign")
    journal = Journal.open(tmp_path, 1)  # a new run: state comes from the file
    assert journal.stage_status("stage2_upgrade_env") == "failed"
    assert journal.status()[0]["error"] == "RuntimeError: assign failed"
    run_stage(journal, fail_at=None)
    assert calls == ["clone", "assign", "assign", "deploy"]  # clone ran once
    data = json.loads((tmp_path / "env-1" / "journal.json").read_text())
    stage = data["stages"]["stage2_upgrade_env"]
    assert stage["status"] == "done" and stage["inputs"] == {"env": 1}
    assert [s["status"] for s in stage["steps"].values()] == ["done", "done", "done"]
    assert stage["steps"]["clone"]["result"] == {"seed": 2}
    assert stage["steps"]["clone"]["evidence"][0]["text"] == "clone ok"
    # call(): the step's recorded result comes back without calling again.
    with journal.stage("stage2_upgrade_env", {"env": 1}) as st:
        assert st.call("clone", lambda: pytest.fail("done step called again")) == {"seed": 2}


def test_changed_inputs_after_a_done_step_are_refused(tmp_path):
    journal = Journal.open(tmp_path, 1)
    with pytest.raises(RuntimeError), journal.stage("stage2_upgrade_env", {"nodes": [10, 11, 12]}) as st:
        st.call("clone", lambda: 2)
        raise RuntimeError("stop")
    with pytest.raises(JournalError, match="was started with inputs"), \
            journal.stage("stage2_upgrade_env", {"nodes": [10, 11]}):
        pass
    journal.reset("stage2_upgrade_env")
    with journal.stage("stage2_upgrade_env", {"nodes": [10, 11]}) as st:
        assert st.call("clone", lambda: 3) == 3


HOLDER = textwrap.dedent("""
    import sys, time
    from runbook.journal import Journal
    journal = Journal.open(sys.argv[1], 1)
    with journal.stage("stage1_prepare"):
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_second_run_waits_then_refuses_while_another_holds_the_journal(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        journal = Journal.open(tmp_path, 1, lock_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(JournalError, match="another run holds the journal of env 1") as caught, \
                journal.stage("stage1_prepare"):
            pytest.fail("acted while another run held the journal")
        assert 0.5 <= time.monotonic() - started < 5
        assert "wait for the other run" in caught.value.fix
        with pytest.raises(JournalError, match="another run holds"):
            journal.fact("seed_env_id", 2)  # facts are written under the same lock
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with journal.stage("stage1_prepare"):  # the OS released the dead holder's lock
        pass
    assert journal.stage_status("stage1_prepare") == "done"


def test_a_waiting_run_proceeds_when_the_holder_finishes(tmp_path):
    first, second = Journal.open(tmp_path, 1), Journal.open(tmp_path, 1, lock_timeout=10)
    order: list[str] = []
    entered = threading.Event()

    def hold() -> None:
        with first.stage("stage0_preflight"):
            entered.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    with second.stage("stage1_prepare", requires=["stage0_preflight"]):
        order.append("second acts")  # it re-read the journal after the wait: stage0 is done
    thread.join(5)
    assert order == ["first done", "second acts"]


def test_facts_persist_and_a_missing_fact_names_the_fix(tmp_path):
    journal = Journal.open(tmp_path, 7)
    with pytest.raises(JournalError, match="has no fact 'seed_env_id'") as caught:
        journal.fact("seed_env_id")
    assert caught.value.fix == "run the stage that records it first"
    with journal.stage("stage2_upgrade_env"):
        journal.fact("seed_env_id", 8)  # inside a stage: the lock is re-entered, not waited for
    assert Journal.open(tmp_path, 7).fact("seed_env_id") == 8
    assert journal.fact_or("seed_env_id", 0) == 8 and journal.fact_or("ceph_fsid", "none") == "none"
    assert journal.fact_or("ceph_fsid") is None
    with pytest.raises(JournalError, match="belongs to env 7"):
        (tmp_path / "env-9").mkdir()
        (tmp_path / "env-9" / "journal.json").write_text((tmp_path / "env-7" / "journal.json").read_text())
        Journal.open(tmp_path, 9)


def test_secrets_never_reach_the_file_and_writes_are_atomic(tmp_path):
    redact.register("s3cr3t-journal-password")
    journal = Journal.open(tmp_path, 1)
    with pytest.raises(RuntimeError), journal.stage("stage3_upgrade_db", {"dsn": "mysql://root:s3cr3t-journal-password@db"}) as st:
        with st.step("dump") as step:
            step.evidence("command", "mysqldump -ps3cr3t-journal-password --all-databases")
            step.result = "ok"
        raise RuntimeError("restore refused for password s3cr3t-journal-password")
    path = tmp_path / "env-1" / "journal.json"
    text = path.read_text()
    assert "s3cr3t" not in text and text.count("***") == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["journal.json", "journal.lock"]  # no temp left
    table = journal.render_status()
    assert "stage3_upgrade_db" in table and "failed" in table and "1/1" in table


def test_stage_rerun_after_a_lab_fault_does_not_repeat_its_done_step(lab, tmp_path):
    """A stage acting on a node: step 1 edits a file, step 2 hits a failing command; the re-run
    after the fault is gone completes, and the file was edited once."""
    target = load_target(lab.dir / "target.yaml")
    lab.cli("fault", "add", "--node", "node-1", "--op", "uname", "--kind", "fail", "--times", "1")

    def stage(pool: SSHPool) -> None:
        with Journal.open(tmp_path, target.env).stage("stage1_prepare") as st:
            st.call("mark", pool.edit, "node-1", "/etc/hosts", lambda text: text + "# octane\n")
            st.call("kernel", lambda: pool.check("node-1", "uname -r").stdout.strip())

    with SSHPool(target) as pool:
        with pytest.raises(RemoteError, match="uname -r"):
            stage(pool)
        stage(pool)
        assert pool.read_text("node-1", "/etc/hosts").count("# octane") == 1
    journal = Journal.open(tmp_path, target.env)
    assert journal.stage_status("stage1_prepare") == "done"
    with journal.stage("stage1_prepare") as st:
        assert st.call("kernel", lambda: "again").startswith("3.13.0-")


def test_a_fan_outs_failures_become_one_error():
    """Pure logic: one node's own error passes as it is; several are named node by node."""
    from runbook.errors import OctaneError
    from runbook.procedure.context import raise_fan_out

    class StageError(OctaneError):
        pass

    raise_fan_out({}, "anything", StageError, "nothing to fix")  # no failure: no error
    own = RemoteError("node-2", "stop nova-api", 1, "stop: Unknown instance", "read the job's log on node-2")
    with pytest.raises(RemoteError) as caught:
        raise_fan_out({"node-2": own}, "stopping writers", StageError, "fix the nodes")
    assert caught.value is own
    with pytest.raises(StageError, match=r"stopping writers failed on node-1: timeout; node-2: .*exited 1") as caught:
        raise_fan_out({"node-2": own, "node-1": TimeoutError("timeout")}, "stopping writers", StageError,
                      "fix the nodes named")
    assert caught.value.fix == "fix the nodes named"
