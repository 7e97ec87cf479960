"""Service database schemas at Juno (6.1) and Kilo (7.0) and the migrations between them.

This module is the single place that defines the tables of the six service
databases (nova, keystone, neutron, cinder, glance, heat), the schema version
each release's code expects, and what `<service>-manage db sync` changes when
Kilo code meets a Juno database. Everything else (deployment, mysql, mysqldump,
the *-manage commands, the OpenStack APIs) goes through it.

Versions (upstream trees; see `HEADS`):

| service  | kind               | Juno (2014.2) | Kilo (2015.1) |
|----------|--------------------|---------------|---------------|
| nova     | sqlalchemy-migrate | 254           | 280           |
| keystone | sqlalchemy-migrate | 55            | 67            |
| cinder   | sqlalchemy-migrate | 26            | 40            |
| glance   | sqlalchemy-migrate | 35            | 41            |
| heat     | sqlalchemy-migrate | 47            | 62            |
| neutron  | alembic            | juno          | kilo          |

The tables are a realistic subset of each service's schema (the tables and
columns the lab's APIs and the upgrade need), with upstream names and types.
Between the two heads, the migrations that change something the lab models
carry their upstream number and name and do what upstream did to those tables
(columns added or dropped, tables created, data moved); the other version
steps advance the version without a modelled change. Neutron's alembic chain
is a subset of upstream's Kilo chain, in upstream order, ending at the `kilo`
release mark.

Tables at Juno (Kilo additions in brackets):

- nova: instances, instance_types (flavors), instance_type_extra_specs,
  instance_system_metadata, instance_metadata, instance_info_caches,
  instance_extra [+flavor, vcpu_model], block_device_mapping, key_pairs
  [+type], quotas, quota_classes, quota_usages, services, compute_nodes
  [+host], pci_devices [+numa_node], migrations, instance_actions [tags];
- keystone: domain, project [+parent_id], user, role, assignment, region
  [-url], service, endpoint, token [whitelisted_config, sensitive_config];
- neutron: networks, externalnetworks, subnets [+subnetpool_id], ports,
  ipallocations, routers, routerports, floatingips, agents,
  routerl3agentbindings, networkdhcpagentbindings, securitygroups,
  securitygrouprules, securitygroupportbindings, default_security_group,
  ml2_network_segments, ml2_port_bindings [-driver, -segment],
  ml2_vlan_allocations, quotas [ml2_port_binding_levels, subnetpools,
  subnetpoolprefixes];
- cinder: volumes [+provider_id, +multiattach, attachment columns moved out],
  volume_metadata, volume_types [+is_public, +description], snapshots
  [+provider_id], services, backups [+parent_id], quotas, quota_classes
  [volume_attachment, volume_type_projects, driver_initiator_data];
- glance: images, image_properties, image_locations, image_members,
  image_tags, metadef_namespaces, metadef_properties [schema -> json_schema]
  [metadef_tags, artifacts, artifact_tags];
- heat: raw_template, user_creds [+region_name], stack [+convergence,
  +parent_resource_name], resource [+engine_id, +atomic_key], event
  [service, stack_tag].

Every database also has its version table: `migrate_version` (repository_id,
repository_path, version) or, for neutron, `alembic_version` (version_num).
Code that must work on both releases writes only the columns a table has
(see fuellab.openstack.seed.insert) or checks `version()` first.

Storage is SQLite (one file per database, see fuellab.galera). Column types
are declared MySQL-style (`VARCHAR(255)`, `DATETIME`, `BOOLEAN`...) so that
mysqldump can render them back; indexes are stored as `"<table>.<key>"` because
MySQL key names are per table and SQLite index names per database.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from dataclasses import dataclass, field

from fuellab.releases import JUNO, KILO

SERVICES = ("nova", "keystone", "neutron", "cinder", "glance", "heat")


# --------------------------------------------------------------------------- table model


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # upper case, MySQL-style: INTEGER, BIGINT, VARCHAR(255), TEXT, DATETIME, BOOLEAN...
    nullable: bool = True
    default: str | None = None  # an SQL literal: "'ssh'", "0"


@dataclass(frozen=True)
class Index:
    name: str  # the MySQL key name (unique per table)
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


_COLUMN_RE = re.compile(r"^(\w+)\s+([A-Z]+(?:\(\d+(?:,\d+)?\))?)(.*)$")


def _table(name: str, spec: str, pk: str | tuple[str, ...] = "id",
           unique: dict[str, str] | None = None, keys: dict[str, str] | None = None) -> Table:
    """A table from one column per line: `name TYPE [NOT NULL] [DEFAULT literal]`.

    `unique` and `keys` map a key name to its comma-separated columns."""
    columns = []
    for line in spec.strip().splitlines():
        if not line.strip():
            continue
        match = _COLUMN_RE.match(line.strip())
        if not match:
            raise ValueError(f"bad column spec in {name}: {line!r}")
        cname, ctype, rest = match.groups()
        default = None
        if "DEFAULT" in rest:
            default = rest.split("DEFAULT", 1)[1].strip()
        columns.append(Column(cname, ctype, nullable="NOT NULL" not in rest, default=default))
    pk_cols = (pk,) if isinstance(pk, str) else pk
    pk_cols = tuple(c for c in pk_cols if c)
    columns = [Column(c.name, c.type, False, c.default) if c.name in pk_cols else c for c in columns]
    indexes = [Index(k, tuple(v.split(",")), True) for k, v in (unique or {}).items()]
    indexes += [Index(k, tuple(v.split(",")), False) for k, v in (keys or {}).items()]
    return Table(name, tuple(columns), pk_cols, tuple(indexes))


_TS = "created_at DATETIME\nupdated_at DATETIME\ndeleted_at DATETIME\n"


def q(name: str) -> str:
    """An SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def index_storage_name(table: str, key: str) -> str:
    return f"{table}.{key}"


def column_sql(col: Column) -> str:
    out = f"{q(col.name)} {col.type}"
    if not col.nullable:
        out += " NOT NULL"
    if col.default is not None:
        out += f" DEFAULT {col.default}"
    return out


def index_sql(table: str, index: Index) -> str:
    kind = "UNIQUE INDEX" if index.unique else "INDEX"
    cols = ", ".join(q(c) for c in index.columns)
    return f"CREATE {kind} {q(index_storage_name(table, index.name))} ON {q(table)} ({cols})"


def sqlite_ddl(table: Table) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for SQLite."""
    parts = [column_sql(c) for c in table.columns]
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(q(c) for c in table.primary_key)})")
    body = ",\n  ".join(parts)
    return [f"CREATE TABLE {q(table.name)} (\n  {body}\n)"] + [index_sql(table.name, i) for i in table.indexes]


def create_table(conn: sqlite3.Connection, table: Table) -> None:
    for statement in sqlite_ddl(table):
        conn.execute(statement)


def table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [r[0] for r in rows]


def introspect(conn: sqlite3.Connection, name: str) -> Table:
    """The stored definition of a table, in the model above."""
    info = conn.execute(f"PRAGMA table_info({q(name)})").fetchall()
    columns = tuple(Column(r[1], (r[2] or "TEXT").upper(), not r[3] and not r[5], r[4]) for r in info)
    pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    indexes = []
    prefix = f"{name}."
    for row in conn.execute(f"PRAGMA index_list({q(name)})").fetchall():
        iname, unique, origin = row[1], bool(row[2]), row[3]
        if origin == "pk":
            continue
        cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({q(iname)})").fetchall())
        key = iname[len(prefix):] if iname.startswith(prefix) else iname
        if key.startswith("sqlite_autoindex_"):
            key = cols[0]  # an inline UNIQUE: MySQL names such a key after its first column
        indexes.append(Index(key, cols, unique))
    return Table(name, columns, pk, tuple(sorted(indexes, key=lambda i: i.name)))


# --------------------------------------------------------------------------- the tables at Juno

NOVA_JUNO = (
    _table("instances", _TS + """
id INTEGER NOT NULL
user_id VARCHAR(255)
project_id VARCHAR(255)
image_ref VARCHAR(255)
kernel_id VARCHAR(255)
ramdisk_id VARCHAR(255)
launch_index INTEGER
key_name VARCHAR(255)
key_data MEDIUMTEXT
power_state INTEGER
vm_state VARCHAR(255)
memory_mb INTEGER
vcpus INTEGER
hostname VARCHAR(255)
host VARCHAR(255)
user_data MEDIUMTEXT
reservation_id VARCHAR(255)
scheduled_at DATETIME
launched_at DATETIME
terminated_at DATETIME
display_name VARCHAR(255)
display_description VARCHAR(255)
availability_zone VARCHAR(255)
locked BOOLEAN
os_type VARCHAR(255)
launched_on MEDIUMTEXT
instance_type_id INTEGER
vm_mode VARCHAR(255)
uuid VARCHAR(36) NOT NULL
architecture VARCHAR(255)
root_device_name VARCHAR(255)
access_ip_v4 VARCHAR(39)
access_ip_v6 VARCHAR(39)
config_drive VARCHAR(255)
task_state VARCHAR(255)
default_ephemeral_device VARCHAR(255)
default_swap_device VARCHAR(255)
progress INTEGER
auto_disk_config BOOLEAN
shutdown_terminate BOOLEAN
disable_terminate BOOLEAN
root_gb INTEGER
ephemeral_gb INTEGER
cell_name VARCHAR(255)
node VARCHAR(255)
deleted INTEGER
locked_by VARCHAR(5)
cleaned INTEGER
ephemeral_key_uuid VARCHAR(36)
""", unique={"uniq_instances0uuid": "uuid"},
        keys={"instances_host_deleted_idx": "host,deleted",
              "instances_project_id_deleted_idx": "project_id,deleted"}),
    _table("instance_types", _TS + """
name VARCHAR(255)
id INTEGER NOT NULL
memory_mb INTEGER NOT NULL
vcpus INTEGER NOT NULL
swap INTEGER NOT NULL
vcpu_weight INTEGER
flavorid VARCHAR(255)
rxtx_factor FLOAT
root_gb INTEGER
ephemeral_gb INTEGER
disabled BOOLEAN
is_public BOOLEAN
deleted INTEGER
""", unique={"uniq_instance_types0name0deleted": "name,deleted",
             "uniq_instance_types0flavorid0deleted": "flavorid,deleted"}),
    _table("instance_type_extra_specs", _TS + """
id INTEGER NOT NULL
instance_type_id INTEGER NOT NULL
key VARCHAR(255)
value VARCHAR(255)
deleted INTEGER
"""),
    _table("instance_system_metadata", _TS + """
id INTEGER NOT NULL
instance_uuid VARCHAR(36) NOT NULL
key VARCHAR(255) NOT NULL
value VARCHAR(255)
deleted INTEGER
""", keys={"instance_uuid": "instance_uuid"}),
    _table("instance_metadata", _TS + """
id INTEGER NOT NULL
key VARCHAR(255)
value VARCHAR(255)
instance_uuid VARCHAR(36)
deleted INTEGER
""", keys={"instance_metadata_instance_uuid_idx": "instance_uuid"}),
    _table("instance_info_caches", _TS + """
id INTEGER NOT NULL
network_info MEDIUMTEXT
instance_uuid VARCHAR(36) NOT NULL
deleted INTEGER
""", unique={"uniq_instance_info_caches0instance_uuid": "instance_uuid"}),
    _table("instance_extra", _TS + """
deleted INTEGER
id INTEGER NOT NULL
instance_uuid VARCHAR(36) NOT NULL
numa_topology TEXT
pci_requests TEXT
""", keys={"instance_extra_idx": "instance_uuid"}),
    _table("block_device_mapping", _TS + """
id INTEGER NOT NULL
device_name VARCHAR(255)
delete_on_termination BOOLEAN
snapshot_id VARCHAR(36)
volume_id VARCHAR(36)
volume_size INTEGER
no_device BOOLEAN
connection_info MEDIUMTEXT
instance_uuid VARCHAR(36)
deleted INTEGER
source_type VARCHAR(255)
destination_type VARCHAR(255)
guest_format VARCHAR(255)
device_type VARCHAR(255)
disk_bus VARCHAR(255)
boot_index INTEGER
image_id VARCHAR(36)
""", keys={"block_device_mapping_instance_uuid_idx": "instance_uuid"}),
    _table("key_pairs", _TS + """
id INTEGER NOT NULL
name VARCHAR(255)
user_id VARCHAR(255)
fingerprint VARCHAR(255)
public_key MEDIUMTEXT
deleted INTEGER
""", unique={"uniq_key_pairs0user_id0name0deleted": "user_id,name,deleted"}),
    _table("quotas", _TS + """
id INTEGER NOT NULL
project_id VARCHAR(255)
resource VARCHAR(255) NOT NULL
hard_limit INTEGER
deleted INTEGER
""", unique={"uniq_quotas0project_id0resource0deleted": "project_id,resource,deleted"}),
    _table("quota_classes", _TS + """
id INTEGER NOT NULL
class_name VARCHAR(255)
resource VARCHAR(255)
hard_limit INTEGER
deleted INTEGER
""", keys={"ix_quota_classes_class_name": "class_name"}),
    _table("quota_usages", _TS + """
id INTEGER NOT NULL
project_id VARCHAR(255)
resource VARCHAR(255) NOT NULL
in_use INTEGER NOT NULL
reserved INTEGER NOT NULL
until_refresh INTEGER
deleted INTEGER
user_id VARCHAR(255)
""", keys={"ix_quota_usages_project_id": "project_id"}),
    _table("services", _TS + """
id INTEGER NOT NULL
host VARCHAR(255)
binary VARCHAR(255)
topic VARCHAR(255)
report_count INTEGER NOT NULL
disabled BOOLEAN
deleted INTEGER
disabled_reason VARCHAR(255)
""", unique={"uniq_services0host0topic0deleted": "host,topic,deleted",
             "uniq_services0host0binary0deleted": "host,binary,deleted"}),
    _table("compute_nodes", _TS + """
id INTEGER NOT NULL
service_id INTEGER NOT NULL
vcpus INTEGER NOT NULL
memory_mb INTEGER NOT NULL
local_gb INTEGER NOT NULL
vcpus_used INTEGER NOT NULL
memory_mb_used INTEGER NOT NULL
local_gb_used INTEGER NOT NULL
hypervisor_type MEDIUMTEXT NOT NULL
hypervisor_version INTEGER NOT NULL
cpu_info MEDIUMTEXT NOT NULL
disk_available_least INTEGER
free_ram_mb INTEGER
free_disk_gb INTEGER
current_workload INTEGER
running_vms INTEGER
hypervisor_hostname VARCHAR(255)
deleted INTEGER
host_ip VARCHAR(39)
supported_instances TEXT
pci_stats TEXT
metrics TEXT
extra_resources TEXT
stats TEXT
numa_topology TEXT
"""),
    _table("pci_devices", _TS + """
deleted INTEGER NOT NULL
id INTEGER NOT NULL
compute_node_id INTEGER NOT NULL
address VARCHAR(12) NOT NULL
product_id VARCHAR(4) NOT NULL
vendor_id VARCHAR(4) NOT NULL
dev_type VARCHAR(8) NOT NULL
dev_id VARCHAR(255)
label VARCHAR(255) NOT NULL
status VARCHAR(36) NOT NULL
extra_info TEXT
instance_uuid VARCHAR(36)
request_id VARCHAR(36)
""", keys={"ix_pci_devices_compute_node_id_deleted": "compute_node_id,deleted"}),
    _table("migrations", _TS + """
id INTEGER NOT NULL
source_compute VARCHAR(255)
dest_compute VARCHAR(255)
dest_host VARCHAR(255)
status VARCHAR(255)
instance_uuid VARCHAR(36)
old_instance_type_id INTEGER
new_instance_type_id INTEGER
source_node VARCHAR(255)
dest_node VARCHAR(255)
deleted INTEGER
""", keys={"migrations_instance_uuid_and_status_idx": "deleted,instance_uuid,status"}),
    _table("instance_actions", _TS + """
id INTEGER NOT NULL
action VARCHAR(255)
instance_uuid VARCHAR(36)
request_id VARCHAR(255)
user_id VARCHAR(255)
project_id VARCHAR(255)
start_time DATETIME
finish_time DATETIME
message VARCHAR(255)
deleted INTEGER
""", keys={"instance_uuid_idx": "instance_uuid"}),
)

KEYSTONE_JUNO = (
    _table("domain", """
id VARCHAR(64) NOT NULL
name VARCHAR(64) NOT NULL
enabled BOOLEAN NOT NULL
extra TEXT
""", unique={"ixu_domain_name": "name"}),
    _table("project", """
id VARCHAR(64) NOT NULL
name VARCHAR(64) NOT NULL
extra TEXT
description TEXT
enabled BOOLEAN
domain_id VARCHAR(64) NOT NULL
""", unique={"ixu_project_name_domain_id": "domain_id,name"}),
    _table("user", """
id VARCHAR(64) NOT NULL
name VARCHAR(255) NOT NULL
extra TEXT
password VARCHAR(128)
enabled BOOLEAN
domain_id VARCHAR(64) NOT NULL
default_project_id VARCHAR(64)
""", unique={"ixu_user_name_domain_id": "domain_id,name"}),
    _table("role", """
id VARCHAR(64) NOT NULL
name VARCHAR(255) NOT NULL
extra TEXT
""", unique={"ixu_role_name": "name"}),
    _table("assignment", """
type VARCHAR(8) NOT NULL
actor_id VARCHAR(64) NOT NULL
target_id VARCHAR(64) NOT NULL
role_id VARCHAR(64) NOT NULL
inherited BOOLEAN NOT NULL
""", pk=("type", "actor_id", "target_id", "role_id"), keys={"ix_actor_id": "actor_id"}),
    _table("region", """
id VARCHAR(255) NOT NULL
description VARCHAR(255) NOT NULL
parent_region_id VARCHAR(255)
extra TEXT
url VARCHAR(255)
"""),
    _table("service", """
id VARCHAR(64) NOT NULL
type VARCHAR(255)
extra TEXT
enabled BOOLEAN NOT NULL DEFAULT 1
"""),
    _table("endpoint", """
id VARCHAR(64) NOT NULL
legacy_endpoint_id VARCHAR(64)
interface VARCHAR(8) NOT NULL
service_id VARCHAR(64) NOT NULL
url TEXT NOT NULL
extra TEXT
enabled BOOLEAN NOT NULL DEFAULT 1
region_id VARCHAR(255)
""", keys={"service_id": "service_id", "region_id": "region_id"}),
    _table("token", """
id VARCHAR(64) NOT NULL
expires DATETIME
extra TEXT
valid BOOLEAN NOT NULL
trust_id VARCHAR(64)
user_id VARCHAR(64)
""", keys={"ix_token_expires": "expires", "ix_token_user_id": "user_id"}),
)

NEUTRON_JUNO = (
    _table("networks", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
status VARCHAR(16)
admin_state_up BOOLEAN
shared BOOLEAN
"""),
    _table("externalnetworks", "network_id VARCHAR(36) NOT NULL", pk="network_id"),
    _table("subnets", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
network_id VARCHAR(36)
ip_version INTEGER NOT NULL
cidr VARCHAR(64) NOT NULL
gateway_ip VARCHAR(64)
enable_dhcp BOOLEAN
shared BOOLEAN
ipv6_ra_mode VARCHAR(16)
ipv6_address_mode VARCHAR(16)
"""),
    _table("ports", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
network_id VARCHAR(36) NOT NULL
mac_address VARCHAR(32) NOT NULL
admin_state_up BOOLEAN NOT NULL
status VARCHAR(16) NOT NULL
device_id VARCHAR(255) NOT NULL
device_owner VARCHAR(255) NOT NULL
""", unique={"mac_address": "network_id,mac_address"}),
    _table("ipallocations", """
port_id VARCHAR(36)
ip_address VARCHAR(64) NOT NULL
subnet_id VARCHAR(36) NOT NULL
network_id VARCHAR(36) NOT NULL
""", pk=("ip_address", "subnet_id", "network_id")),
    _table("routers", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
status VARCHAR(16)
admin_state_up BOOLEAN
gw_port_id VARCHAR(36)
enable_snat BOOLEAN NOT NULL DEFAULT 1
"""),
    _table("routerports", """
router_id VARCHAR(36) NOT NULL
port_id VARCHAR(36) NOT NULL
port_type VARCHAR(255)
""", pk=("router_id", "port_id")),
    _table("floatingips", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
floating_ip_address VARCHAR(64) NOT NULL
floating_network_id VARCHAR(36) NOT NULL
floating_port_id VARCHAR(36) NOT NULL
fixed_port_id VARCHAR(36)
fixed_ip_address VARCHAR(64)
router_id VARCHAR(36)
last_known_router_id VARCHAR(36)
status VARCHAR(16)
"""),
    _table("agents", """
id VARCHAR(36) NOT NULL
agent_type VARCHAR(255) NOT NULL
binary VARCHAR(255) NOT NULL
topic VARCHAR(255) NOT NULL
host VARCHAR(255) NOT NULL
admin_state_up BOOLEAN NOT NULL DEFAULT 1
created_at DATETIME NOT NULL
started_at DATETIME NOT NULL
heartbeat_timestamp DATETIME NOT NULL
description VARCHAR(255)
configurations VARCHAR(4095) NOT NULL
""", unique={"uniq_agents0agent_type0host": "agent_type,host"}),
    _table("routerl3agentbindings", """
router_id VARCHAR(36) NOT NULL
l3_agent_id VARCHAR(36) NOT NULL
""", pk=("router_id", "l3_agent_id")),
    _table("networkdhcpagentbindings", """
network_id VARCHAR(36) NOT NULL
dhcp_agent_id VARCHAR(36) NOT NULL
""", pk=("network_id", "dhcp_agent_id")),
    _table("securitygroups", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
description VARCHAR(255)
"""),
    _table("securitygrouprules", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
security_group_id VARCHAR(36) NOT NULL
remote_group_id VARCHAR(36)
direction VARCHAR(7)
ethertype VARCHAR(40)
protocol VARCHAR(40)
port_range_min INTEGER
port_range_max INTEGER
remote_ip_prefix VARCHAR(255)
"""),
    _table("securitygroupportbindings", """
port_id VARCHAR(36) NOT NULL
security_group_id VARCHAR(36) NOT NULL
""", pk=("port_id", "security_group_id")),
    _table("default_security_group", """
tenant_id VARCHAR(255) NOT NULL
security_group_id VARCHAR(36) NOT NULL
""", pk="tenant_id"),
    _table("ml2_network_segments", """
id VARCHAR(36) NOT NULL
network_id VARCHAR(36) NOT NULL
network_type VARCHAR(32) NOT NULL
physical_network VARCHAR(64)
segmentation_id INTEGER
is_dynamic BOOLEAN NOT NULL DEFAULT 0
"""),
    _table("ml2_port_bindings", """
port_id VARCHAR(36) NOT NULL
host VARCHAR(255) NOT NULL
vif_type VARCHAR(64) NOT NULL
driver VARCHAR(64)
segment VARCHAR(36)
vnic_type VARCHAR(64) NOT NULL DEFAULT 'normal'
vif_details VARCHAR(4095) NOT NULL DEFAULT ''
profile VARCHAR(4095) NOT NULL DEFAULT ''
""", pk="port_id"),
    _table("ml2_vlan_allocations", """
physical_network VARCHAR(64) NOT NULL
vlan_id INTEGER NOT NULL
allocated BOOLEAN NOT NULL
""", pk=("physical_network", "vlan_id")),
    _table("quotas", """
id VARCHAR(36) NOT NULL
tenant_id VARCHAR(255)
resource VARCHAR(255)
limit INTEGER
"""),
)

CINDER_JUNO = (
    _table("volumes", _TS + """
deleted BOOLEAN
id VARCHAR(36) NOT NULL
ec2_id VARCHAR(255)
user_id VARCHAR(255)
project_id VARCHAR(255)
host VARCHAR(255)
size INTEGER
availability_zone VARCHAR(255)
instance_uuid VARCHAR(36)
attached_host VARCHAR(255)
mountpoint VARCHAR(255)
attach_time VARCHAR(255)
status VARCHAR(255)
attach_status VARCHAR(255)
migration_status VARCHAR(255)
scheduled_at DATETIME
launched_at DATETIME
terminated_at DATETIME
display_name VARCHAR(255)
display_description VARCHAR(255)
provider_location VARCHAR(256)
provider_auth VARCHAR(256)
snapshot_id VARCHAR(36)
volume_type_id VARCHAR(36)
source_volid VARCHAR(36)
bootable BOOLEAN
provider_geometry VARCHAR(255)
_name_id VARCHAR(36)
encryption_key_id VARCHAR(36)
replication_status VARCHAR(255)
replication_extended_status VARCHAR(255)
replication_driver_data VARCHAR(255)
consistencygroup_id VARCHAR(36)
"""),
    _table("volume_metadata", _TS + """
deleted BOOLEAN
id INTEGER NOT NULL
volume_id VARCHAR(36) NOT NULL
key VARCHAR(255)
value VARCHAR(255)
"""),
    _table("volume_types", _TS + """
deleted BOOLEAN
id VARCHAR(36) NOT NULL
name VARCHAR(255)
qos_specs_id VARCHAR(36)
"""),
    _table("snapshots", _TS + """
deleted BOOLEAN
id VARCHAR(36) NOT NULL
volume_id VARCHAR(36) NOT NULL
user_id VARCHAR(255)
project_id VARCHAR(255)
status VARCHAR(255)
progress VARCHAR(255)
volume_size INTEGER
scheduled_at DATETIME
display_name VARCHAR(255)
display_description VARCHAR(255)
provider_location VARCHAR(255)
encryption_key_id VARCHAR(36)
volume_type_id VARCHAR(36)
cgsnapshot_id VARCHAR(36)
"""),
    _table("services", _TS + """
deleted BOOLEAN
id INTEGER NOT NULL
host VARCHAR(255)
binary VARCHAR(255)
topic VARCHAR(255)
report_count INTEGER NOT NULL
disabled BOOLEAN
availability_zone VARCHAR(255)
disabled_reason VARCHAR(255)
"""),
    _table("backups", _TS + """
deleted BOOLEAN NOT NULL
id VARCHAR(36) NOT NULL
volume_id VARCHAR(36) NOT NULL
user_id VARCHAR(255)
project_id VARCHAR(255)
host VARCHAR(255)
availability_zone VARCHAR(255)
display_name VARCHAR(255)
display_description VARCHAR(255)
container VARCHAR(255)
status VARCHAR(255)
fail_reason VARCHAR(255)
service_metadata VARCHAR(255)
service VARCHAR(255)
size INTEGER
object_count INTEGER
"""),
    _table("quotas", _TS + """
deleted BOOLEAN
id INTEGER NOT NULL
project_id VARCHAR(255)
resource VARCHAR(255) NOT NULL
hard_limit INTEGER
"""),
    _table("quota_classes", _TS + """
deleted BOOLEAN
id INTEGER NOT NULL
class_name VARCHAR(255)
resource VARCHAR(255)
hard_limit INTEGER
""", keys={"ix_quota_classes_class_name": "class_name"}),
)

GLANCE_JUNO = (
    _table("images", """
id VARCHAR(36) NOT NULL
name VARCHAR(255)
size BIGINT
status VARCHAR(30) NOT NULL
is_public BOOLEAN NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
deleted_at DATETIME
deleted BOOLEAN NOT NULL
disk_format VARCHAR(20)
container_format VARCHAR(20)
checksum VARCHAR(32)
owner VARCHAR(255)
min_disk INTEGER NOT NULL
min_ram INTEGER NOT NULL
protected BOOLEAN NOT NULL DEFAULT 0
virtual_size BIGINT
""", keys={"ix_images_is_public": "is_public", "checksum_image_idx": "checksum",
           "owner_image_idx": "owner"}),
    _table("image_properties", """
id INTEGER NOT NULL
image_id VARCHAR(36) NOT NULL
name VARCHAR(255) NOT NULL
value TEXT
created_at DATETIME NOT NULL
updated_at DATETIME
deleted_at DATETIME
deleted BOOLEAN NOT NULL
""", unique={"ix_image_properties_image_id_name": "image_id,name"}),
    _table("image_locations", """
id INTEGER NOT NULL
image_id VARCHAR(36) NOT NULL
value TEXT NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
deleted_at DATETIME
deleted BOOLEAN NOT NULL
meta_data TEXT
status VARCHAR(30) NOT NULL DEFAULT 'active'
""", keys={"ix_image_locations_image_id": "image_id"}),
    _table("image_members", """
id INTEGER NOT NULL
image_id VARCHAR(36) NOT NULL
member VARCHAR(255) NOT NULL
can_share BOOLEAN NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
deleted_at DATETIME
deleted BOOLEAN NOT NULL
status VARCHAR(20) NOT NULL DEFAULT 'pending'
"""),
    _table("image_tags", """
id INTEGER NOT NULL
image_id VARCHAR(36) NOT NULL
value VARCHAR(255) NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
deleted_at DATETIME
deleted BOOLEAN NOT NULL
"""),
    _table("metadef_namespaces", """
id INTEGER NOT NULL
namespace VARCHAR(80) NOT NULL
display_name VARCHAR(80)
description TEXT
visibility VARCHAR(32)
protected BOOLEAN
owner VARCHAR(255)
created_at DATETIME NOT NULL
updated_at DATETIME
""", unique={"ix_metadef_namespaces_namespace": "namespace"}),
    _table("metadef_properties", """
id INTEGER NOT NULL
namespace_id INTEGER NOT NULL
name VARCHAR(80) NOT NULL
schema TEXT NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
"""),
)

HEAT_JUNO = (
    _table("raw_template", """
id INTEGER NOT NULL
created_at DATETIME
updated_at DATETIME
template TEXT
files TEXT
"""),
    _table("user_creds", """
id INTEGER NOT NULL
created_at DATETIME
updated_at DATETIME
username VARCHAR(255)
password VARCHAR(255)
tenant VARCHAR(1024)
auth_url TEXT
tenant_id VARCHAR(256)
trust_id VARCHAR(255)
trustor_user_id VARCHAR(64)
decrypt_method VARCHAR(64)
"""),
    _table("stack", """
id VARCHAR(36) NOT NULL
created_at DATETIME
updated_at DATETIME
deleted_at DATETIME
name VARCHAR(255)
raw_template_id INTEGER NOT NULL
user_creds_id INTEGER
username VARCHAR(256)
owner_id VARCHAR(36)
status VARCHAR(255)
status_reason TEXT
parameters TEXT
timeout INTEGER
tenant VARCHAR(256)
disable_rollback BOOLEAN NOT NULL
action VARCHAR(255)
stack_user_project_id VARCHAR(64)
backup BOOLEAN
nested_depth INTEGER
""", keys={"ix_stack_name": "name", "ix_stack_tenant": "tenant"}),
    _table("resource", """
id VARCHAR(36) NOT NULL
nova_instance VARCHAR(255)
name VARCHAR(255)
created_at DATETIME
updated_at DATETIME
action VARCHAR(255)
status VARCHAR(255)
status_reason TEXT
stack_id VARCHAR(36) NOT NULL
rsrc_metadata TEXT
properties_data TEXT
"""),
    _table("event", """
id INTEGER NOT NULL
uuid VARCHAR(36)
stack_id VARCHAR(36) NOT NULL
created_at DATETIME
updated_at DATETIME
resource_action VARCHAR(255)
resource_status VARCHAR(255)
resource_name VARCHAR(255)
physical_resource_id VARCHAR(255)
resource_status_reason VARCHAR(255)
resource_type VARCHAR(255)
resource_properties BLOB
""", unique={"uuid": "uuid"}),
)

JUNO_TABLES: dict[str, tuple[Table, ...]] = {
    "nova": NOVA_JUNO,
    "keystone": KEYSTONE_JUNO,
    "neutron": NEUTRON_JUNO,
    "cinder": CINDER_JUNO,
    "glance": GLANCE_JUNO,
    "heat": HEAT_JUNO,
}


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Column


@dataclass(frozen=True)
class DropColumn:
    table: str
    column: str


@dataclass(frozen=True)
class RenameColumn:
    table: str
    old: str
    new: str


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class CreateIndex:
    table: str
    index: Index


@dataclass(frozen=True)
class Sql:
    """A data step (runs on SQLite; `lab_uuid()` gives a fresh UUID)."""

    text: str


Op = AddColumn | DropColumn | RenameColumn | CreateTable | CreateIndex | Sql


@dataclass(frozen=True)
class Migration:
    version: int | str  # sqlalchemy-migrate number or alembic revision
    name: str  # upstream file name (migrate) or message (alembic)
    ops: tuple[Op, ...] = field(default=())
    down: int | str | None = None  # the revision it follows (alembic)


def _col(spec: str) -> Column:
    return _table("_", spec, pk=()).columns[0]


def _m(version: int, name: str, *ops: Op) -> Migration:
    return Migration(version, name, tuple(ops))


NOVA_KILO = (
    _m(266, "266_add_instance_tags",
       CreateTable(_table("tags", "resource_id VARCHAR(36) NOT NULL\ntag VARCHAR(80) NOT NULL",
                          pk=("resource_id", "tag"), keys={"tags_tag_idx": "tag"}))),
    _m(268, "268_add_host_in_compute_node", AddColumn("compute_nodes", _col("host VARCHAR(255)"))),
    _m(269, "269_add_numa_node_column", AddColumn("pci_devices", _col("numa_node INTEGER"))),
    _m(270, "270_flavor_data_in_extra", AddColumn("instance_extra", _col("flavor TEXT"))),
    _m(275, "275_add_keypair_type",
       AddColumn("key_pairs", _col("type VARCHAR(4) NOT NULL DEFAULT 'ssh'"))),
    _m(276, "276_vcpu_model", AddColumn("instance_extra", _col("vcpu_model TEXT"))),
    _m(279, "279_fix_unique_constraint_for_compute_node",
       CreateIndex("compute_nodes", Index("uniq_compute_nodes0host0hypervisor_hostname0deleted",
                                          ("host", "hypervisor_hostname", "deleted"), True))),
)

KEYSTONE_KILO = (
    _m(61, "061_add_parent_project", AddColumn("project", _col("parent_id VARCHAR(64)"))),
    _m(63, "063_drop_region_auth_url", DropColumn("region", "url")),
    _m(65, "065_add_domain_config",
       *(CreateTable(_table(name, """
domain_id VARCHAR(64) NOT NULL
group VARCHAR(255) NOT NULL
option VARCHAR(255) NOT NULL
value TEXT NOT NULL
""", pk=("domain_id", "group", "option"))) for name in ("whitelisted_config", "sensitive_config"))),
)

CINDER_KILO = (
    _m(32, "032_add_volume_type_projects",
       AddColumn("volume_types", _col("is_public BOOLEAN")),
       Sql("UPDATE volume_types SET is_public = 1"),
       CreateTable(_table("volume_type_projects", """
id INTEGER NOT NULL
created_at DATETIME
updated_at DATETIME
deleted_at DATETIME
volume_type_id VARCHAR(36)
project_id VARCHAR(255)
deleted BOOLEAN
""", unique={"volume_type_id": "volume_type_id,project_id,deleted"}))),
    _m(34, "034_volume_type_add_desc_column",
       AddColumn("volume_types", _col("description VARCHAR(255)"))),
    _m(35, "035_add_provider_id_column", AddColumn("volumes", _col("provider_id VARCHAR(255)"))),
    _m(36, "036_add_provider_id_column_to_snapshots",
       AddColumn("snapshots", _col("provider_id VARCHAR(255)"))),
    _m(38, "038_add_driver_initiator_data_table",
       CreateTable(_table("driver_initiator_data", """
created_at DATETIME
updated_at DATETIME
id INTEGER NOT NULL
initiator VARCHAR(255) NOT NULL
namespace VARCHAR(255) NOT NULL
key VARCHAR(255) NOT NULL
value VARCHAR(255)
""", unique={"initiator": "initiator,namespace,key"}))),
    _m(39, "039_add_parent_id_to_backups", AddColumn("backups", _col("parent_id VARCHAR(36)"))),
    _m(40, "040_add_volume_attachment",
       AddColumn("volumes", _col("multiattach BOOLEAN")),
       Sql("UPDATE volumes SET multiattach = 0"),
       CreateTable(_table("volume_attachment", _TS + """
deleted BOOLEAN
id VARCHAR(36) NOT NULL
volume_id VARCHAR(36) NOT NULL
attached_host VARCHAR(255)
instance_uuid VARCHAR(36)
mountpoint VARCHAR(255)
attach_time DATETIME
detach_time DATETIME
attach_mode VARCHAR(36)
attach_status VARCHAR(255)
""")),
       # Upstream moves the attachment of every attached volume into the new table...
       Sql("INSERT INTO volume_attachment (id, created_at, deleted, volume_id, attached_host, "
           "instance_uuid, mountpoint, attach_time, attach_mode, attach_status) "
           "SELECT lab_uuid(), lab_now(), 0, id, attached_host, instance_uuid, mountpoint, "
           "attach_time, 'rw', 'attached' FROM volumes WHERE attach_status = 'attached'"),
       # ...then drops the columns it no longer needs.
       DropColumn("volumes", "mountpoint"),
       DropColumn("volumes", "instance_uuid"),
       DropColumn("volumes", "attach_time"),
       DropColumn("volumes", "attached_host")),
)

GLANCE_KILO = (
    _m(36, "036_rename_metadef_schema_columns", RenameColumn("metadef_properties", "schema", "json_schema")),
    _m(38, "038_add_metadef_tags_table",
       CreateTable(_table("metadef_tags", """
id INTEGER NOT NULL
namespace_id INTEGER NOT NULL
name VARCHAR(80) NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME
""", unique={"uq_metadef_tags_namespace_id_name": "namespace_id,name"}))),
    _m(41, "041_add_artifact_tables",
       CreateTable(_table("artifacts", """
id VARCHAR(36) NOT NULL
name VARCHAR(255) NOT NULL
type_name VARCHAR(255) NOT NULL
type_version_prefix BIGINT NOT NULL
type_version_suffix VARCHAR(255)
type_version_meta VARCHAR(255)
version_prefix BIGINT NOT NULL
version_suffix VARCHAR(255)
version_meta VARCHAR(255)
description TEXT
visibility VARCHAR(32) NOT NULL
state VARCHAR(32) NOT NULL
owner VARCHAR(255) NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME NOT NULL
deleted_at DATETIME
published_at DATETIME
""", keys={"ix_artifact_name_and_version": "name,version_prefix,version_suffix"})),
       CreateTable(_table("artifact_tags", """
id VARCHAR(36) NOT NULL
artifact_id VARCHAR(36) NOT NULL
value VARCHAR(255) NOT NULL
created_at DATETIME NOT NULL
updated_at DATETIME NOT NULL
""", keys={"ix_artifact_tags_artifact_id": "artifact_id"}))),
)

HEAT_KILO = (
    _m(49, "049_user_creds_region_name", AddColumn("user_creds", _col("region_name VARCHAR(255)"))),
    _m(50, "050_stack_tags", AddColumn("stack", _col("tags TEXT"))),
    _m(51, "051_service", CreateTable(_table("service", """
id VARCHAR(36) NOT NULL
engine_id VARCHAR(36) NOT NULL
host VARCHAR(255) NOT NULL
hostname VARCHAR(255) NOT NULL
binary VARCHAR(255) NOT NULL
topic VARCHAR(255) NOT NULL
report_interval INTEGER NOT NULL
created_at DATETIME
updated_at DATETIME
deleted_at DATETIME
"""))),
    _m(52, "052_convergence_flag", AddColumn("stack", _col("convergence BOOLEAN"))),
    _m(54, "054_stack_tags_table",
       DropColumn("stack", "tags"),
       CreateTable(_table("stack_tag", """
id INTEGER NOT NULL
created_at DATETIME
updated_at DATETIME
tag VARCHAR(80)
stack_id VARCHAR(36) NOT NULL
"""))),
    _m(58, "058_resource_engine_id",
       AddColumn("resource", _col("engine_id VARCHAR(36)")),
       AddColumn("resource", _col("atomic_key INTEGER"))),
    _m(62, "062_parent_resource", AddColumn("stack", _col("parent_resource_name VARCHAR(255)"))),
)

# Neutron: alembic revisions after the `juno` release mark, in upstream order.
NEUTRON_KILO = (
    Migration("2d2a8a565438", "ML2 hierarchical binding", (
        CreateTable(_table("ml2_port_binding_levels", """
port_id VARCHAR(36) NOT NULL
host VARCHAR(255) NOT NULL
level INTEGER NOT NULL
driver VARCHAR(64)
segment_id VARCHAR(36)
""", pk=("port_id", "host", "level"))),
        Sql("INSERT INTO ml2_port_binding_levels SELECT port_id, host, 0 AS level, driver, "
            "segment AS segment_id FROM ml2_port_bindings WHERE host <> '' AND driver <> ''"),
        DropColumn("ml2_port_bindings", "driver"),
        DropColumn("ml2_port_bindings", "segment"),
    )),
    Migration("51c54792158e", "Initial operations for subnetpools", (
        CreateTable(_table("subnetpools", """
tenant_id VARCHAR(255)
id VARCHAR(36) NOT NULL
name VARCHAR(255)
ip_version INTEGER NOT NULL
default_prefixlen INTEGER NOT NULL
min_prefixlen INTEGER NOT NULL
max_prefixlen INTEGER NOT NULL
shared BOOLEAN NOT NULL
allow_overlap BOOLEAN NOT NULL
""", keys={"ix_subnetpools_tenant_id": "tenant_id"})),
        CreateTable(_table("subnetpoolprefixes", """
cidr VARCHAR(64) NOT NULL
subnetpool_id VARCHAR(36) NOT NULL
""", pk=("cidr", "subnetpool_id"))),
    )),
    Migration("034883111f", "Remove allow_overlap from subnetpools",
              (DropColumn("subnetpools", "allow_overlap"),)),
    Migration("268fb5e99aa2", "Initial operations in support of subnet allocation from a pool", (
        AddColumn("subnets", _col("subnetpool_id VARCHAR(36)")),
        CreateIndex("subnets", Index("ix_subnets_subnetpool_id", ("subnetpool_id",))),
    )),
    Migration("28a09af858a8",
              "Initial operations to support basic quotas on prefix space in a subnet pool",
              (AddColumn("subnetpools", _col("default_quota INTEGER")),)),
    Migration("20c469a5f920", "add index for port", (
        CreateIndex("ports", Index("ix_ports_network_id_device_owner", ("network_id", "device_owner"))),
        CreateIndex("ports", Index("ix_ports_network_id_mac_address", ("network_id", "mac_address"))),
    )),
    Migration("kilo", "kilo"),
)

KILO_MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "nova": NOVA_KILO,
    "keystone": KEYSTONE_KILO,
    "neutron": NEUTRON_KILO,
    "cinder": CINDER_KILO,
    "glance": GLANCE_KILO,
    "heat": HEAT_KILO,
}


# --------------------------------------------------------------------------- versions

KIND = {svc: "alembic" if svc == "neutron" else "migrate" for svc in SERVICES}

HEADS: dict[str, dict[str, int | str]] = {
    JUNO: {"nova": 254, "keystone": 55, "cinder": 26, "glance": 35, "heat": 47, "neutron": "juno"},
    KILO: {"nova": 280, "keystone": 67, "cinder": 40, "glance": 41, "heat": 62, "neutron": "kilo"},
}

# What `db version` stamps on an empty database (the repository's INIT_VERSION).
INIT_VERSION = {"nova": 215, "keystone": 43, "cinder": 0, "glance": 0, "heat": 14}

REPOSITORY = {
    "nova": ("nova", "/usr/lib/python2.7/dist-packages/nova/db/sqlalchemy/migrate_repo"),
    "keystone": ("keystone", "/usr/lib/python2.7/dist-packages/keystone/common/sql/migrate_repo"),
    "cinder": ("cinder", "/usr/lib/python2.7/dist-packages/cinder/db/sqlalchemy/migrate_repo"),
    "glance": ("Glance Migrations", "/usr/lib/python2.7/dist-packages/glance/db/sqlalchemy/migrate_repo"),
    "heat": ("heat", "/usr/lib/python2.7/dist-packages/heat/db/sqlalchemy/migrate_repo"),
}

# Alembic revisions Juno code knows at and below its head (older history collapsed).
NEUTRON_JUNO_CHAIN = ("544673ac99ab", "juno")


def head(service: str, release: str) -> int | str:
    """The schema version the code of `release` (a Fuel release version) expects."""
    return HEADS[release][service]


def release_of_version(service: str, version: int | str | None) -> str | None:
    """The release whose head this version is, if any."""
    return next((r for r, heads in HEADS.items() if heads[service] == version), None)


class SchemaError(Exception):
    """What a migration tool reports; `str()` is the upstream wording."""


class VersionUnknown(SchemaError):
    """The database is at a version the code's repository does not contain (newer code ran)."""


class NotVersioned(SchemaError):
    """Tables exist but no version table: upstream refuses to guess."""


def _version_table(service: str) -> Table:
    if KIND[service] == "alembic":
        return _table("alembic_version", "version_num VARCHAR(32) NOT NULL", pk=())
    return _table("migrate_version", """
repository_id VARCHAR(250) NOT NULL
repository_path TEXT
version INTEGER
""", pk="repository_id")


def version(conn: sqlite3.Connection, service: str) -> int | str | None:
    """The version stamped in the database (None when it is not under version control)."""
    try:
        if KIND[service] == "alembic":
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        else:
            row = conn.execute("SELECT version FROM migrate_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else row[0]


def _stamp(conn: sqlite3.Connection, service: str, value: int | str) -> None:
    if KIND[service] == "alembic":
        conn.execute("UPDATE alembic_version SET version_num = ?", (value,))
    else:
        conn.execute("UPDATE migrate_version SET version = ?", (value,))


def _stamp_new(conn: sqlite3.Connection, service: str, value: int | str) -> None:
    create_table(conn, _version_table(service))
    if KIND[service] == "alembic":
        conn.execute("INSERT INTO alembic_version VALUES (?)", (value,))
    else:
        repo_id, path = REPOSITORY[service]
        conn.execute("INSERT INTO migrate_version VALUES (?, ?, ?)", (repo_id, path, value))


def version_control(conn: sqlite3.Connection, service: str) -> int:
    """`db version` on an empty database: put it under version control at INIT_VERSION."""
    _stamp_new(conn, service, INIT_VERSION[service])
    return INIT_VERSION[service]


def _register_functions(conn: sqlite3.Connection, now: str) -> None:
    conn.create_function("lab_uuid", 0, lambda: str(uuid.uuid4()))
    conn.create_function("lab_now", 0, lambda: now)


def apply(conn: sqlite3.Connection, migration: Migration, now: str = "2015-11-02 08:00:00") -> None:
    """Run one migration's operations."""
    _register_functions(conn, now)
    for op in migration.ops:
        if isinstance(op, AddColumn):
            conn.execute(f"ALTER TABLE {q(op.table)} ADD COLUMN {column_sql(op.column)}")
        elif isinstance(op, DropColumn):
            conn.execute(f"ALTER TABLE {q(op.table)} DROP COLUMN {q(op.column)}")
        elif isinstance(op, RenameColumn):
            conn.execute(f"ALTER TABLE {q(op.table)} RENAME COLUMN {q(op.old)} TO {q(op.new)}")
        elif isinstance(op, CreateTable):
            create_table(conn, op.table)
        elif isinstance(op, CreateIndex):
            conn.execute(index_sql(op.table, op.index))
        elif isinstance(op, Sql):
            conn.execute(op.text)


def known_versions(service: str, release: str) -> list[int | str]:
    """Every version the repository of `release`'s code contains, oldest first."""
    top = head(service, release)
    if KIND[service] == "alembic":
        chain: list[int | str] = list(NEUTRON_JUNO_CHAIN)
        if release == KILO:
            chain += [m.version for m in NEUTRON_KILO]
        return chain
    return list(range(1, int(top) + 1))


@dataclass(frozen=True)
class Step:
    """One version step of a sync: from -> to, and the modelled migration if any."""

    before: int | str
    after: int | str
    migration: Migration | None


def plan(service: str, current: int | str, release: str, target: int | str | None = None) -> list[Step]:
    """The steps `db sync` of `release`'s code takes from `current` (to `target`, default head).

    Raises VersionUnknown when the code does not know `current` (a newer release wrote it)."""
    known = known_versions(service, release)
    if current not in known:
        raise VersionUnknown(_unknown_message(service, current))
    goal = head(service, release) if target is None else target
    if goal not in known:
        raise VersionUnknown(_unknown_message(service, goal))
    start, end = known.index(current), known.index(goal)
    if end < start:
        raise SchemaError(f"Cannot upgrade a database of version {current} to version {goal}. "
                          "Try 'downgrade' instead.")
    by_version = {m.version: m for m in KILO_MIGRATIONS[service]}
    return [Step(known[i], known[i + 1], by_version.get(known[i + 1])) for i in range(start, end)]


def _unknown_message(service: str, value: int | str) -> str:
    if KIND[service] == "alembic":
        return f"Can't locate revision identified by '{value}'"
    return f"<VerNum({value})>"


def create(conn: sqlite3.Connection, service: str, release: str, now: str = "2015-11-02 08:00:00") -> None:
    """A fresh schema as `db sync` of `release`'s code builds it in an empty database."""
    for table in JUNO_TABLES[service]:
        create_table(conn, table)
    _stamp_new(conn, service, head(service, JUNO))
    for step in plan(service, head(service, JUNO), release):
        if step.migration is not None:
            apply(conn, step.migration, now)
        _stamp(conn, service, step.after)


def upgrade(conn: sqlite3.Connection, service: str, release: str, target: int | str | None = None,
            now: str = "2015-11-02 08:00:00") -> list[Step]:
    """What `<service>-manage db sync` of `release`'s code does; returns the steps applied.

    An empty database gets the whole schema; a versioned one is migrated from
    its version; tables without a version table are refused, as upstream does."""
    current = version(conn, service)
    if current is None:
        if table_names(conn):
            raise NotVersioned("The database is not under version control, but has tables. "
                               "Please stamp the current version of the schema manually.")
        create(conn, service, release, now)
        return [Step(0, head(service, release), None)]
    steps = plan(service, current, release, target)
    for step in steps:
        if step.migration is not None:
            apply(conn, step.migration, now)
        _stamp(conn, service, step.after)
    return steps


# --------------------------------------------------------------------------- schema checks


@functools.lru_cache(maxsize=32)
def expected_tables(service: str, release: str) -> dict[str, frozenset[str]]:
    """Table -> column names of a database freshly synced by `release`'s code."""
    conn = sqlite3.connect(":memory:")
    try:
        create(conn, service, release)
        return {t: frozenset(c.name for c in introspect(conn, t).columns) for t in table_names(conn)}
    finally:
        conn.close()


def mismatch(conn: sqlite3.Connection, service: str, release: str) -> str | None:
    """Why the database does not match what `release`'s code expects (None when it does)."""
    found = version(conn, service)
    want = head(service, release)
    if found != want:
        return f"{service} database schema version is {found}, the code expects {want}"
    present = set(table_names(conn))
    for table, columns in sorted(expected_tables(service, release).items()):
        if table not in present:
            return f"{service} database has no table {table}"
        have = {c.name for c in introspect(conn, table).columns}
        if have != columns:
            missing = sorted(columns - have)
            extra = sorted(have - columns)
            return f"{service} table {table} differs from the schema: missing {missing}, unexpected {extra}"
    return None


def matches(conn: sqlite3.Connection, service: str, release: str) -> bool:
    """True when the database has the version and the tables `release`'s code expects."""
    return mismatch(conn, service, release) is None
