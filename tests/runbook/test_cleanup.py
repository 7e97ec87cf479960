"""Stage 7's pure logic (runbook.procedure.cleanup, runbook.lib.ini.remove_options): no lab.

What counts as stale and when deleting it is refused, which computes still need the pin, which nova
services were not restarted, and how the seed is compared with the baseline (what the upgrade
changes by design is not drift; everything else is).
"""

from __future__ import annotations

import copy
from datetime import datetime

from runbook.lib import ini
from runbook.procedure import cleanup

SEED_HOSTS = {"node-4", "node-10"}


def service(id_: int, binary: str, host: str, state: str = "down") -> dict:
    return {"id": id_, "binary": binary, "host": host, "state": state, "status": "enabled"}


def agent(id_: str, binary: str, host: str, alive: bool = False) -> dict:
    return {"id": id_, "binary": binary, "host": host, "alive": alive}


# --------------------------------------------------------------------------- stale


def test_stale_is_a_host_that_is_not_a_node_of_the_seed() -> None:
    services = [service(1, "nova-conductor", "node-1"), service(2, "nova-conductor", "node-10", "up"),
                service(3, "nova-compute", "node-4", "up"), service(4, "nova-compute", "node-7.domain.tld")]
    agents = [agent("a", "neutron-l3-agent", "node-1.domain.tld"), agent("b", "neutron-l3-agent", "node-10", True),
              agent("c", "neutron-openvswitch-agent", "node-4.domain.tld", True)]
    found = cleanup.stale(services, agents, SEED_HOSTS)
    assert [s["id"] for s in found["services"]] == [1, 4]
    assert [a["id"] for a in found["agents"]] == ["a"]
    assert cleanup.stale_refusals(found, []) == []


def test_deleting_a_stale_service_that_hosts_vms_or_runs_is_refused() -> None:
    found = {"services": [service(4, "nova-compute", "node-7"), service(5, "nova-scheduler", "node-2", "up")],
             "agents": [agent("a", "neutron-dhcp-agent", "node-3", alive=True)]}
    problems = cleanup.stale_refusals(found, [{"id": "vm", "host": "node-7"}, {"id": "vm2", "host": "node-4"}])
    assert len(problems) == 3
    assert "nova-compute of node-7" in problems[0] and "hosts 1 VM(s)" in problems[0]
    assert "nova-scheduler of node-2" in problems[1] and "is up" in problems[1]
    assert "neutron-dhcp-agent of node-3" in problems[2] and "alive" in problems[2]


def test_a_compute_not_on_kilo_needs_the_pin() -> None:
    problems = cleanup.juno_computes({"node-4": "1:2015.1.0-7.0", "node-5": "1:2014.2.2-fuel6.1~mira19",
                                      "node-6": None})
    assert [p.split(":")[0] for p in problems] == ["node-5", "node-6"]
    assert "the RPC pin is what keeps it working" in problems[0] and "not installed" in problems[1]


def test_baseline_computes_and_osd_nodes_left_outside_the_seed() -> None:
    baseline = [{"hostname": "node-1", "roles": ["controller"]}, {"hostname": "node-4", "roles": ["compute"]},
                {"hostname": "node-7", "roles": ["ceph-osd"]}]
    assert cleanup.left_outside(baseline, [{"hostname": "node-4"}, {"hostname": "node-10"}]) == ["node-7"]


def test_a_service_not_started_since_the_recorded_time_was_not_restarted() -> None:
    before = {"node-4": {"nova-compute": "2015-11-02T18:21:03"},
              "node-10": {"nova-api": "2015-11-02T12:00:00", "nova-conductor": "2015-11-02T12:00:00"}}
    now = {"node-4": {"nova-compute": datetime(2015, 11, 2, 18, 21, 3)},
           "node-10": {"nova-api": datetime(2015, 11, 3, 1, 0, 0), "nova-conductor": None}}
    problems = cleanup.not_restarted(before, now)
    assert len(problems) == 2
    assert problems[0].startswith("node-10: nova-conductor does not run")
    assert problems[1].startswith("node-4: nova-compute runs since 2015-11-02 18:21:03, not restarted")


# --------------------------------------------------------------------------- the comparison with the baseline


BASELINE_CLOUD = {
    "servers": [{"id": "s1", "name": "vm", "status": "ACTIVE", "host": "node-4", "hypervisor_hostname": "node-4.d"}],
    "volumes": [{"id": "v1", "name": "data", "status": "in-use",
                 "attachments": [{"server_id": "s1", "device": "/dev/vdb", "host": "node-4"}]}],
    "ports": [{"id": "p1", "device_owner": "compute:nova", "device_id": "s1"},
              {"id": "p2", "device_owner": "network:dhcp", "device_id": "dhcp-orig"}],
    "compute_services": [{"id": 1, "binary": "nova-conductor", "host": "node-1"}],
    "images": [{"id": "i1", "name": "cirros"}],
}


def test_what_the_upgrade_changes_by_design_is_not_drift() -> None:
    now = copy.deepcopy(BASELINE_CLOUD)
    now["servers"][0].update(host="node-6", hypervisor_hostname="node-6.d")  # live-migrated by stage 6
    now["volumes"][0]["attachments"][0]["host"] = "node-6"
    now["ports"][1]["device_id"] = "dhcp-seed"  # the seed's DHCP agent
    now["compute_services"] = [{"id": 9, "binary": "nova-conductor", "host": "node-10"}]  # not compared
    now["images"].append({"id": "i2", "name": "created since"})  # tenants kept working
    assert cleanup.resource_drift(BASELINE_CLOUD, now) == []


def test_a_changed_or_lost_resource_is_drift() -> None:
    now = copy.deepcopy(BASELINE_CLOUD)
    now["servers"][0]["status"] = "SHUTOFF"
    now["volumes"][0]["attachments"] = []
    now["ports"][0]["device_id"] = "other"
    now["images"] = []
    drift = cleanup.resource_drift(BASELINE_CLOUD, now)
    assert drift[0] == "servers s1.status: 'ACTIVE' -> 'SHUTOFF'"
    assert drift[1].startswith("volumes v1.attachments")
    assert drift[2] == "images i1 (cirros): gone"
    assert drift[3] == "ports p1.device_id: 's1' -> 'other'"


BASELINE_FUEL = {
    "env": {"id": 1, "name": "prod", "status": "operational", "mode": "ha_compact", "release_id": 1,
            "net_provider": "neutron", "net_segment_type": "vlan"},
    "nodes": [{"hostname": "node-1", "roles": ["controller"]}, {"hostname": "node-4", "roles": ["compute"]}],
    "attributes": {"release": {"version": "2014.2.2-6.1"}, "common": {"debug": False, "gone_in_7": 1}},
    "network": {"networks": {"management": {"name": "management", "cidr": "10.0.0.0/24"}},
                "parameters": {"vlan_range": [1000, 1030], "gone_in_7": 1},
                "vips": {"public_vip": "172.16.0.2", "management_vip": "10.0.0.2"}},
}


def seed_fuel() -> dict:
    seed = copy.deepcopy(BASELINE_FUEL)
    seed["env"].update(id=2, name="prod-upgrade", release_id=2)
    seed["nodes"] = [{"hostname": "node-10", "roles": ["controller"]}, {"hostname": "node-4", "roles": ["compute"]}]
    seed["attributes"]["release"]["version"] = "2015.1.0-7.0"
    seed["attributes"]["common"].pop("gone_in_7")
    seed["attributes"]["new_in_7"] = {"x": 1}
    seed["network"]["parameters"].pop("gone_in_7")
    seed["network"]["parameters"]["new_in_7"] = True
    seed["network"]["networks"]["baremetal"] = {"name": "baremetal"}
    seed["network"]["vips"]["vrouter_vip"] = "10.0.0.3"
    return seed


def test_the_release_and_the_clone_change_settings_by_design() -> None:
    assert cleanup.settings_drift(BASELINE_FUEL, seed_fuel()) == []


def test_a_setting_network_vip_or_role_that_differs_is_drift() -> None:
    seed = seed_fuel()
    seed["env"]["mode"] = "multinode"
    seed["attributes"]["common"]["debug"] = True
    seed["network"]["networks"]["management"]["cidr"] = "10.9.0.0/24"
    seed["network"]["vips"].pop("public_vip")
    seed["nodes"].append({"hostname": "node-11", "roles": ["compute"]})
    drift = cleanup.settings_drift(BASELINE_FUEL, seed)
    assert drift == ["env mode: 'ha_compact' -> 'multinode'", "settings common.debug: False -> True",
                     "network management.cidr: '10.0.0.0/24' -> '10.9.0.0/24'",
                     "network vips public_vip: '172.16.0.2' -> None",
                     "roles: the baseline had {'compute': 1, 'controller': 1}, the seed has "
                     "{'compute': 2, 'controller': 1}"]


# --------------------------------------------------------------------------- nova.conf


def test_the_pin_goes_and_the_rest_of_nova_conf_stays() -> None:
    text = ("[DEFAULT]\n# keep me\nrabbit_hosts = 10.0.0.3:5673\n\n[upgrade_levels]\ncompute = juno\n\n"
            "[libvirt]\nimages_type = rbd\n")
    out = ini.remove_options(text, cleanup.PIN_OPTION)
    assert out == "[DEFAULT]\n# keep me\nrabbit_hosts = 10.0.0.3:5673\n\n[libvirt]\nimages_type = rbd\n"
    assert "upgrade_levels" not in ini.options(out)
    assert ini.remove_options(out, cleanup.PIN_OPTION) is out  # nothing to remove: the text as it was
    kept = ini.remove_options("[upgrade_levels]\ncompute = juno\nscheduler = juno\n", cleanup.PIN_OPTION)
    assert ini.options(kept) == {"upgrade_levels": {"scheduler": "juno"}}
