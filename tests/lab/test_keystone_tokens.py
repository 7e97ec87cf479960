"""Keystone's token persistence follows keystone.conf: Fuel's memcache driver, or the SQL table.

Fuel 6.1/7.0 keep tokens in memcached: issuing one writes nothing to MySQL, so
with every controller's MySQL read-only (stage 3's maintenance) keystone still
issues tokens and GETs work, while a write through an API is refused by the
database. Without the driver (keystone's SQL default), a token is a row and a
read-only server refuses to issue one.
"""

from __future__ import annotations

import pytest
from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from tests.lab.cloudkit import connect
from tests.lab.seedkit import CONTROLLERS, ok

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
CONF = "/etc/keystone/keystone.conf"


def token_rows(lab, token: str) -> int:
    """Rows of keystone's token table holding `token` (the tenant traffic logs in too: count ours only)."""
    sql = f"SELECT COUNT(*) FROM keystone.token WHERE id = '{token}'"
    return int(ok(lab, "node-1", f'mysql -N -e "{sql}"').strip())


def read_only(lab, on: bool) -> None:
    for host in CONTROLLERS:
        ok(lab, host, f"mysql -e 'SET GLOBAL read_only={'ON' if on else 'OFF'}'")


def test_deployed_keystone_keeps_tokens_in_memcached(lab):
    conf = ok(lab, "node-1", f"cat {CONF}")
    assert "driver = keystone.token.persistence.backends.memcache_pool.Token" in conf
    assert "[memcache]" in conf and ":11211" in conf
    conn = connect(lab)
    assert list(conn.compute.servers(all_projects=True))
    assert token_rows(lab, conn.auth_token) == 0, "a memcache token became a database row"
    read_only(lab, True)
    fresh = connect(lab)  # a new token while every server is read-only
    assert list(fresh.compute.servers(all_projects=True))
    with pytest.raises(sdk_exc.HttpException) as refused:
        fresh.compute.create_keypair(name="written-while-read-only")
    assert "read-only" in str(refused.value)


def test_sql_token_driver_writes_rows_and_is_bound_by_read_only(lab):
    for host in CONTROLLERS:
        ok(lab, host, f"sed -i '/^driver = keystone.token.persistence/d' {CONF}")
    conn = connect(lab)
    assert list(conn.compute.servers(all_projects=True))
    assert token_rows(lab, conn.auth_token) == 1
    read_only(lab, True)
    with pytest.raises(ks_exc.InternalServerError) as refused:  # keystone cannot store the token
        list(connect(lab).compute.servers(all_projects=True))
    assert "read-only" in str(refused.value)
