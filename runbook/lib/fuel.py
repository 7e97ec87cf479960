"""The Fuel master through python-fuelclient 11.0.0: envs, nodes, releases, tasks, extensions, upgrade calls, waits.

Knows nothing of the upgrade; it only makes fuelclient safe to use from a
long-running program:

- PyYAML 6: fuelclient reads its settings with `yaml.load(text)` (no Loader),
  which PyYAML 6 refuses; its settings module gets a `yaml` whose `load`
  defaults to the safe loader.
- Settings: `fuelclient.client` builds `DefaultAPIClient` when first imported
  and object methods (`get_by_id`, disks, facts, ...) always use it, whatever
  connection was given. So before that import FUELCLIENT_CUSTOM_SETTINGS names
  a private temporary settings file (nothing is written to `~/.config`), and
  afterwards the singleton is re-initialised in place with the target's
  address and credentials: every facade, listing or object, then talks to the
  one configured master. One Fuel master per process, as with fuelclient itself.
- Timeouts: fuelclient sets `session.timeout`, which requests ignores, and
  probes `/version` with a bare `requests.get`. The probe is done here, the
  keystone client is built with a timeout, and the session gets an adapter
  whose requests all carry (connect, read) timeouts.
- Errors: HTTP errors become `FuelError` with Nailgun's `message` and a fix,
  timeouts `RemoteTimeout`, refused connections `UnreachableError`. The
  password is never part of any of them (and is registered with redact).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests
import yaml
from requests.adapters import HTTPAdapter
from tenacity import RetryError, retry_if_result, stop_after_delay, wait_fixed

from runbook import redact
from runbook.errors import FuelError, RemoteTimeout, UnreachableError
from runbook.lib import waits

if TYPE_CHECKING:
    from runbook.config import Target

log = logging.getLogger(__name__)

T = TypeVar("T")
Timeout = tuple[float, float]

DEFAULT_TIMEOUT: Timeout = (5.0, 60.0)  # connect, read (seconds); big envs' deployment info is slow
DEFAULT_POLL = 0.5  # seconds between polls of a wait: a GET of a task or the node list is cheap
DEFAULT_OFFLINE_GRACE = 900.0  # a provisioning reboot keeps a node offline for minutes

_load_lock = threading.Lock()


# --------------------------------------------------------------------------- fuelclient loading


def _safe_yaml() -> types.ModuleType:
    """`yaml` as fuelclient's settings module sees it: `load` without a Loader is a safe load."""
    shim = types.ModuleType("yaml")
    shim.__dict__.update({k: v for k, v in vars(yaml).items() if not k.startswith("__")})

    def load(stream: Any, Loader: Any = None, **kwargs: Any) -> Any:  # noqa: N803 - yaml's own name
        return yaml.load(stream, Loader=Loader or yaml.SafeLoader, **kwargs)

    shim.load = load  # type: ignore[attr-defined]
    return shim


def _import_fuelclient(address: str, port: int, username: str, tenant: str) -> types.ModuleType:
    """`fuelclient.client`, first imported with settings from a private temporary file.

    The file holds no password: the singleton is re-initialised with it right
    after (see `_configure`), so the secret is never written to disk here.
    """
    import fuelclient.fuelclient_settings as fc_settings  # no yaml.load at import

    fc_settings.yaml = _safe_yaml()
    if "fuelclient.client" in sys.modules:
        return sys.modules["fuelclient.client"]
    folder = tempfile.mkdtemp(prefix="octane-fuelclient-")  # 0700
    saved = os.environ.get("FUELCLIENT_CUSTOM_SETTINGS")
    try:
        path = Path(folder) / "fuel_client.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump({
                "SERVER_ADDRESS": address, "SERVER_PORT": str(port), "OS_USERNAME": username,
                "OS_PASSWORD": None, "OS_TENANT_NAME": tenant, "HTTP_PROXY": None,
                "HTTP_TIMEOUT": DEFAULT_TIMEOUT[1],
            }, handle)
        # With a custom settings file set, fuelclient never copies its defaults to ~/.config.
        os.environ["FUELCLIENT_CUSTOM_SETTINGS"] = str(path)
        fc_settings._SETTINGS = None
        import fuelclient.client as fc_client
        return fc_client
    finally:
        if saved is None:
            os.environ.pop("FUELCLIENT_CUSTOM_SETTINGS", None)
        else:
            os.environ["FUELCLIENT_CUSTOM_SETTINGS"] = saved
        shutil.rmtree(folder, ignore_errors=True)


class TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request a (connect, read) timeout unless it has one."""

    def __init__(self, timeout: Timeout, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def timed_session(timeout: Timeout) -> requests.Session:
    session = requests.Session()
    adapter = TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------- errors


_FIXES = {
    400: "the master refused the request as invalid: correct what the message names and retry",
    401: "check the Fuel user and password the target names (fuel.username, fuel.password_file/_env)",
    403: "give the Fuel user the admin role, or use the admin account",
    404: "check the id: list what exists with `fuel2 env list` / `fuel2 node list` / `fuel2 task list`",
    409: "wait until the running task of the environment ends (`fuel2 task list`), then retry",
}
_FIX_5XX = "look at the master's Nailgun log (/var/log/nailgun/app.log), then retry"


def _http_error(what: str, exc: BaseException) -> FuelError:
    # fuelclient raises its HTTPError inside the handler of requests' one, which has the response.
    # (A Response is falsy when it is an error: compare with None.)
    response = getattr(exc, "response", None)
    if response is None:
        response = getattr(exc.__context__, "response", None)
    status = getattr(response, "status_code", None)
    message = None
    if response is not None:
        try:
            body = response.json()
            message = body.get("message") if isinstance(body, dict) else None
        except ValueError:
            message = None
        message = message or (response.text or "").strip()[:300] or response.reason
    text = redact.redact(f"Fuel refused {what}: {message or exc} (HTTP {status})")
    fix = _FIXES.get(status or 0, _FIX_5XX if (status or 0) >= 500 else "see the message")
    error = FuelError(text, fix)
    error.status = status  # type: ignore[attr-defined]
    return error


# --------------------------------------------------------------------------- the client


class FuelClient:
    """One Fuel master: reads, the cluster_upgrade calls, provision/deploy and waits."""

    def __init__(self, address: str, port: int, username: str, tenant: str, password: str, *,
                 timeout: Timeout = DEFAULT_TIMEOUT, poll_interval: float = DEFAULT_POLL,
                 offline_grace: float = DEFAULT_OFFLINE_GRACE) -> None:
        redact.register(password)
        self.address, self.port, self.username, self.tenant = address, int(port), username, tenant
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.offline_grace = offline_grace
        with _load_lock:
            self._fc_client = _import_fuelclient(address, self.port, username, tenant)
            import fuelclient
            from fuelclient.cli import error as fc_error
            self._fuelclient, self._fc_error = fuelclient, fc_error
            self.api = self._fc_client.DefaultAPIClient
            self._configure(password)

    @classmethod
    def from_target(cls, target: Target, **kwargs: Any) -> FuelClient:
        f = target.fuel
        return cls(f.address, f.port, f.username, f.tenant, f.password, **kwargs)

    @property
    def where(self) -> str:
        return f"Fuel master {self.address}:{self.port}"

    def _configure(self, password: str) -> None:
        """Point fuelclient's singleton at this master, authenticated, with timeouts everywhere."""
        api = self.api
        api.__init__(self.address, self.port, http_proxy=None, http_timeout=self.timeout[1],
                     os_username=self.username, os_password=password, os_tenant_name=self.tenant)
        probe = timed_session(self.timeout)
        version = self._call("GET /api/v1/version", lambda: probe.get(api.api_root + "version"))
        if version.status_code == 401:
            api._auth_required = True
        else:
            if version.status_code >= 400:
                raise _http_error("GET /api/v1/version", _Status(version))
            api._auth_required = bool(version.json().get("auth_required", False))
        if api._auth_required:
            from keystoneclient.v2_0 import client as ks_client

            def authenticate() -> Any:
                ks = ks_client.Client(auth_url=api.keystone_base, username=self.username,
                                      password=password, tenant_name=self.tenant,
                                      timeout=self.timeout[1])
                ks.session.auth = ks  # as fuelclient's own initialize_keystone_client does
                ks.authenticate()
                return ks

            api._keystone_client = self._call("authentication (POST /keystone/v2.0/tokens)", authenticate)
        session = api._make_session()
        adapter = TimeoutAdapter(self.timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        api._session = session

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request; its failure as the runbook's error naming the master and the fix."""
        from keystoneauth1 import exceptions as ka_exc
        from keystoneclient import exceptions as ks_exc

        timeouts = (requests.Timeout, ka_exc.ConnectTimeout, ka_exc.RequestTimeout)
        unreachable = (requests.ConnectionError, ka_exc.ConnectFailure)
        try:
            return fn()
        except self._fc_error.HTTPError as exc:
            raise _http_error(what, exc) from None
        except (ks_exc.Unauthorized, ka_exc.Unauthorized):
            raise FuelError(f"{self.where} refused the credentials of user {self.username!r} "
                            f"(tenant {self.tenant!r}) for {what}", _FIXES[401]) from None
        except (*timeouts, *unreachable, ka_exc.AuthorizationFailure) as exc:
            # keystoneclient wraps a timed-out or refused token request in AuthorizationFailure.
            cause = _root_cause(exc, (*timeouts, *unreachable))
            if isinstance(cause, timeouts):
                raise RemoteTimeout(
                    f"{self.where} did not answer {what} within {self.timeout[1]:g} s "
                    f"({type(cause).__name__})",
                    "check that Nailgun runs on the master (`fuel2 env list` there) and retry; "
                    "raise the timeout if the master is merely slow") from None
            if isinstance(cause, unreachable):
                raise UnreachableError(
                    f"{self.where} cannot be reached for {what}: {type(cause).__name__}",
                    "check fuel.address/fuel.port in the target and that the master is up") from None
            raise FuelError(redact.redact(f"{self.where}: {what} failed: {exc}"), _FIXES[401]) from None
        except self._fc_error.FuelClientException as exc:
            raise FuelError(redact.redact(f"{self.where}: {what} failed: {exc}"), "see the message") from None

    def _facade(self, resource: str) -> Any:
        return self._fuelclient.get_client(resource, connection=self.api)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call(f"GET {path}", lambda: self.api.get_request(path, params=params))

    def _put(self, path: str, data: Any) -> Any:
        return self._call(f"PUT {path}", lambda: self.api.put_request(path, data))

    def _post(self, path: str, data: Any) -> Any:
        return self._call(f"POST {path}", lambda: self.api.post_request(path, data))

    # ------------------------------------------------------------------ master

    def master_version(self) -> dict[str, Any]:
        """`GET version`: {release, api, openstack_version, feature_groups, auth_required}."""
        return self._call("GET version", self.api.get_fuel_version)

    # ------------------------------------------------------------------ envs

    def envs(self) -> list[dict[str, Any]]:
        return sorted(self._call("GET clusters/", self._facade("environment").get_all),
                      key=lambda e: e["id"])

    def env(self, env_id: int) -> dict[str, Any]:
        return self._call(f"GET clusters/{env_id}/",
                          lambda: self._facade("environment").get_by_id(env_id))

    def env_attributes(self, env_id: int) -> dict[str, Any]:
        return self._call(f"GET clusters/{env_id}/attributes",
                          lambda: self._facade("environment").get_settings(env_id))

    def put_env_attributes(self, env_id: int, attributes: dict[str, Any]) -> None:
        self._call(f"PUT clusters/{env_id}/attributes",
                   lambda: self._facade("environment").set_settings(env_id, attributes))

    def network_configuration(self, env_id: int) -> dict[str, Any]:
        return self._call(f"GET clusters/{env_id}/network_configuration/neutron",
                          lambda: self._facade("environment").get_network_configuration(env_id))

    # ------------------------------------------------------------------ nodes

    def nodes(self, env_id: int | None = None) -> list[dict[str, Any]]:
        """Every node, or those of one env; sorted by id."""
        what = "GET nodes/" + (f"?cluster_id={env_id}" if env_id is not None else "")
        nodes = self._call(what, lambda: self._facade("node").get_all(environment_id=env_id))
        return sorted(nodes, key=lambda n: n["id"])

    def node(self, node_id: int) -> dict[str, Any]:
        return self._call(f"GET nodes/{node_id}/", lambda: self._facade("node").get_by_id(node_id))

    def node_by_hostname(self, hostname: str) -> dict[str, Any]:
        for node in self.nodes():
            if hostname in (node.get("hostname"), node.get("name")) \
                    or (node.get("fqdn") or "").split(".")[0] == hostname:
                return node
        raise FuelError(f"{self.where} knows no node named {hostname!r}",
                        "list the nodes with `fuel2 node list` and use one of their hostnames")

    def disks(self, node_id: int) -> list[dict[str, Any]]:
        return self._call(f"GET nodes/{node_id}/disks/", lambda: self._facade("node").get_disks(node_id))

    def put_disks(self, node_id: int, disks: list[dict[str, Any]]) -> Any:
        return self._call(f"PUT nodes/{node_id}/disks/",
                          lambda: self._facade("node").set_disks(node_id, disks))

    def keep_data(self, node_id: int, volumes: Iterable[str]) -> list[dict[str, Any]]:
        """Mark the named volumes keep_data (their data survives a reprovision); the disks as set."""
        wanted = set(volumes)
        disks = self.disks(node_id)
        found = set()
        for disk in disks:
            for volume in disk.get("volumes", []):
                if volume.get("name") in wanted:
                    volume["keep_data"] = True
                    found.add(volume["name"])
        missing = sorted(wanted - found)
        if missing:
            have = sorted({v.get("name") for d in disks for v in d.get("volumes", [])})
            raise FuelError(f"node {node_id} has no volume {', '.join(missing)} on its disks",
                            f"name volumes it has: {', '.join(have)}")
        self.put_disks(node_id, disks)
        return self.disks(node_id)

    def interfaces(self, node_id: int) -> list[dict[str, Any]]:
        return self._call(f"GET nodes/{node_id}/interfaces/",
                          lambda: self._facade("node").get_interfaces(node_id))

    # ------------------------------------------------------------------ releases

    def releases(self) -> list[dict[str, Any]]:
        return sorted(self._call("GET releases/", self._facade("release").get_all),
                      key=lambda r: r["id"])

    def release_by_version(self, version: str, operating_system: str | None = None) -> dict[str, Any]:
        """The release of that exact version ("2015.1.0-7.0"), on that OS if several match."""
        found = [r for r in self.releases() if r.get("version") == version
                 and (operating_system is None
                      or (r.get("operating_system") or "").lower() == operating_system.lower())]
        if len(found) == 1:
            return found[0]
        have = ", ".join(f"{r['id']} {r.get('version')} {r.get('operating_system')}" for r in self.releases())
        if not found:
            raise FuelError(f"{self.where} has no release {version}"
                            + (f" for {operating_system}" if operating_system else ""),
                            f"install the release on the master (it has: {have})")
        raise FuelError(f"{self.where} has {len(found)} releases {version}; which one is ambiguous",
                        f"name the operating system (it has: {have})")

    # ------------------------------------------------------------------ tasks

    def task(self, task_id: int) -> dict[str, Any]:
        return self._call(f"GET transactions/{task_id}/", lambda: self._facade("task").get_by_id(task_id))

    def tasks(self, env_id: int | None = None) -> list[dict[str, Any]]:
        tasks = self._call("GET transactions/", self._facade("task").get_all)
        return sorted((t for t in tasks if env_id is None or t.get("cluster") == env_id),
                      key=lambda t: t["id"])

    # ------------------------------------------------------------------ deployment

    def provision_nodes(self, env_id: int, node_ids: list[int]) -> dict[str, Any]:
        """Start provisioning of nodes of an env; the task."""
        ids = ",".join(str(i) for i in node_ids)
        return self._call(f"PUT clusters/{env_id}/provision/?nodes={ids}",
                          lambda: self._facade("environment").provision_nodes(env_id, node_ids))

    def assign_nodes(self, env_id: int, node_ids: list[int], roles: list[str]) -> list[dict[str, Any]]:
        """Give unallocated nodes to an env with `roles` pending (clusters/<id>/assignment); the nodes."""
        data = [{"id": int(i), "roles": list(roles)} for i in node_ids]
        return self._post(f"clusters/{env_id}/assignment/", data)

    def deploy_nodes(self, env_id: int, node_ids: list[int]) -> dict[str, Any]:
        """Start deployment of nodes of an env; the task."""
        ids = ",".join(str(i) for i in node_ids)
        return self._call(f"PUT clusters/{env_id}/deploy/?nodes={ids}",
                          lambda: self._facade("environment").deploy_nodes(env_id, node_ids))

    def deployment_info_defaults(self, env_id: int, node_ids: list[int] | None = None) -> list[dict[str, Any]]:
        """The deployment info Nailgun would send (orchestrator/deployment/defaults)."""
        params = {"nodes": ",".join(str(i) for i in node_ids)} if node_ids else None
        return self._get(f"clusters/{env_id}/orchestrator/deployment/defaults/", params)

    def deployment_info(self, env_id: int) -> list[dict[str, Any]]:
        """The deployment info uploaded by the operator (empty when none was)."""
        return self._get(f"clusters/{env_id}/orchestrator/deployment/")

    def upload_deployment_info(self, env_id: int, info: list[dict[str, Any]]) -> None:
        self._call(f"PUT clusters/{env_id}/orchestrator/deployment/",
                   lambda: self._facade("environment").upload_facts(env_id, "deployment", info))

    # ------------------------------------------------------------------ extensions

    def installed_extensions(self) -> list[dict[str, Any]]:
        """The extensions installed on the master: {name, version, description, provides}; by name."""
        return sorted(self._call("GET extensions/", self._facade("extension").get_all),
                      key=lambda e: e["name"])

    def env_extensions(self, env_id: int) -> list[str]:
        """The names of the extensions enabled for an env."""
        # Not the facade: its get_by_id joins the names into one string for `fuel2 env extension show`.
        return self._get(f"clusters/{env_id}/extensions/")

    def enable_extensions(self, env_id: int, names: Iterable[str]) -> list[str]:
        """Enable extensions for an env (those already enabled stay); the names now enabled."""
        wanted = list(names)
        return self._call(f"PUT clusters/{env_id}/extensions/",
                          lambda: self._facade("extension").enable_extensions(env_id, wanted))

    def disable_extensions(self, env_id: int, names: Iterable[str]) -> None:
        """Disable extensions of an env.

        Nailgun refuses (400) a name the env does not have enabled: a caller that
        may run twice reads `env_extensions` first.
        """
        wanted = list(names)
        self._call(f"DELETE clusters/{env_id}/extensions/?extension_names={','.join(wanted)}",
                   lambda: self._facade("extension").disable_extensions(env_id, wanted))

    # ------------------------------------------------------------------ cluster_upgrade extension

    def upgrade_clone(self, env_id: int, name: str, release_id: int) -> dict[str, Any]:
        """Clone an env into a new (seed) env of `release_id`; the new env."""
        return self._post(f"clusters/{env_id}/upgrade/clone/", {"name": name, "release_id": release_id})

    def upgrade_assign(self, seed_id: int, node_ids: list[int], *, reprovision: bool = True,
                       roles: list[str] | None = None) -> Any:
        """Move nodes of the original env to the seed; the provisioning task when reprovisioning."""
        data: dict[str, Any] = {"nodes_ids": list(node_ids), "reprovision": reprovision}
        if roles is not None:
            data["roles"] = list(roles)
        return self._post(f"clusters/{seed_id}/upgrade/assign/", data)

    def kept_volumes(self, node_id: int) -> dict[str, bool]:
        """{volume name: keep_data} over the node's disks (the OS volume is never kept)."""
        return {v["name"]: bool(v.get("keep_data")) for d in self.disks(node_id) for v in d.get("volumes", [])}

    def reassign(self, seed_id: int, node_ids: list[int], *,
                 keep: dict[int, list[str]] | None = None) -> dict[str, Any]:
        """Move nodes of the original env to the seed and reprovision them with the seed's release; the
        provisioning task.

        Provisioning wipes every partition not marked keep_data, so the volumes `keep` names per node
        are marked first and read back: a node whose mark did not hold is refused before the move."""
        for node_id, volumes in sorted((keep or {}).items()):
            self.keep_data(node_id, volumes)
            kept = self.kept_volumes(node_id)
            lost = sorted(v for v in volumes if not kept.get(v))
            if lost:
                raise FuelError(f"node {node_id}: keep_data did not hold on {', '.join(lost)} ({kept})",
                                "check the node's disks on the master (`fuel2 node disks`); nothing was moved")
        task = self.upgrade_assign(seed_id, node_ids, reprovision=True)
        if not isinstance(task, dict) or "id" not in task:
            raise FuelError(f"{self.where}: upgrade/assign of nodes {node_ids} to env {seed_id} started no "
                            f"provisioning task (answer: {str(task)[:200]})",
                            "check the cluster_upgrade extension's version on the master")
        return task

    def running_task(self, env_id: int, names: Iterable[str] = ("provision", "deploy", "deployment")
                     ) -> dict[str, Any] | None:
        """The env's newest task of those names still pending or running (one left by a run that died)."""
        wanted = set(names)
        return next((t for t in reversed(self.tasks(env_id))
                     if t.get("name") in wanted and t.get("status") in ("pending", "running")), None)

    def upgrade_vips(self, seed_id: int) -> list[dict[str, Any]]:
        """Give the seed the original env's VIPs; the VIPs."""
        return self._post(f"clusters/{seed_id}/upgrade/vips/", None)

    # ------------------------------------------------------------------ waits

    def _until(self, what: str, timeout: float, probe: Callable[[], T | None],
               state: Callable[[], str], fix: str, poll: float | None) -> T:
        """Poll `probe` until it returns a value, raises, or `timeout` seconds pass.

        A poll the master did not answer (timeout, refused) is retried until the
        deadline: a master busy or restarting must not fail a long wait.
        """
        last_error: list[BaseException] = []

        def attempt() -> T | None:
            try:
                return probe()
            except (RemoteTimeout, UnreachableError) as exc:
                last_error[:] = [exc]
                log.debug("polling %s: %s", what, exc)
                return None

        retrying = waits.retrying(what, detail=state, stop=stop_after_delay(timeout),
                            wait=wait_fixed(self.poll_interval if poll is None else poll),
                            retry=retry_if_result(lambda result: result is None))
        try:
            return retrying(attempt)  # type: ignore[return-value]
        except RetryError:
            detail = f"last poll failed: {last_error[0]}" if last_error else state()
            raise RemoteTimeout(f"{self.where}: waited {timeout:g} s for {what}; {detail}", fix) from None

    def wait_task(self, task_id: int, timeout: float, *, nodes: Iterable[int] = (),
                  poll: float | None = None, offline_grace: float | None = None,
                  on_poll: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Wait for a task to be ready; FuelError when it ends in error or a watched node stays offline.
        `on_poll(task)` sees each reading (a caller journaling the progress of a long wait)."""
        watch = sorted(set(nodes))
        offline = _OfflineWatch(self.offline_grace if offline_grace is None else offline_grace)
        seen: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            task = self.task(task_id)
            seen.update(task)
            if on_poll is not None:
                on_poll(task)
            if task["status"] == "ready":
                return task
            if task["status"] == "error":
                raise FuelError(
                    f"task {task_id} ({task.get('name')}) of env {task.get('cluster')} ended in error: "
                    f"{task.get('message') or 'no message'}",
                    "read the task's message and the nodes' logs on the master; "
                    "fix the cause, then run the step again")
            if watch:
                offline.check([n for n in self.nodes() if n["id"] in watch], f"task {task_id}")
            return None

        def state() -> str:
            return (f"task {task_id} ({seen.get('name')}) is {seen.get('status')} "
                    f"at {seen.get('progress')}%") if seen else "the task was never read"

        where = f" on node(s) {', '.join(map(str, watch))}" if watch else ""
        return self._until(f"task {task_id}{where}", timeout, probe, state,
                           "look at the task on the master (`fuel2 task show "
                           f"{task_id}`); wait longer or fix what holds it", poll)

    def wait_nodes(self, node_ids: Iterable[int], status: str | Iterable[str], timeout: float, *,
                   poll: float | None = None, offline_grace: float | None = None) -> list[dict[str, Any]]:
        """Wait until every node has `status` (one of several); FuelError on error or lost nodes."""
        ids = sorted(set(node_ids))
        wanted = {status} if isinstance(status, str) else set(status)
        offline = _OfflineWatch(self.offline_grace if offline_grace is None else offline_grace)
        seen: dict[int, dict[str, Any]] = {}

        def probe() -> list[dict[str, Any]] | None:
            nodes = {n["id"]: n for n in self.nodes() if n["id"] in ids}
            missing = [i for i in ids if i not in nodes]
            if missing:
                raise FuelError(f"{self.where} no longer knows node(s) {', '.join(map(str, missing))}",
                                "check `fuel2 node list`: a removed node cannot reach a status")
            seen.update(nodes)
            failed = [n for n in nodes.values() if n["status"] == "error" and "error" not in wanted]
            if failed:
                raise FuelError(
                    "node(s) in error: " + ", ".join(
                        f"{n['hostname']} (id {n['id']}, error_type {n.get('error_type')})" for n in failed),
                    "read the nodes' logs on the master (/var/log/docker-logs/remote/<node>/), "
                    "fix the cause, then provision/deploy them again")
            if all(n["status"] in wanted for n in nodes.values()):
                return [nodes[i] for i in ids]
            offline.check(list(nodes.values()), f"nodes to become {'/'.join(sorted(wanted))}")
            return None

        def state() -> str:
            lagging = [n for n in seen.values() if n["status"] not in wanted]
            return "still " + ", ".join(
                f"{n['hostname']} {n['status']} {n.get('progress', 0)}%" for n in lagging) if lagging \
                else "the nodes were never read"

        return self._until(f"node(s) {', '.join(map(str, ids))} to become {'/'.join(sorted(wanted))}",
                           timeout, probe, state,
                           "look at the nodes and tasks on the master (`fuel2 node list`, "
                           "`fuel2 task list`); wait longer or fix what holds them", poll)


class _OfflineWatch:
    """Which nodes went offline when; a node offline past the grace period ends the wait."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.since: dict[int, float] = {}

    def check(self, nodes: list[dict[str, Any]], waiting_for: str) -> None:
        now = time.monotonic()
        for node in nodes:
            if node.get("online", True):
                self.since.pop(node["id"], None)
                continue
            start = self.since.setdefault(node["id"], now)
            if now - start > self.grace:
                raise FuelError(
                    f"{node.get('hostname')} (id {node['id']}) has been offline for more than "
                    f"{self.grace:g} s (status {node.get('status')}) while waiting for {waiting_for}",
                    "check the node's power and console, and its admin network link to the master")


def _root_cause(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException:
    """The first exception of `kinds` along the chain of causes, else `exc` itself."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


class _Status(Exception):
    """An error answer read outside fuelclient (the version probe), for `_http_error`."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
