"""Bulk loading of FHIR resources into DuckDB as `<schema>.fhir_<Type>(id VARCHAR, resource JSON)`.

`load_resources` loads Python dicts into tables; `load_ndjson` loads NDJSON files, parsing each
line once (see there).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path

import duckdb
import pyarrow as pa

__all__ = ["load_resources", "load_ndjson", "ndjson_paths", "resource_batches", "valid_name"]

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
        _drop_type(con, schema, resource_type)
        con.execute(f"CREATE TABLE {table} (id VARCHAR, resource JSON)")
        counts[resource_type] = 0
        for batch in resource_batches(items):
            con.register("_viewdef_batch", batch)
            try:
                con.execute(f"INSERT INTO {table} SELECT id, CAST(resource AS JSON) FROM _viewdef_batch")
            finally:
                con.unregister("_viewdef_batch")
            counts[resource_type] += batch.num_rows
    return counts


def _drop_relation(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """Drop `<schema>.<name>`, table or view (DuckDB's DROP must name the kind it drops)."""
    found = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                        "WHERE table_schema = ? AND lower(table_name) = lower(?)", [schema, name]).fetchall()
    for table, kind in found:
        con.execute(f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} {schema}."{table}"')


def _drop_type(con: duckdb.DuckDBPyConnection, schema: str, resource_type: str) -> None:
    """Drop what either loader made for a type, so the other loader can replace it."""
    _drop_relation(con, schema, f"fhir_{resource_type}")
    _drop_relation(con, schema, f"ndjson_{resource_type}")


def ndjson_paths(files: Path | Sequence[Path] | None) -> list[str]:
    """A type's NDJSON files as path strings: one file, the parts of a partitioned export, or none."""
    if files is None:
        return []
    return [str(files)] if isinstance(files, (str, Path)) else [str(p) for p in files]


def load_ndjson(con: duckdb.DuckDBPyConnection, files: Mapping[str, Path | Sequence[Path] | None],
                schema: str = "main") -> dict[str, int]:
    """(Re)create `<schema>.fhir_<Type>(id, resource JSON)` from NDJSON files per type: one file or
    the parts of a partitioned export (None or no files: empty).

    DuckDB keeps JSON as text and parses it on every access. Reading the file parses each line
    once (malformed JSON fails the load); taking `id` out of it while loading would parse it a
    second time, which no compiled view needs (they read the resource only). So the lines are
    stored as they are in `<schema>.ndjson_<Type>(resource JSON)`, and `fhir_<Type>` is a view
    over it whose `id` is read from the resource only by the queries that select it.
    Returns the number of resources per type."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {valid_name(schema)}")
    counts: dict[str, int] = {}
    for resource_type, path in files.items():
        stored = f"{schema}.ndjson_{valid_name(resource_type)}"
        _drop_type(con, schema, resource_type)
        paths = ndjson_paths(path)
        if not paths:
            con.execute(f"CREATE TABLE {stored} (resource JSON)")
        else:
            con.execute(f"""CREATE TABLE {stored} AS SELECT json AS resource
                            FROM read_json_objects(?, format = 'newline_delimited')""", [paths])
        con.execute(f"CREATE VIEW {schema}.fhir_{valid_name(resource_type)} AS "
                    f"SELECT resource ->> 'id' AS id, resource FROM {stored}")
        counts[resource_type] = con.execute(f"SELECT count(*) FROM {stored}").fetchall()[0][0]
    return counts
