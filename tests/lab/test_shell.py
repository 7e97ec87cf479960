"""The nodes' shell through paramiko, as testinfra and the runbook reach it: POSIX sh
syntax, the file and text commands, stdin, SFTP, and injected faults."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import time

import pytest

CONTROLLER = "node-1"
COMPUTE = "node-4"


def run(lab, command: str, host: str = CONTROLLER, **kwargs) -> tuple[int, str, str]:
    return lab.run(host, command, **kwargs)


# --------------------------------------------------------------------------- syntax


def test_pipes_and_lists(shared_lab):
    assert run(shared_lab, "echo one two three | cut -d' ' -f2 | tr a-z A-Z") == (0, "TWO\n", "")
    assert run(shared_lab, "false && echo no || echo yes; echo $?") == (0, "yes\n0\n", "")
    assert run(shared_lab, "true; false")[0] == 1
    status, out, _ = run(shared_lab, "printf 'b\\na\\nb\\n' | sort | uniq -c | sort -rn | head -n1")
    assert (status, out.split()) == (0, ["2", "b"])


def test_quotes_variables_and_substitution(shared_lab):
    status, out, _ = run(shared_lab, """X='a  b'; echo "$X" '$X' \\$X ${X} "${UNSET:-dflt}" """)
    assert (status, out) == (0, "a  b $X $X a b dflt\n")
    assert run(shared_lab, "FOO=bar env | grep ^FOO=")[1] == "FOO=bar\n"
    assert run(shared_lab, "export Y=1; sh -c 'echo \"[$Y]\" $0'")[1] == "[1] sh\n"
    assert run(shared_lab, "echo $HOME $USER $(pwd) $((6 * 7)) `hostname`")[1] == \
        f"/root root /root 42 {CONTROLLER}\n"
    assert run(shared_lab, "cd /etc && pwd; cd; pwd; cd -")[1] == "/etc\n/root\n/etc\n"


def test_redirections(lab):
    script = ("echo first > /tmp/r; echo second >> /tmp/r; cat < /tmp/r; "
              "ls /nope 2>/dev/null; echo status=$?; ls /nope 2>&1 | grep -c 'No such'; "
              "cat /nope /tmp/r &> /tmp/both; wc -l < /tmp/both; echo err 1>&2")
    status, out, err = run(lab, script)
    assert status == 0
    assert out == "first\nsecond\nstatus=2\n1\n3\n"
    assert err == "err\n"


def test_double_dash_and_globs(shared_lab):
    status, out, _ = run(shared_lab, "ls -1 -q -- /etc/*release")
    assert (status, out) == (0, "/etc/fuel_release\n/etc/lsb-release\n/etc/os-release\n")
    assert run(shared_lab, "echo /etc/c?ph/*.con[f]")[1] == "/etc/ceph/ceph.conf\n"
    assert run(shared_lab, "echo /etc/*.nomatch '/etc/*'")[1] == "/etc/*.nomatch /etc/*\n"
    status, out, _ = run(shared_lab, "printf -- '-x\\ny\\n' | grep -c -- -x")
    assert (status, out) == (0, "1\n")


def test_pipefail_and_errexit(shared_lab):
    assert run(shared_lab, "false | true; echo $?")[1] == "0\n"
    assert run(shared_lab, "set -o pipefail; false | true; echo $?")[1] == "1\n"
    assert run(shared_lab, "bash -o pipefail -c 'cat /nope | gzip > /dev/null'")[0] == 1
    assert run(shared_lab, "set -e; false; echo not reached") == (1, "", "")
    assert run(shared_lab, "set -e; false || true; if false; then :; fi; echo reached")[1] == "reached\n"


def test_unknown_commands_and_command_v(shared_lab):
    status, out, err = run(shared_lab, "frobnicate --now")
    assert (status, out) == (127, "") and "frobnicate: command not found" in err
    assert run(shared_lab, "/usr/bin/nope")[0] == 127
    assert run(shared_lab, "command -v ip; command -v cd; command -v mysql") == \
        (0, "/sbin/ip\ncd\n/usr/bin/mysql\n", "")
    # mysql is installed on controllers only: a compute answers like a real node
    assert run(shared_lab, "command -v mysql", host=COMPUTE) == (1, "", "")
    assert run(shared_lab, "mysql -e 'select 1'", host=COMPUTE)[0] == 127
    assert run(shared_lab, "type sh")[1] == "sh is /bin/sh\n"


def test_node_binaries_and_scripts(lab):
    script = ("mkdir -p /usr/local/bin; printf '#!/bin/sh\\necho \"hello $1\"\\nexit 3\\n' > /usr/local/bin/greet; "
              "chmod 755 /usr/local/bin/greet; greet lab; echo status=$?; "
              "printf '#!fuellab-binary\\n' > /usr/local/bin/frob; chmod +x /usr/local/bin/frob; frob")
    status, out, err = run(lab, script)
    assert out == "hello lab\nstatus=3\n"
    assert status == 1 and "frob is installed but not simulated" in err


def test_heredocs_loops_functions_and_read(shared_lab):
    script = (
        "cat <<END | tr a-z A-Z\nhome=$HOME\nEND\n"
        'for i in 1 2; do echo -n "$i "; done; echo\n'
        "n=0; while [ $n -lt 3 ]; do n=$((n + 1)); done; echo n=$n\n"
        'greet() { echo "hi $1 ($#)"; return 3; }; greet you "x y"; echo rc=$?\n'
        "case node-1 in node-*) echo matched;; *) echo no;; esac\n"
        "printf 'a 1\\nb 2\\n' | while read key value; do echo \"$value=$key\"; done\n"
    )
    assert run(shared_lab, script) == (
        0, "HOME=/ROOT\n1 2 \nn=3\nhi you (2)\nrc=3\nmatched\n1=a\n2=b\n", "")


# --------------------------------------------------------------------------- commands


def test_test_and_stat_as_testinfra_asks(shared_lab):
    assert run(shared_lab, "test -d /etc/init && test -f /etc/os-release && test ! -e /nope")[0] == 0
    assert run(shared_lab, "[ -s /etc/hostname -a 3 -gt 2 ] && [ x != y ]")[0] == 0
    assert run(shared_lab, "stat -Lc '%U|%a|%G|%F|%s' /etc/hostname")[1] == \
        f"root|644|root|regular file|{len(CONTROLLER) + 1}\n"
    assert run(shared_lab, "grep -qs '^start on' /etc/init/nova-api.conf")[0] == 0
    assert run(shared_lab, "grep -qs x /etc/nope")[0] == 2
    assert run(shared_lab, "grep -q nomatch /etc/hostname")[0] == 1


def test_sed_in_place_edits_a_config(lab):
    status, _, err = run(lab, "sed -i -e 's/^host = .*/host = node-1.domain.tld/' "
                              "-e '/^\\[DEFAULT\\]/a\\\ndebug = True' /etc/nova/nova.conf")
    assert status == 0, err
    status, out, _ = run(lab, "head -n3 /etc/nova/nova.conf; stat -c %a /etc/nova/nova.conf; "
                              "grep -c '^host = node-1$' /etc/nova/nova.conf")
    assert out.splitlines() == ["[DEFAULT]", "debug = True", "host = node-1.domain.tld", "640", "0"]
    assert status == 1  # grep -c found nothing


def test_tar_gzip_round_trip_of_etc_ceph(lab):
    status, before, _ = run(lab, "md5sum /etc/ceph/*")
    assert status == 0 and "/etc/ceph/ceph.conf" in before
    status, _, err = run(lab, "tar czf /root/ceph.tgz -C / etc/ceph && rm -rf /etc/ceph && "
                              "test ! -e /etc/ceph && tar xzf /root/ceph.tgz -C /")
    assert status == 0, err
    assert run(lab, "md5sum /etc/ceph/*")[1] == before
    # the same through pipes and stdout, listed by a second tar
    status, out, err = run(lab, "set -o pipefail; tar cf - /etc/ceph | gzip > /tmp/c.gz && "
                                "zcat /tmp/c.gz | tar tf -")
    names = [line.split()[1].lstrip("/") for line in before.splitlines()]
    assert (status, out.splitlines()) == (0, ["etc/ceph/", *sorted(names)])
    assert "Removing leading `/' from member names" in err


def test_stdin_is_piped_through(lab):
    assert run(lab, "cat", stdin=b"hello\nworld\n") == (0, "hello\nworld\n", "")
    payload = b"line\n" * 1000
    status, out, _ = run(lab, "zcat | wc -l", stdin=gzip.compress(payload))
    assert (status, out.strip()) == (0, "1000")
    status, out, _ = run(lab, "cat > /tmp/in && md5sum < /tmp/in", stdin=payload)
    assert out == f"{hashlib.md5(payload).hexdigest()}  -\n"


def test_sftp_put_then_md5sum_agrees(lab, tmp_path):
    data = os.urandom(200_000)
    local = tmp_path / "blob"
    local.write_bytes(data)
    client = lab.ssh(CONTROLLER)
    try:
        sftp = client.open_sftp()
        sftp.put(str(local), "/root/blob")
        sftp.close()
    finally:
        client.close()
    status, out, _ = run(lab, "md5sum /root/blob | cut -d' ' -f1")
    assert (status, out.strip()) == (0, hashlib.md5(data).hexdigest())


def test_sleep_runs_in_lab_time(shared_lab):
    start = time.monotonic()
    assert run(shared_lab, "sleep 30 && echo woke")[1] == "woke\n"
    assert time.monotonic() - start < 5  # 30 lab seconds are 30 ms at the default factor


# --------------------------------------------------------------------------- faults


def test_fail_fault_makes_the_command_fail(lab):
    lab.cli("fault", "add", "--node", CONTROLLER, "--op", "md5sum", "--kind", "fail",
            "--times", "1", "--message", "disk read error")
    status, out, err = run(lab, "md5sum /etc/hostname")
    assert (status, out) == (1, "") and "disk read error" in err
    assert run(lab, "md5sum /etc/hostname")[0] == 0  # consumed


def test_fail_fault_on_a_command_line_glob_spares_other_calls_of_the_command(lab):
    lab.cli("fault", "add", "--node", CONTROLLER, "--op", "md5sum *hostname*", "--kind", "fail", "--times", "1")
    assert run(lab, "md5sum /etc/hosts")[0] == 0  # the same command, another line: not hit
    status, _, err = run(lab, "md5sum /etc/hostname")
    assert status == 1 and "injected fail" in err
    assert run(lab, "md5sum /etc/hostname")[0] == 0  # consumed


def test_hang_fault_times_out_and_the_lab_still_serves(lab):
    lab.cli("fault", "add", "--node", CONTROLLER, "--op", "cat", "--kind", "hang", "--times", "1")
    with pytest.raises(socket.timeout):
        run(lab, "cat /etc/hostname", timeout=1.0)
    assert run(lab, "cat /etc/hostname") == (0, f"{CONTROLLER}\n", "")


def test_chown_records_owners_that_tar_keeps_and_restore_drops(lab):
    script = ("chown -R nova:nova /etc/nova && stat -c '%U:%G %u' /etc/nova/nova.conf && "
              "tar czf /root/n.tgz -C /etc nova && tar tvzf /root/n.tgz | head -n1 | cut -d' ' -f2")
    assert run(lab, script) == (0, "nova:nova 108\nnova/nova\n", "")
    status, _, err = run(lab, "chown nobody-here /etc/hostname")
    assert status == 1 and "invalid user" in err
    # an account the node lacks: nova is not installed on a ceph-osd node
    assert run(lab, "chown nova /etc/hostname", host="node-7")[0] == 1
    lab.restore("pristine")
    assert run(lab, "stat -c %U:%G /etc/nova/nova.conf")[1] == "root:root\n"


def test_links_stay_inside_the_node(lab):
    script = ("ln -s ../../../../../../../../etc/hostname /tmp/up && cat /tmp/up && "
              "ln -s /etc/hostname /root/abs && readlink /root/abs && readlink -f /tmp/up")
    assert run(lab, script) == (0, f"{CONTROLLER}\n/etc/hostname\n/etc/hostname\n", "")


def test_mount_points_of_data_disks(lab):
    osd = "node-7"
    status, out, _ = run(lab, "ls /var/lib/ceph/osd", host=osd)
    osds = out.split()
    assert status == 0 and len(osds) == 2 and all(name.startswith("ceph-") for name in osds)
    assert run(lab, f"cat /var/lib/ceph/osd/{osds[0]}/whoami", host=osd)[1] == f"{osds[0][5:]}\n"
    status, _, err = run(lab, f"rm -rf /var/lib/ceph/osd/{osds[0]}", host=osd)
    assert status == 1 and "Device or resource busy" in err
    assert run(lab, f"ls -A /var/lib/ceph/osd/{osds[0]}", host=osd) == (0, "", "")  # emptied
