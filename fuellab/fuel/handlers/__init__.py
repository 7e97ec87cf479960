"""Nailgun API handlers: each module lists its `ROUTES` as (method, path, handler)."""
