"""runbook.lib.cloud against the lab's env 1 APIs, through openstacksdk."""

from __future__ import annotations

import logging
import time

import pytest

from runbook.config import parse_target
from runbook.errors import CloudError, ConfigError, RemoteTimeout
from runbook.lib import cloud
from tests.labkit import LabHandle


def connect(lab: LabHandle, timeout: float = 10.0):
    return cloud.from_target(parse_target(lab.dir / "target.yaml"), timeout=timeout)


@pytest.fixture(scope="module")
def baseline(session_lab: LabHandle) -> dict[str, list[dict]]:
    """Every read helper's answer on the pristine env 1, read once for the module."""
    session_lab.restore("pristine")
    conn = connect(session_lab)
    return {name: read(conn) for name, read in cloud.BASELINE.items()}


def test_servers_volumes_networks_images_of_env1(baseline: dict[str, list[dict]],
                                                 shared_lab: LabHandle) -> None:
    servers = baseline["servers"]
    computes = {n["hostname"] for n in shared_lab.nodes_with_role("compute")}
    assert servers and all(s["status"] == "ACTIVE" and s["host"] in computes for s in servers)
    assert len({s["project_id"] for s in servers}) > 1  # every project's, not only admin's
    by_id = {s["id"]: s for s in servers}
    attached = [v for v in baseline["volumes"] if v["attachments"]]
    assert attached
    for volume in attached:
        for attachment in volume["attachments"]:
            # a volume's attachment names a server that lists the volume back, on its host
            assert volume["id"] in by_id[attachment["server_id"]]["volume_ids"]
            assert attachment["host"] == by_id[attachment["server_id"]]["host"]
    networks = {n["id"]: n for n in baseline["networks"]}
    assert any(n["external"] for n in networks.values())
    assert all(s["network_id"] in networks for s in baseline["subnets"])
    assert {i["name"] for i in baseline["images"]} >= {"TestVM"}
    floating = {f["address"] for f in baseline["floating_ips"]}
    assert any(a[1] in floating for s in servers for a in s["addresses"] if a[2] == "floating")


def test_baseline_helpers_return_sorted_plain_dicts(baseline: dict[str, list[dict]]) -> None:
    plain = (str, int, float, bool, type(None), list, dict)

    def is_plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(is_plain(v) for v in value)
        return type(value) in plain

    for name, rows in baseline.items():
        assert rows, f"{name} read nothing"
        ids = [r["id"] for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), name
        assert all(type(r) is dict and is_plain(r) for r in rows), name
    assert {r["id"] for r in baseline["quotas"]} == {p["id"] for p in baseline["projects"]}
    assert all(q["compute"].get("instances") and q["network"] and q["volume"] for q in baseline["quotas"])
    assert all(s["project_id"] for s in baseline["stacks"])
    assert {s["binary"] for s in baseline["compute_services"]} >= {"nova-compute", "nova-scheduler"}
    assert {s["host"] for s in baseline["servers"]} <= {h["name"].split(".")[0] for h in baseline["hypervisors"]}


def test_a_second_read_is_equal(baseline: dict[str, list[dict]], shared_lab: LabHandle) -> None:
    """What makes a baseline comparable: the same world reads the same, field for field."""
    conn = connect(shared_lab)
    for name in ("servers", "volumes", "ports", "security_groups", "users", "flavors"):
        assert cloud.BASELINE[name](conn) == baseline[name], name


def test_hanging_api_raises_remote_timeout(lab: LabHandle) -> None:
    conn = connect(lab, timeout=1.0)
    assert cloud.projects(conn)  # authenticated before the API hangs
    lab.cli("fault", "add", "--node", "*", "--op", "GET /v2*", "--kind", "hang")
    start = time.monotonic()
    with pytest.raises(RemoteTimeout, match="cloud env-1: GET servers/detail.* no answer within 1"):
        cloud.servers(conn)
    assert time.monotonic() - start < 15


def test_errors_name_the_cloud_and_keep_the_password_out(shared_lab: LabHandle, tmp_path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    target = parse_target(shared_lab.dir / "target.yaml")
    with pytest.raises(ConfigError, match="no usable cloud 'env-42'"):
        cloud.connect(target.clouds.file, "env-42")
    with pytest.raises(ConfigError, match="does not exist"):
        cloud.connect(tmp_path / "missing.yaml", "env-1")
    conn = cloud.connect(target.clouds.file, "env-1")
    secret = conn.config.auth["password"]
    with pytest.raises(CloudError, match="cloud env-1: .*HTTP 404") as caught:
        cloud.call(conn, "GET servers/nosuch", lambda: conn.compute.get_server("nosuch"))
    assert caught.value.fix
    assert secret not in str(caught.value)
    assert "/v3/auth/tokens" in caplog.text and secret not in caplog.text


def test_a_body_that_is_not_json_is_a_cloud_error() -> None:
    """Pure mapping (no lab): openstacksdk hands a non-JSON body (an HAProxy error page) to
    requests' decoder, whose error must reach the operator as a CloudError with a fix."""
    from types import SimpleNamespace

    import requests

    conn = SimpleNamespace(config=SimpleNamespace(name="env-1"))

    def read() -> None:
        raise requests.exceptions.JSONDecodeError("Expecting value", "<html>503</html>", 0)

    with pytest.raises(CloudError, match="cloud env-1: GET servers: the API answered with a body that is not JSON") \
            as caught:
        cloud.call(conn, "GET servers", read)
    assert "haproxy" in caught.value.fix
