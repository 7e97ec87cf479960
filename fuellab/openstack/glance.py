"""Glance's image API v2 over the env's glance database.

Images are the `images` rows with their custom properties and tags; a
listing pages as glance does (default 25, `next` while a full page came back).
A created image is `queued` (no data uploaded); a deleted one is marked
deleted, as glance's soft delete does.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid as uuidlib
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from fuellab.openstack.common import (
    Api,
    ApiError,
    Ctx,
    base_url,
    empty,
    insert,
    iso,
    json_response,
    read_body,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
CORE = ("id", "name", "status", "visibility", "protected", "checksum", "owner", "size", "virtual_size",
        "min_ram", "min_disk", "disk_format", "container_format", "created_at", "updated_at", "tags",
        "self", "file", "schema", "locations", "direct_url")


async def versions(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    base = base_url(request)
    items = [{"id": f"v{v}", "status": "CURRENT" if v == "2.3" else "SUPPORTED",
              "links": [{"rel": "self", "href": f"{base}/v{v[0]}/"}]}
             for v in ("2.3", "2.2", "2.1", "2.0", "1.1", "1.0")]
    return json_response({"versions": items}, 300 if request.path in ("/", "") else 200)


def _visible(ctx: Ctx, row: sqlite3.Row) -> bool:
    admin = ctx.identity is not None and ctx.identity.is_admin
    return admin or bool(row["is_public"]) or row["owner"] == ctx.project_id


def _view(row: sqlite3.Row, props: dict[str, dict[str, Any]], tags: dict[str, list[str]]) -> dict[str, Any]:
    image_id = row["id"]
    view: dict[str, Any] = {
        "id": image_id, "name": row["name"], "status": row["status"],
        "visibility": "public" if row["is_public"] else "private", "protected": bool(row["protected"]),
        "checksum": row["checksum"], "owner": row["owner"], "size": row["size"],
        "virtual_size": row["virtual_size"], "min_ram": row["min_ram"], "min_disk": row["min_disk"],
        "disk_format": row["disk_format"], "container_format": row["container_format"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"] or row["created_at"]),
        "tags": tags.get(image_id, []), "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    for key, value in props.get(image_id, {}).items():
        view.setdefault(key, value)
    return view


def _lookups(conn: sqlite3.Connection) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    props: dict[str, dict[str, Any]] = {}
    for r in conn.execute("SELECT image_id, name, value FROM image_properties WHERE deleted = 0"):
        props.setdefault(r[0], {})[r[1]] = r[2]
    tags: dict[str, list[str]] = {}
    for r in conn.execute("SELECT image_id, value FROM image_tags WHERE deleted = 0 ORDER BY value"):
        tags.setdefault(r[0], []).append(r[1])
    return props, tags


async def list_images(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    query = request.query
    with ctx.read() as conn:
        found = [r for r in conn.execute("SELECT * FROM images WHERE deleted = 0 AND status <> 'deleted' "
                                         "ORDER BY created_at DESC, id DESC") if _visible(ctx, r)]
        props, tags = _lookups(conn)
    images = [_view(r, props, tags) for r in found]
    for key in ("name", "status", "visibility", "owner", "disk_format", "container_format"):
        if query.get(key):
            images = [i for i in images if str(i.get(key)) == query[key]]
    if query.get("tag"):
        images = [i for i in images if query["tag"] in i["tags"]]
    marker = query.get("marker")
    if marker:
        index = next((i for i, image in enumerate(images) if image["id"] == marker), None)
        if index is None:
            raise ApiError(400, f"Invalid marker. Image {marker} could not be found.")
        images = images[index + 1:]
    try:
        limit = min(int(query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
    except ValueError:
        raise ApiError(400, "limit param must be an integer") from None
    page = images[:limit]
    body: dict[str, Any] = {"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"}
    if page and len(page) == limit:
        rest = {k: v for k, v in query.items() if k not in ("marker",)}
        rest["marker"] = page[-1]["id"]
        body["next"] = f"/v2/images?{urlencode(rest)}"
    return json_response(body)


def _one(ctx: Ctx, conn: sqlite3.Connection, image_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM images WHERE id = ? AND deleted = 0 AND status <> 'deleted'",
                       (image_id,)).fetchone()
    if row is None or not _visible(ctx, row):
        raise ApiError(404, f"No image found with ID {image_id}")
    return row


async def get_image(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    with ctx.read() as conn:
        row = _one(ctx, conn, params["id"])
        return json_response(_view(row, *_lookups(conn)))


async def create_image(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    body = await read_body(request)
    image_id = str(body.get("id") or uuidlib.uuid4())
    visibility = body.get("visibility", "private")
    if visibility == "public" and not (ctx.identity and ctx.identity.is_admin):
        raise ApiError(403, "Forbidden to set image visibility to public")
    now = ctx.now()
    with ctx.write() as conn:
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
            raise ApiError(409, f"An image with identifier {image_id} already exists")
        insert(conn, "images", {
            "id": image_id, "name": body.get("name"), "size": None, "status": "queued",
            "is_public": int(visibility == "public"), "created_at": now, "updated_at": now, "deleted": 0,
            "disk_format": body.get("disk_format"), "container_format": body.get("container_format"),
            "owner": ctx.project_id, "min_disk": int(body.get("min_disk", 0)),
            "min_ram": int(body.get("min_ram", 0)), "protected": int(bool(body.get("protected"))),
        })
        for tag in body.get("tags") or []:
            insert(conn, "image_tags", {"image_id": image_id, "value": str(tag), "created_at": now, "deleted": 0})
        for key, value in body.items():
            if key in CORE or key == "tags":
                continue
            insert(conn, "image_properties", {"image_id": image_id, "name": key,
                                              "value": value if isinstance(value, str) else json.dumps(value),
                                              "created_at": now, "deleted": 0})
        row = conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        view = _view(row, *_lookups(conn))
    return json_response(view, 201, {"Location": f"{base_url(request)}/v2/images/{image_id}"})


async def delete_image(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    now = ctx.now()
    with ctx.write() as conn:
        row = _one(ctx, conn, params["id"])
        admin = ctx.identity is not None and ctx.identity.is_admin
        if row["owner"] != ctx.project_id and not admin:
            raise ApiError(403, "You are not permitted to delete this image.")
        if row["protected"]:
            raise ApiError(403, f"Image {params['id']} is protected and cannot be deleted.")
        conn.execute("UPDATE images SET status = 'deleted', deleted = 1, deleted_at = ?, updated_at = ? "
                     "WHERE id = ?", (now, now, params["id"]))
        conn.execute("UPDATE image_locations SET deleted = 1, deleted_at = ?, status = 'deleted' "
                     "WHERE image_id = ?", (now, params["id"]))
        stored = row["status"] == "active"
    if stored:
        from fuellab import ceph

        # glance's RBD store removes the data; a failure leaves it behind (glance only logs it)
        with contextlib.suppress(ceph.ClientError, ceph.DataError):
            ceph.client_on(ctx.lab, ctx.node, "client.images").rbd_remove("images", params["id"])
    return empty(204)


async def upload(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    """PUT image data: glance's RBD store writes it to Ceph pool `images` as client.images."""
    from fuellab import ceph

    with ctx.read() as conn:
        row = _one(ctx, conn, params["id"])
    if row["status"] != "queued":
        raise ApiError(409, f"Image status transition from {row['status']} to saving is not allowed")
    data = await request.read()
    try:
        client = ceph.client_on(ctx.lab, ctx.node, "client.images")
        checksum = client.create_rbd("images", row["id"], len(data), data)
    except (ceph.ClientError, ceph.DataError) as exc:
        raise ApiError(500, f"Error in store configuration. Adding images to store is disabled: {exc}") from None
    now = ctx.now()
    fsid = ctx.cluster.generated.get("ceph", {}).get("fsid", "")
    with ctx.write() as conn:
        conn.execute("UPDATE images SET status = 'active', size = ?, checksum = ?, updated_at = ? WHERE id = ?",
                     (len(data), checksum, now, row["id"]))
        insert(conn, "image_locations", {"image_id": row["id"], "value": f"rbd://{fsid}/images/{row['id']}/snap",
                                         "created_at": now, "deleted": 0, "meta_data": "{}", "status": "active"})
    return empty(204)


async def download(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    from fuellab import ceph

    with ctx.read() as conn:
        row = _one(ctx, conn, params["id"])
    if row["status"] != "active":
        raise ApiError(403, f"The requested image has status {row['status']} and cannot be downloaded.")
    try:
        data = ceph.client_on(ctx.lab, ctx.node, "client.images").rbd_read("images", row["id"])
    except (ceph.ClientError, ceph.DataError) as exc:
        raise ApiError(503, f"Image data is not available: {exc}") from None
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-MD5": row["checksum"] or ""})


def _schema(name: str) -> dict[str, Any]:
    props = {key: {"type": ["null", "string"]} for key in CORE}
    props.update({"size": {"type": ["null", "integer"]}, "min_ram": {"type": "integer"},
                  "min_disk": {"type": "integer"}, "protected": {"type": "boolean"},
                  "tags": {"type": "array", "items": {"type": "string"}}})
    image = {"name": "image", "properties": props, "additionalProperties": {"type": "string"},
             "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                       {"rel": "describedby", "href": "{schema}"}]}
    if name == "image":
        return image
    return {"name": "images", "properties": {"images": {"type": "array", "items": image},
                                             "schema": {"type": "string"}, "first": {"type": "string"},
                                             "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


async def schema_image(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response(_schema("image"))


async def schema_images(ctx: Ctx, request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response(_schema("images"))


class GlanceApi(Api):
    service = "glance"

    def __init__(self) -> None:
        super().__init__()
        r = self.route
        r("GET", "/", versions, public=True)
        r("GET", "/versions", versions, public=True)
        r("GET", "/v2/images", list_images)
        r("POST", "/v2/images", create_image)
        r("GET", "/v2/images/{id}", get_image)
        r("DELETE", "/v2/images/{id}", delete_image)
        r("PUT", "/v2/images/{id}/file", upload)
        r("GET", "/v2/images/{id}/file", download)
        r("GET", "/v2/schemas/image", schema_image)
        r("GET", "/v2/schemas/images", schema_images)

    def error_response(self, exc: ApiError) -> web.Response:
        title = {400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
                 405: "405 Method Not Allowed", 409: "409 Conflict"}.get(exc.status, f"{exc.status} Error")
        text = (f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n"
                f"  {exc.message}<br /><br />\n\n\n </body>\n</html>")
        return web.Response(status=exc.status, text=text, content_type="text/html", headers=exc.headers)

    def unauthorized_response(self, exc: ApiError) -> web.Response:
        return self.error_response(ApiError(401, "This server could not verify that you are authorized to "
                                                 "access the document you requested.", headers=exc.headers))
