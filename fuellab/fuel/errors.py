"""Errors of the Fuel API: always JSON `{"message": ..., "errors": [...]}`, as Nailgun answers.

python-fuelclient calls `.json()` on every answer that is not a 204, so an
error must never come back with an HTML or empty body.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """Raised by a handler to answer with `status` and a JSON error body."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


def error_body(message: str, errors: list[Any] | None = None) -> dict[str, Any]:
    return {"message": message, "errors": errors or []}


def error_response(status: int, message: str, errors: list[Any] | None = None,
                   **extra: Any) -> web.Response:
    return web.json_response({**error_body(message, errors), **extra}, status=status)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(kind: str, ident: Any) -> ApiError:
    return ApiError(404, f"{kind} with id {ident} was not found")


async def read_json(request: web.Request, kinds: tuple[type, ...] = (dict, list),
                    default: Any = None) -> Any:
    """The request's JSON body; `default` when the body is empty and a default is given."""
    raw = await request.read()
    if not raw.strip():
        if default is not None:
            return default
        raise bad_request("the request needs a JSON body")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"invalid JSON in request body: {exc}") from None
    if not isinstance(data, kinds):
        names = " or ".join("object" if k is dict else "list" for k in kinds)
        raise bad_request(f"the request body must be a JSON {names}")
    return data


def int_param(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be an integer, got {value!r}") from None


def id_list(value: str | None, name: str = "nodes") -> list[int]:
    """`1,2,3` -> [1, 2, 3] (the `?nodes=` form fuelclient sends)."""
    if value is None or not value.strip():
        return []
    return [int_param(part.strip(), name) for part in value.split(",") if part.strip()]
