"""The master's keystone v2.0 at /keystone/v2.0: the token dance python-fuelclient does.

fuelclient (through keystoneclient's v2.0 client) posts passwordCredentials,
then posts again with the token it got, and sends the last token as
X-Auth-Token for the life of its session: it never refreshes. Tokens are
therefore long-lived. They are kept as SHA-256 digests in `<lab dir>/fuel_tokens`
(0600), outside the world: a token is the master's, not the datacenter's, so it
survives `fuellab down` / `up` and snapshot restores alike (a restore rolls the
datacenter back, not the operator's login).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fuellab import clientfiles
from fuellab.fuel.errors import error_response, read_json
from fuellab.lab import write_secret_file

if TYPE_CHECKING:
    from fuellab.lab import Lab

MAX_KEPT = 500  # digests kept; older tokens die (fuelclient never renews)
TOKEN_LIFE = dt.timedelta(days=3650)
USER_ID = "fuel-admin"
TENANT_ID = "fuel-admin-tenant"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, lab: Lab) -> None:
        self.path = lab.dir / "fuel_tokens"
        self._digests: list[str] = (
            self.path.read_text().split() if self.path.exists() else []
        )
        self._known = set(self._digests)

    def issue(self) -> str:
        token = secrets.token_hex(20)
        digest = _digest(token)
        self._digests.append(digest)
        del self._digests[:-MAX_KEPT]
        self._known = set(self._digests)
        write_secret_file(self.path, "\n".join(self._digests) + "\n")
        return token

    def valid(self, token: str | None) -> bool:
        return bool(token) and _digest(token) in self._known


def _password_ok(lab: Lab, creds: dict[str, Any]) -> bool:
    user = str(creds.get("username", ""))
    password = str(creds.get("password", ""))
    expected = lab.secrets.get(clientfiles.FUEL_PASSWORD)
    return user == clientfiles.FUEL_USER and hmac.compare_digest(password.encode(), expected.encode())


def _unauthorized(message: str) -> web.Response:
    # keystoneclient reads error.message; fuelclient-style callers read message.
    return error_response(401, message, error={"message": message, "code": 401, "title": "Unauthorized"})


async def tokens(request: web.Request) -> web.Response:
    lab: Lab = request.app["lab"]
    store: TokenStore = request.app["tokens"]
    body = await read_json(request, (dict,))
    auth = body.get("auth")
    if not isinstance(auth, dict):
        return error_response(400, "expected {\"auth\": {...}}",
                              error={"message": "expected auth", "code": 400, "title": "Bad Request"})
    tenant = auth.get("tenantName") or auth.get("tenantId")
    if tenant not in (None, clientfiles.FUEL_TENANT, TENANT_ID):
        return _unauthorized(f"user has no access to tenant {tenant!r}")
    if isinstance(auth.get("passwordCredentials"), dict):
        if not _password_ok(lab, auth["passwordCredentials"]):
            return _unauthorized("The request you have made requires authentication: invalid username or password")
    elif isinstance(auth.get("token"), dict):
        if not store.valid(auth["token"].get("id")):
            return _unauthorized("The request you have made requires authentication: invalid token")
    else:
        return _unauthorized("no passwordCredentials or token given")
    token = store.issue()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    tenant_doc = {"id": TENANT_ID, "name": clientfiles.FUEL_TENANT, "enabled": True, "description": None}
    access = {
        "token": {
            "id": token,
            "issued_at": now.isoformat().replace("+00:00", "Z"),
            "expires": (now + TOKEN_LIFE).isoformat().replace("+00:00", "Z"),
            **({"tenant": tenant_doc} if tenant else {}),
        },
        "serviceCatalog": [],
        "user": {"id": USER_ID, "name": clientfiles.FUEL_USER, "username": clientfiles.FUEL_USER,
                 "roles": [{"name": "admin"}], "roles_links": []},
        "metadata": {"is_admin": 0, "roles": []},
    }
    return web.json_response({"access": access})


async def version(request: web.Request) -> web.Response:
    base = f"http://{request.host}/keystone/v2.0/"
    return web.json_response({"version": {
        "id": "v2.0", "status": "stable", "updated": "2014-04-17T00:00:00Z",
        "links": [{"rel": "self", "href": base}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v2.0+json"}],
    }})


ROUTES = [
    ("POST", "/keystone/v2.0/tokens", tokens),
    ("GET", "/keystone/v2.0", version),
]
