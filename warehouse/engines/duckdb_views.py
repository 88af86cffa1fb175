"""FHIR views on DuckDB: bulk loading into `<schema>.fhir_<Type>(id VARCHAR, resource JSON)` and
running a compiled ViewDefinition there (the DuckDB parts of `DuckDBEngine.load_ndjson` / `run_view`).

`load_resources` loads Python dicts into tables; `load_ndjson` loads NDJSON files, parsing each
line once (see there); `run_compiled` runs a view's compiled query; `scratch_runner` does both on
a throwaway in-memory database (the conformance suite's DuckDB engine;
`in_memory` is the database alone, for the view benchmark).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse.engines.duckdb_dialect import DUCKDB
from warehouse.viewdef.errors import SQL_ERROR_PREFIX, ViewDefinitionError
from warehouse.viewdef.loading import ndjson_paths, resource_batches, valid_name
from warehouse.viewdef.sql_view import prepare_view

__all__ = ["load_resources", "load_ndjson", "run_compiled", "in_memory", "scratch_runner"]


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


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, resource: str) -> bool:
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                        [schema, f"fhir_{resource}"]).fetchall()
    return bool(found[0][0])


def run_compiled(con: duckdb.DuckDBPyConnection, view: dict, schema: str = "main") -> pa.Table:
    """Compile a view and run it on DuckDB; a missing resource table means no rows."""
    parsed, target, sql = prepare_view(view, DUCKDB, schema)
    if not _table_exists(con, schema, parsed.resource):
        return target.empty_table()
    try:
        result = con.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        if SQL_ERROR_PREFIX not in str(error):
            raise
        raise ViewDefinitionError(str(error).split(SQL_ERROR_PREFIX, 1)[1]) from error
    return result.cast(target)


@contextmanager
def in_memory() -> Iterator[duckdb.DuckDBPyConnection]:
    """A throwaway in-memory database, closed when the block ends."""
    con = duckdb.connect()
    try:
        yield con
    finally:
        con.close()


@contextmanager
def scratch_runner(resources: Mapping[str, Iterable[dict]]) -> Iterator[Callable[[dict], pa.Table]]:
    """The resources loaded into a throwaway in-memory database; yields `view -> rows` on it."""
    with in_memory() as con:
        load_resources(con, resources)
        yield lambda view: run_compiled(con, view)
