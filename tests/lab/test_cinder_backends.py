"""Cinder's volume backends: a volume belongs to the backend it was created on (its `host`), and only
a cinder-volume reporting under that name serves it. Juno's cinder-volume on Ceph reports as
`rbd:volumes`, Kilo's as `rbd:volumes@RBD-backend`: after an upgrade the volumes must be moved with
`cinder-manage volume update_host`, or nothing deletes them."""

from __future__ import annotations

import pytest

from tests.lab.cloudkit import connect, wait_for
from tests.lab.seedkit import ok

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

JUNO_BACKEND, KILO_BACKEND = "rbd:volumes", "rbd:volumes@RBD-backend"


def _update_host(lab, current: str, new: str) -> None:
    ok(lab, "node-1", f"cinder-manage volume update_host --currenthost {current} --newhost {new}")


def _status(conn, volume_id: str) -> str:
    found = [v for v in conn.block_storage.volumes(details=True, all_projects=True) if v.id == volume_id]
    return found[0].status if found else "gone"


def test_a_volume_is_served_only_by_its_own_backend(lab):
    conn = connect(lab)
    services = {(s.binary, s.host): s.state for s in conn.block_storage.services()}
    assert services[("cinder-volume", JUNO_BACKEND)] == "up"
    volume = next(v for v in conn.block_storage.volumes(details=True, all_projects=True) if v.status == "available")
    assert volume.host.split("#")[0] == JUNO_BACKEND
    # The volumes claim the Kilo backend name, which no cinder-volume of this Juno env reports under.
    _update_host(lab, JUNO_BACKEND, KILO_BACKEND)
    assert conn.block_storage.get_volume(volume.id).host == KILO_BACKEND
    conn.block_storage.delete_volume(volume.id)
    assert wait_for(lambda: _status(conn, volume.id) == "error_deleting", "the delete to fail")
    # Moved back to the backend that serves them, the volume can be deleted.
    _update_host(lab, KILO_BACKEND, JUNO_BACKEND)
    conn.block_storage.delete_volume(volume.id)
    assert wait_for(lambda: _status(conn, volume.id) == "gone", "the volume to be deleted")
