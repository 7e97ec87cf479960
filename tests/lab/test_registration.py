"""Running services register themselves in their env's database.

A seed controller whose databases were replaced by the original's dump gets
its own L3 agent and nova services back once `db sync` gave the schema its
release expects; a controller cut from its env's database registers nothing
until it reaches it again; a stopped job keeps its row, shown dead/down.
"""

from __future__ import annotations

import time

import pytest

from tests.lab.cloudkit import connect, db_rows, wait_for
from tests.lab.seedkit import SEED_HOST, dump, isolated_seed, ok, restore, switch_control, sync

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

# Longer than the registration pass's period (fuellab.registration.INTERVAL) with margin.
SETTLE = 2.5
CONDUCTOR_ROW = "SELECT host FROM services WHERE `binary` = 'nova-conductor' AND host = 'node-3' AND deleted = 0"


def _l3_hosts(lab, sid: int) -> set[str]:
    return {h for (h,) in db_rows(lab, "neutron", "SELECT host FROM agents WHERE agent_type = 'L3 agent'",
                                  env=sid)}


def _seed_agents(conn) -> dict[str, bool]:
    return {a.agent_type: a.is_alive for a in conn.network.agents() if a.host == SEED_HOST}


def _seed_conductor(conn) -> str | None:
    return next((s.state for s in conn.compute.services()
                 if s.host == SEED_HOST and s.binary == "nova-conductor"), None)


def test_seed_registers_its_own_rows_after_restore_and_sync(lab):
    sid = isolated_seed(lab)
    assert SEED_HOST in _l3_hosts(lab, sid)  # the fresh seed's own rows...
    dump(lab)
    restore(lab)
    # ...replaced by the original's: a Juno schema under Kilo code, so nothing registers yet.
    time.sleep(SETTLE)
    assert _l3_hosts(lab, sid) == {"node-1", "node-2", "node-3"}
    sync(lab)
    wait_for(lambda: SEED_HOST in _l3_hosts(lab, sid), "the seed's L3 agent row")
    switch_control(lab)  # the seed answers the VIPs: its cloud in clouds.yaml reaches it

    conn = connect(lab, f"env-{sid}")
    agents = wait_for(lambda: _seed_agents(conn), "the seed's agents in the neutron API")
    assert agents.get("L3 agent") is True
    assert {"Open vSwitch agent", "DHCP agent", "Metadata agent"} <= set(agents)
    assert _seed_conductor(conn) == "up"

    # Stopping the job keeps the row, as upstream: the service shows down.
    ok(lab, SEED_HOST, "stop nova-conductor")
    assert _seed_conductor(connect(lab, f"env-{sid}")) == "down"
    time.sleep(SETTLE)
    assert _seed_conductor(connect(lab, f"env-{sid}")) == "down"


def test_a_controller_cut_from_its_database_does_not_register(lab):
    assert db_rows(lab, "nova", CONDUCTOR_ROW)
    # A deleted row comes back while the conductor runs and reaches the database.
    ok(lab, "node-1", "mysql -e \"DELETE FROM nova.services WHERE host = 'node-3' "
                      "AND \\`binary\\` = 'nova-conductor'\"")
    wait_for(lambda: db_rows(lab, "nova", CONDUCTOR_ROW), "node-3's conductor re-registered")

    # node-3 off the management wire: its conductor still runs but reaches no database.
    ok(lab, "node-3", "ovs-vsctl del-port br-mgmt br-mgmt--br-eth2")
    ok(lab, "node-1", "mysql -e \"DELETE FROM nova.services WHERE host = 'node-3' "
                      "AND \\`binary\\` = 'nova-conductor'\"")
    assert "nova-conductor start/running" in ok(lab, "node-3", "status nova-conductor")
    time.sleep(SETTLE)
    assert db_rows(lab, "nova", CONDUCTOR_ROW) == []

    # Its patch port back on br-mgmt (the peer on br-eth2 stayed).
    ok(lab, "node-3", "ovs-vsctl add-port br-mgmt br-mgmt--br-eth2 -- set interface br-mgmt--br-eth2 "
                      "type=patch options:peer=br-eth2--br-mgmt")
    wait_for(lambda: db_rows(lab, "nova", CONDUCTOR_ROW), "node-3's conductor registered once reconnected")
