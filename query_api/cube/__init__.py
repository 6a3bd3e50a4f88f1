"""The DuckDB stats cube: schema, sink, queries and the query-API extension that owns it."""

from query_api.cube.extension import Cube, cube_extension, get_cube

__all__ = ["Cube", "cube_extension", "get_cube"]
