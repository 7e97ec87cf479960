"""Stage 3's sabotages: scenes applied to a lab on which stages 0..2 completed.

Four stage runs: three altered actions (the original dumped while writable with its
RabbitMQ stopped instead of its writers; an "unavailable" maintenance and no db sync;
the dump corrupted on the master after it was taken) and mysqldump failing on the
controller upgrade-db dumps from.
"""

from __future__ import annotations

from tests.labkit import LabHandle
from tests.sabotage.harness import STAGE_FILES, Sabotage

STAGE = STAGE_FILES[3]
DUMP_NODE = "node-1"  # the original's first controller: upgrade-db dumps there


def dump_writable(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.db_dump_writable)."""
    return {"orig": 1}


def unavailable_unsynced(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.db_unavailable_unsynced)."""
    return {"orig": 1}


def dump_corrupted(lab: LabHandle) -> dict[str, int]:
    """The lab as it is; the action is altered (tests.sabotage.alter.db_dump_corrupted)."""
    return {"orig": 1}


def dump_fails(lab: LabHandle) -> dict[str, int]:
    """mysqldump fails on the controller upgrade-db dumps from, every time (gzip still succeeds)."""
    lab.cli("fault", "add", "--node", DUMP_NODE, "--op", "mysqldump", "--kind", "fail")
    return {"orig": 1}


_WRITABLE = "db_dump_writable"
_UNSYNCED = "db_unavailable_unsynced"
_CORRUPTED = "db_dump_corrupted"
TABLE: dict[str, Sabotage] = {
    f"{STAGE}::test_completed": Sabotage(dump_fails, "orig", "mysqldump fails on node-1: upgrade-db stops"),
    f"{STAGE}::test_original_api_answers_reads": Sabotage(
        unavailable_unsynced, "orig", "maintenance refuses every method (use_backend maintenance if TRUE)",
        _UNSYNCED),
    f"{STAGE}::test_original_api_refuses_writes": Sabotage(
        dump_writable, "orig", "no read-only HAProxy: the APIs take writes", _WRITABLE),
    f"{STAGE}::test_original_db_read_only": Sabotage(dump_writable, "orig", "MySQL read_only never set", _WRITABLE),
    f"{STAGE}::test_original_writers_stopped_infrastructure_kept": Sabotage(
        dump_writable, "orig", "RabbitMQ stopped instead of the writers", _WRITABLE),
    f"{STAGE}::test_no_write_after_dump": Sabotage(
        dump_writable, "orig", "dumped while writable: the tenant's key pairs keep coming", _WRITABLE),
    f"{STAGE}::test_dump_on_master": Sabotage(
        dump_corrupted, "orig", "the master's dump changed after it was taken", _CORRUPTED),
    f"{STAGE}::test_dump_test_restored": Sabotage(
        dump_corrupted, "orig", "the test-restore refuses the altered dump", _CORRUPTED),
    f"{STAGE}::test_seed_schema_kilo": Sabotage(
        unavailable_unsynced, "orig", "no db sync: the seed holds Juno schemas", _UNSYNCED),
    f"{STAGE}::test_baseline_rows_in_seed": Sabotage(
        dump_fails, "orig", "no dump, no restore: the seed has its fresh rows only"),
    f"{STAGE}::test_seed_services_stopped": Sabotage(
        dump_fails, "orig", "upgrade-db stops before the seed's services are stopped"),
}
