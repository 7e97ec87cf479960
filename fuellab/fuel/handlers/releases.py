"""Releases and the master's version."""

from __future__ import annotations

from aiohttp import web

from fuellab import releases as catalogue
from fuellab.fuel import serializers
from fuellab.fuel.handlers.common import API, lab_of, ok, release_or_404


async def version(request: web.Request) -> web.Response:
    world = lab_of(request).world
    master = str(world.meta.get("master_version", "7.0"))
    return ok({
        "release": master,
        "api": "1",
        "build_number": "301",
        "build_id": "301",
        "feature_groups": ["experimental", "advanced"],
        "openstack_version": catalogue.KILO,
        "auth_required": True,
        "release_versions": {},
    })


async def list_releases(request: web.Request) -> web.Response:
    world = lab_of(request).world
    return ok([serializers.release(r) for r in sorted(world.releases.values(), key=lambda r: r.id)])


async def get_release(request: web.Request) -> web.Response:
    return ok(serializers.release(release_or_404(request)))


ROUTES = [
    ("GET", f"{API}/version", version),
    ("GET", f"{API}/releases", list_releases),
    ("GET", API + r"/releases/{release_id:\d+}", get_release),
]
