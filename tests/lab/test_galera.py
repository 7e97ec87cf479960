"""The env's Galera over SSH: mysql, mysqldump, the *-manage tools, serving rules, read-only."""

from __future__ import annotations

import gzip
import re

from tests.lab.cloudkit import wait_for
from tests.lab.fuelhttp import sftp_read, sftp_write
from tests.lab.seedkit import (
    DUMP,
    JUNO,
    KILO,
    SERVICES,
    SYNC,
    copy_file,
    isolated_seed,
    ok,
    versions,
)


def service_password(lab, host: str, service: str) -> str:
    conf = sftp_read(lab, host, f"/etc/{service}/{service}.conf").decode()
    return re.search(r"connection = mysql://[^:]+:([^@]+)@", conf).group(1)


def _without_date(dump: str) -> str:
    return re.sub(r"^-- Dump completed on .*$", "", dump, flags=re.M)


# --------------------------------------------------------------------------- what a deployment leaves


def test_controllers_serve_the_six_databases_at_juno_numbers(shared_lab):
    names = ok(shared_lab, "node-1", "mysql -N -e 'SHOW DATABASES'").split()
    assert set(SERVICES) <= set(names) and "information_schema" in names
    assert versions(shared_lab, "node-2") == {**JUNO, "neutron": "juno"}
    assert ok(shared_lab, "node-3", "nova-manage db version").strip() == "254"
    assert ok(shared_lab, "node-3", "keystone-manage db_version").strip() == "55"
    assert ok(shared_lab, "node-1", "neutron-db-manage --config-file=/etc/neutron/neutron.conf current") \
        .strip() == "juno (head)"
    status = dict(line.split("\t") for line in
                  ok(shared_lab, "node-1", "mysql -N -B -e \"SHOW STATUS LIKE 'wsrep_%'\"").splitlines())
    assert status["wsrep_cluster_size"] == "3" and status["wsrep_cluster_status"] == "Primary"
    assert status["wsrep_local_state_comment"] == "Synced"
    status, _, err = shared_lab.run("node-4", "mysql -e 'SHOW DATABASES'")
    assert status == 127 and "command not found" in err  # a compute has no MySQL client


def test_rows_of_a_fresh_deployment(shared_lab):
    def count(sql: str) -> int:
        return int(ok(shared_lab, "node-1", f'mysql -N -B -e "{sql}"').strip())

    assert count("SELECT COUNT(*) FROM nova.instance_types") == 6
    assert count("SELECT COUNT(*) FROM nova.services WHERE \\`binary\\` = 'nova-compute'") == 3
    assert count("SELECT COUNT(*) FROM nova.compute_nodes") == 3
    assert count("SELECT COUNT(*) FROM neutron.agents WHERE agent_type = 'L3 agent'") == 3
    users = set(ok(shared_lab, "node-1", "mysql -N -e 'SELECT name FROM keystone.user'").split())
    assert {"admin", "nova", "neutron", "cinder", "glance", "heat"} <= users
    assert count("SELECT COUNT(*) FROM glance.images WHERE name = 'TestVM'") == 1
    out = ok(shared_lab, "node-1", "mysql keystone -e \"SELECT interface, url FROM endpoint e "
                                   "JOIN service s ON s.id = e.service_id WHERE s.type = 'identity'\"")
    lines = out.splitlines()
    assert lines[0] == "interface\turl"  # the batch client prints a header unless -N
    urls = dict(line.split("\t") for line in lines[1:])
    assert urls["public"].endswith(":5000/v2.0") and urls["admin"].endswith(":35357/v2.0")


def test_accounts_and_option_files(shared_lab):
    status, _, err = shared_lab.run("node-1", "mysql --no-defaults -e 'SELECT 1'")
    assert status == 1 and "ERROR 1045 (28000): Access denied for user 'root'@'localhost' " \
                           "(using password: NO)" in err
    password = service_password(shared_lab, "node-1", "nova")
    sftp_write(shared_lab, "node-1", "/root/nova.cnf", f"[client]\nuser=nova\npassword={password}\n".encode())
    out = ok(shared_lab, "node-1", "mysql --defaults-file=/root/nova.cnf -N -e 'SHOW DATABASES'")
    assert out.split() == ["information_schema", "nova"]
    status, _, err = shared_lab.run("node-1", "mysql --defaults-file=/root/nova.cnf -e 'USE keystone'")
    assert status == 1 and "ERROR 1044 (42000)" in err
    status, _, err = shared_lab.run("node-1", "mysql -u nova -pwrong -e 'SELECT 1'")
    assert status == 1 and "Warning: Using a password on the command line" in err and "ERROR 1045" in err
    status, _, err = shared_lab.run("node-1", "mysql --defaults-file=/root/none.cnf -e 'SELECT 1'")
    assert status == 1 and "Could not open required defaults file" in err
    status, _, err = shared_lab.run("node-1", "mysql -e 'SELECT * FROM nova.nope'")
    assert status == 1 and "ERROR 1146 (42S02) at line 1: Table 'nova.nope' doesn't exist" in err


# --------------------------------------------------------------------------- who serves


def test_a_stopped_or_cut_off_mysqld_refuses_clients(lab):
    ok(lab, "node-1", "crm resource stop clone_p_mysql")
    for host in ("node-1", "node-2"):
        status, _, err = lab.run(host, "mysql -e 'SHOW DATABASES'")
        assert status == 1 and err.startswith("ERROR 2002 (HY000): Can't connect to local MySQL server "
                                              "through socket '/var/run/mysqld/mysqld.sock' (111)"), err
    status, _, err = lab.run("node-1", "mysqldump --databases nova")
    assert status == 2 and "mysqldump: Got error: 2002" in err
    ok(lab, "node-1", "crm resource start clone_p_mysql")
    assert "nova" in ok(lab, "node-1", "mysql -N -e 'SHOW DATABASES'").split()
    # node-1 unplugged from management: a minority of one, its mysqld stops; the others go on.
    ok(lab, "node-1", "ovs-vsctl del-port br-mgmt br-mgmt--br-eth2")
    status, _, err = lab.run("node-1", "mysql -e 'SELECT 1'")
    assert status == 1 and "ERROR 2002" in err
    out = ok(lab, "node-2", "mysql -N -e \"SHOW STATUS LIKE 'wsrep_cluster_size'\"")
    assert out.split() == ["wsrep_cluster_size", "2"]


def test_read_only_refuses_service_writes_on_that_server(lab):
    password = service_password(lab, "node-1", "nova")
    for host in ("node-1", "node-2"):
        sftp_write(lab, host, "/root/nova.cnf", f"[client]\nuser=nova\npassword={password}\n".encode())
    insert = ("mysql --defaults-file=/root/nova.cnf nova -e \"INSERT INTO key_pairs (name, user_id, deleted) "
              "VALUES ('{0}', 'u1', 0)\"")
    ok(lab, "node-1", "mysql -e 'SET GLOBAL read_only = ON'")
    assert ok(lab, "node-1", "mysql -N -e 'SELECT @@global.read_only'").strip() == "1"
    status, _, err = lab.run("node-1", insert.format("k1"))
    assert status == 1 and "ERROR 1290 (HY000) at line 1: The MySQL server is running with the " \
                           "--read-only option so it cannot execute this statement" in err
    status, _, err = lab.run("node-1", "mysql --defaults-file=/root/nova.cnf -e 'SET GLOBAL read_only = OFF'")
    assert status == 1 and "SUPER privilege" in err
    ok(lab, "node-2", insert.format("k2"))  # read_only is per server, as in MySQL
    ok(lab, "node-1", "mysql nova -e \"INSERT INTO key_pairs (name, user_id, deleted) VALUES ('k3', 'u1', 0)\"")
    ok(lab, "node-1", "mysql -e 'SET GLOBAL read_only = OFF'")
    ok(lab, "node-1", insert.format("k4"))
    names = ok(lab, "node-3", "mysql -N -e \"SELECT name FROM nova.key_pairs WHERE user_id = 'u1' "
                              "ORDER BY name\"").split()
    assert names == ["k2", "k3", "k4"]  # one database for the whole cluster: node-3 sees every write


def test_read_only_does_not_survive_the_cluster_stack(lab):
    """A stopped (or killed) cluster stack takes mysqld with it; started again, it runs without the
    non-persistent read_only, as MySQL does: whoever froze it must set it again."""
    ok(lab, "node-1", "mysql -e 'SET GLOBAL read_only = ON'")
    ok(lab, "node-1", "pcs cluster kill")
    ok(lab, "node-1", "pcs cluster start")
    wait_for(lambda: lab.run("node-1", "mysql -N -e 'SELECT @@global.read_only'")[1].strip() == "0",
             "node-1's mysqld back without read_only")
    ok(lab, "node-2", "mysql -e 'SET GLOBAL read_only = ON'")
    ok(lab, "node-3", "pcs cluster stop")  # another node's stack: node-2's setting holds
    assert ok(lab, "node-2", "mysql -N -e 'SELECT @@global.read_only'").strip() == "1"


# --------------------------------------------------------------------------- dump, restore, sync


def test_dump_restores_on_the_seed_and_sync_migrates_it_to_kilo(lab):
    sid = isolated_seed(lab)
    assert versions(lab, "node-10") == {**KILO, "neutron": "kilo"}  # the seed's own fresh databases
    ok(lab, "node-1", DUMP)
    copy_file(lab, "node-1", "node-10", "/root/dump.gz")
    ok(lab, "node-10", "zcat /root/dump.gz | mysql")
    # Every table and row came across exactly: dumped again on the seed, it is the same dump.
    # (The original keeps changing meanwhile: its tenants' traffic still writes to it.)
    original = gzip.decompress(sftp_read(lab, "node-1", "/root/dump.gz")).decode()
    again = ok(lab, "node-10", DUMP.split("|")[0].split(";", 1)[1])
    assert _without_date(again) == _without_date(original)
    assert versions(lab, "node-10") == {**JUNO, "neutron": "juno"}
    tables = ("nova.instances", "nova.services", "keystone.endpoint", "glance.images", "neutron.ports",
              "cinder.volumes", "heat.stack")
    counts = {t: ok(lab, "node-10", f"mysql -N -e 'SELECT COUNT(*) FROM {t}'") for t in tables}
    bound = ok(lab, "node-10", "mysql -N -e \"SELECT COUNT(*) FROM neutron.ml2_port_bindings "
                               "WHERE host <> '' AND driver <> ''\"")
    attached = ok(lab, "node-10", "mysql -N -e \"SELECT COUNT(*) FROM cinder.volumes "
                                  "WHERE attach_status = 'attached'\"")
    # The writer behind the seed's VIP is read-only: the services' accounts cannot migrate.
    ok(lab, "node-10", "mysql -e 'SET GLOBAL read_only = ON'")
    status, out, err = lab.run("node-10", "nova-manage db sync")
    assert status == 1 and "Command failed" in out and "(1290," in err
    ok(lab, "node-10", "mysql -e 'SET GLOBAL read_only = OFF'")
    for cmd in SYNC:
        ok(lab, "node-10", cmd)
    assert versions(lab, "node-10") == {**KILO, "neutron": "kilo"}
    assert ok(lab, "node-10", "nova-manage db version").strip() == "280"
    assert ok(lab, "node-10", "neutron-db-manage --config-file /etc/neutron/neutron.conf current") \
        .strip() == "kilo (head)"
    # Kilo's schema changes are there, with the data they moved.
    assert "host" in ok(lab, "node-10", "mysql -N -e \"SHOW COLUMNS FROM nova.compute_nodes LIKE 'host'\"")
    assert ok(lab, "node-10", "mysql -N -e 'SHOW TABLES FROM cinder LIKE \"volume_attachment\"'").strip() \
        == "volume_attachment"
    levels = ok(lab, "node-10", "mysql -N -e 'SELECT COUNT(*) FROM neutron.ml2_port_binding_levels'")
    assert int(levels) == int(bound) > 0
    moved = ok(lab, "node-10", "mysql -N -e 'SELECT COUNT(*) FROM cinder.volume_attachment'")
    assert int(moved) == int(attached) > 0
    status, _, err = lab.run("node-10", "mysql -e 'SELECT driver FROM neutron.ml2_port_bindings'")
    assert status == 1 and "ERROR 1054" in err
    # Every row kept; nova.services also gains the seed's own running services, which register
    # themselves once the schema is the one their release expects (fuellab.registration).
    after = {t: ok(lab, "node-10", f"mysql -N -e 'SELECT COUNT(*) FROM {t}'") for t in tables}
    after["nova.services"] = ok(lab, "node-10", "mysql -N -e \"SELECT COUNT(*) FROM nova.services "
                                                "WHERE host <> 'node-10'\"")
    assert after == counts
    wait_for(lambda: ok(lab, "node-10", "mysql -N -e \"SELECT COUNT(*) FROM nova.services "
                                        "WHERE host = 'node-10'\"").strip() == "4", "the seed's nova services")
    # A second sync has nothing to do; the original env kept its Juno schema throughout.
    ok(lab, "node-10", "nova-manage db sync")
    assert versions(lab, "node-1") == {**JUNO, "neutron": "juno"} and sid != 1


def test_sync_refuses_a_newer_schema_and_a_missing_database(lab):
    isolated_seed(lab)
    ok(lab, "node-10", "set -o pipefail; mysqldump --databases nova neutron | gzip > /root/kilo.gz")
    copy_file(lab, "node-10", "node-1", "/root/kilo.gz")
    ok(lab, "node-1", "zcat /root/kilo.gz | mysql")
    status, out, err = lab.run("node-1", "nova-manage db sync")
    assert status == 1 and "Command failed, please check log for more info" in out
    assert "CRITICAL nova [-] KeyError: <VerNum(280)>" in err
    assert ok(lab, "node-1", "nova-manage db version").strip() == "280"
    status, out, _ = lab.run("node-1", "neutron-db-manage --config-file=/etc/neutron/neutron.conf upgrade head")
    assert status == 255 and "FAILED: Can't locate revision identified by 'kilo'" in out
    ok(lab, "node-1", "mysql -e 'DROP DATABASE cinder'")
    status, _, err = lab.run("node-1", "cinder-manage db sync")
    assert status == 1 and "(OperationalError) (1049, \"Unknown database 'cinder'\") None None" in err
    status, _, err = lab.run("node-1", "mysqldump --databases cinder")
    assert status == 2 and "mysqldump: Got error: 1049: Unknown database 'cinder' when selecting the database" in err


def test_cinder_update_host_moves_volumes(lab):
    sql = ("INSERT INTO volumes (id, host, size, status, deleted) VALUES "
           "('v1', 'rbd:volumes', 1, 'available', 0), ('v2', 'rbd:volumes#RBD', 1, 'available', 0), "
           "('v3', 'other', 1, 'available', 0)")
    ok(lab, "node-1", f'mysql cinder -e "{sql}"')
    ok(lab, "node-1", "cinder-manage volume update_host --currenthost rbd:volumes "
                      "--newhost rbd:volumes@RBD-backend#RBD-backend")
    out = ok(lab, "node-2", "mysql -N -e \"SELECT id, host FROM cinder.volumes WHERE id IN ('v1', 'v2', 'v3') "
                            "ORDER BY id\"")
    assert out.splitlines() == ["v1\trbd:volumes@RBD-backend#RBD-backend",
                                "v2\trbd:volumes@RBD-backend#RBD-backend", "v3\tother"]
    status, _, err = lab.run("node-1", "cinder-manage volume update_host --newhost x")
    assert status == 2 and "--currenthost is required" in err


def test_a_tool_without_its_config_syncs_a_local_sqlite_file(lab):
    """As upstream: no [database] connection means the default SQLite file, not the cloud's DB."""
    ok(lab, "node-1", "mv /etc/keystone/keystone.conf /root/keystone.conf.saved")
    ok(lab, "node-1", "keystone-manage db_sync")
    assert ok(lab, "node-1", "keystone-manage db_version").strip() == "55"
    assert ok(lab, "node-1", "test -s /root/keystone.db && echo yes").strip() == "yes"
    status, _, err = lab.run("node-1", "keystone-manage --config-file /etc/keystone/keystone.conf db_sync")
    assert status == 1 and "ConfigFilesNotFoundError" in err


def test_information_schema_sizes_follow_the_rows_written(lab):
    """DATA_LENGTH and INDEX_LENGTH come from what the table holds, in 16 KiB pages, as InnoDB reports."""
    def lengths() -> list[int]:
        out = ok(lab, "node-1", "mysql -N -B -e \"SELECT DATA_LENGTH, INDEX_LENGTH, TABLE_ROWS FROM "
                                "information_schema.TABLES WHERE TABLE_SCHEMA = 'scratch' AND TABLE_NAME = 't'\"")
        return [int(word) for word in out.split()]

    ok(lab, "node-1", "mysql -e 'CREATE DATABASE scratch' && mysql scratch -e 'CREATE TABLE t "
                      "(id INT NOT NULL, name VARCHAR(255), body TEXT, PRIMARY KEY (id), KEY ix_name (name))'")
    assert lengths() == [16384, 16384, 0]
    body = "x" * 20000
    ok(lab, "node-1", f"mysql scratch -e \"INSERT INTO t VALUES (1, 'a', '{body}'), (2, 'b', '{body}')\"")
    data, index, rows = lengths()
    assert rows == 2 and data == 3 * 16384 and index == 16384  # 40 kB of rows in 3 pages; a small index
    assert lengths() == [data, index, rows] and ok(lab, "node-2", "mysql -N -B -e \"SELECT SUM(DATA_LENGTH) "
                                                   "FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'scratch'\"") \
        .strip() == str(data)  # every member of the cluster reads the same
