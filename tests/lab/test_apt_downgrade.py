"""apt-get installs a named older version (a rollback's downgrade) only with --force-yes, as apt 1.0 does."""

from __future__ import annotations

from fuellab import releases

KILO_REPO = "deb http://10.20.0.2:8080/2015.1.0-7.0/ubuntu/x86_64 mos7.0 main"


def _ok(lab, host: str, command: str) -> str:
    status, out, err = lab.run(host, command)
    assert status == 0, f"{command} on {host}: {status}\n{out}{err}"
    return out


def _version(lab, host: str) -> str:
    return _ok(lab, host, "dpkg-query -f '${Version}' -W nova-compute")


def test_a_named_older_version_is_installed_only_with_force_yes(lab) -> None:
    compute = lab.nodes_with_role("compute")[0]["hostname"]
    juno = _version(lab, compute)
    kilo = {p.name: p.version for p in releases.spec(releases.KILO).roles["compute"]}["nova-compute"]
    _ok(lab, compute, f"echo '{KILO_REPO}' > /etc/apt/sources.list.d/mos7.list && apt-get install -y nova-compute")
    assert _version(lab, compute) == kilo
    # With both repositories the candidate stays Kilo's, but a named version is taken from either.
    status, out, err = lab.run(compute, f"apt-get install -y nova-compute={juno}")
    assert status == 100 and "DOWNGRADED" in out and "without --force-yes" in err
    assert _version(lab, compute) == kilo
    status, _, err = lab.run(compute, "apt-get install -y nova-compute=1:2013.1-nowhere")
    assert status == 100 and "Version '1:2013.1-nowhere' for 'nova-compute' was not found" in err
    out = _ok(lab, compute, f"rm /etc/apt/sources.list.d/mos7.list && apt-get update && "
                            f"apt-get install -y --force-yes nova-compute={juno}")
    assert "1 downgraded" in out and f"Setting up nova-compute ({juno})" in out
    assert _version(lab, compute) == juno
    assert "already the newest version" in _ok(lab, compute, "apt-get install -y nova-compute")
