"""Bulk loading of FHIR resources into `<schema>.fhir_<Type>(id VARCHAR, resource JSON)` tables."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice

import duckdb
import pyarrow as pa

__all__ = ["load_resources", "resource_batches", "valid_name"]

_BATCH_ROWS = 50_000


def _json_default(value: object) -> object:
    """Values json cannot write that model dumps may hold: decimals as numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def resource_batches(resources: Iterable[dict], size: int = _BATCH_ROWS) -> Iterator[pa.Table]:
    """Arrow tables of (id, resource JSON text), `size` resources at a time."""
    iterator = iter(resources)
    while batch := list(islice(iterator, size)):
        ids = pa.array([r.get("id") for r in batch], type=pa.string())
        texts = pa.array([json.dumps(r, separators=(",", ":"), ensure_ascii=False, default=_json_default)
                          for r in batch], type=pa.string())
        yield pa.table({"id": ids, "resource": texts})


def valid_name(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a valid table name part: {name!r}")
    return name


def load_resources(con: duckdb.DuckDBPyConnection, resources: Mapping[str, Iterable[dict]],
                   schema: str = "main") -> dict[str, int]:
    """(Re)create one `fhir_<Type>` table per resource type, loading Arrow batches of JSON text.

    Returns the number of rows loaded per table. Existing tables of those types are replaced."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {valid_name(schema)}")
    counts: dict[str, int] = {}
    for resource_type, items in resources.items():
        table = f"{schema}.fhir_{valid_name(resource_type)}"
        con.execute(f"CREATE OR REPLACE TABLE {table} (id VARCHAR, resource JSON)")
        counts[resource_type] = 0
        for batch in resource_batches(items):
            con.register("_viewdef_batch", batch)
            try:
                con.execute(f"INSERT INTO {table} SELECT id, CAST(resource AS JSON) FROM _viewdef_batch")
            finally:
                con.unregister("_viewdef_batch")
            counts[resource_type] += batch.num_rows
    return counts
