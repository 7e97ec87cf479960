"""The HAProxy model: what a configuration means, and when a node's HAProxy (re)reads it."""

from __future__ import annotations

import time

import pytest
import requests

from fuellab.openstack import haproxy

MAIN = "global\n  daemon\n\ndefaults\n  mode http\n\ninclude conf.d/*.cfg\n"
LISTEN = ("listen nova-api-2\n  bind 127.22.0.2:8774\n  bind 127.21.0.2:8774\n  option httplog\n"
          "  server node-1 127.21.0.10:8774 check inter 10s\n  server node-2 127.21.0.11:8774 check inter 10s\n")


def config(extra_main: str = "", extra_listen: str = "") -> haproxy.Config:
    return haproxy.parse([("/etc/haproxy/haproxy.cfg", MAIN + extra_main),
                          ("/etc/haproxy/conf.d/8774-nova-api-2.cfg", LISTEN + extra_listen)])


def decide(cfg: haproxy.Config, method: str, path: str = "/v2.1/servers") -> haproxy.Deny | haproxy.Forward:
    frontend = cfg.frontend_for("127.22.0.2", 8774)
    assert frontend is not None
    return haproxy.decide(cfg, frontend, method, path, path)


def test_a_listen_forwards_to_its_servers():
    cfg = config()
    found = decide(cfg, "POST")
    assert isinstance(found, haproxy.Forward)
    assert [(s.host, s.port) for s in found.servers] == [("127.21.0.10", 8774), ("127.21.0.11", 8774)]
    assert cfg.frontend_for("127.21.0.2", 8774) is not None
    assert cfg.frontend_for("127.22.0.3", 8774) is None and cfg.frontend_for("127.22.0.2", 9696) is None


def test_maintenance_as_the_original_tooling_wrote_it():
    cfg = config("\nbackend maintenance\n", "  use_backend maintenance if TRUE\n")
    assert decide(cfg, "GET") == haproxy.Deny(503) and decide(cfg, "POST") == haproxy.Deny(503)


@pytest.mark.parametrize("rule", [
    "  use_backend maintenance if !METH_GET",
    "  http-request deny deny_status 503 if !METH_GET",
    "  acl read method GET HEAD\n  http-request deny deny_status 503 unless read",
    "  http-request deny deny_status 503 if !{ method GET HEAD }",
])
def test_read_only_rules(rule):
    cfg = config("\nbackend maintenance\n", rule + "\n")
    for method in ("GET", "HEAD"):
        assert isinstance(decide(cfg, method), haproxy.Forward), (rule, method)
    for method in ("POST", "PUT", "DELETE"):
        assert decide(cfg, method) == haproxy.Deny(503), (rule, method)


def test_a_plain_deny_answers_403_as_haproxy_does_and_rules_combine():
    cfg = config(extra_listen="  acl auth path_beg /v3/auth\n  http-request allow if auth\n"
                              "  http-request deny if !METH_GET\n")
    assert decide(cfg, "POST") == haproxy.Deny(403)
    assert isinstance(decide(cfg, "POST", "/v3/auth/tokens"), haproxy.Forward)
    assert isinstance(decide(cfg, "GET"), haproxy.Forward)
    either = config(extra_listen="  http-request deny deny_status 503 if METH_POST or METH_PUT\n")
    assert decide(either, "PUT") == haproxy.Deny(503) and isinstance(decide(either, "DELETE"), haproxy.Forward)


def test_disabled_servers_and_empty_backends_answer_503():
    cfg = haproxy.parse([("/etc/haproxy/haproxy.cfg", "frontend api\n  bind *:8774\n  default_backend api\n"
                          "backend api\n  server node-1 127.21.0.10:8774 disabled\n")])
    frontend = cfg.frontend_for("127.22.0.9", 8774)
    assert frontend is not None and haproxy.decide(cfg, frontend, "GET", "/", "/") == haproxy.Deny(503)


@pytest.mark.parametrize("main, listen, alert", [
    (MAIN, "  use_backend maintenance if TRUE\n", "unable to find required use_backend: 'maintenance'"),
    (MAIN + "backend maintenance\n", "  use_backend maintenance if METH_FROB\n", "no such ACL : 'METH_FROB'"),
    (MAIN, "  acl x frobnicate 1\n", "unknown fetch method 'frobnicate'"),
    (MAIN, "  use_backend nova-api-2 when TRUE\n", "expects 'if' or 'unless'"),
    (MAIN + "listen nova-api-2\n", "", "has the same name"),
])
def test_configurations_haproxy_refuses(main, listen, alert):
    with pytest.raises(haproxy.ConfigError, match=alert):
        haproxy.parse([("/etc/haproxy/haproxy.cfg", main),
                       ("/etc/haproxy/conf.d/8774-nova-api-2.cfg", LISTEN + listen)])


def test_comments_quotes_and_section_binds():
    cfg = haproxy.parse([("/etc/haproxy/haproxy.cfg",
                          "listen heat 127.22.0.2:8004,127.21.0.2:8004  # heat-api\n"
                          "  server 'node-1' 127.21.0.10:8004 # first\n  # use_backend nowhere if TRUE\n")])
    assert cfg.frontend_for("127.21.0.2", 8004) is not None
    frontend = cfg.frontend_for("127.22.0.2", 8004)
    assert haproxy.decide(cfg, frontend, "GET", "/", "/") == haproxy.Forward(
        "heat", (haproxy.Server("node-1", "127.21.0.10", 8004),))


# --------------------------------------------------------------------------- on a running lab


def _vip(lab) -> str:
    return next(c for c in lab.status()["clusters"] if c["id"] == 1)["vips"]["public"]


def _run(lab, host: str, command: str) -> None:
    status, out, err = lab.run(host, command)
    assert status == 0, f"{command}: {out}{err}"


def test_haproxy_reads_its_files_when_it_starts_again(lab):
    vip = _vip(lab)
    for host in ("node-1", "node-2", "node-3"):
        _run(lab, host, "echo 'backend maintenance' >> /etc/haproxy/haproxy.cfg")
        _run(lab, host, "echo '  use_backend maintenance if TRUE' >> /etc/haproxy/conf.d/9292-glance-api.cfg")
    assert requests.get(f"http://{vip}:9292/", timeout=10).status_code == 300
    # Stopped, then started by pacemaker: a new process reads the edited files.
    _run(lab, "node-1", "crm resource stop clone_p_haproxy")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{vip}:9292/", timeout=10)
        except requests.ConnectionError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the VIP still answered with HAProxy stopped")
    time.sleep(0.3)  # the lab notices the stopped process
    _run(lab, "node-1", "crm resource start clone_p_haproxy")
    assert requests.get(f"http://{vip}:9292/", timeout=10).status_code == 503
    assert requests.get(f"http://{vip}:9696/", timeout=10).status_code == 200
