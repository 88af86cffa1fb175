"""The marts' schemas: `work` (intermediate `m_*` tables, the person_key map and the exclusions,
person-level and replaced each build), `analytics` (pseudonymised marts), `reference` (code lists)
and `published` (aggregates). A mart named `m_*` is built in `work`, any other in `analytics`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa

from warehouse.engines import Warehouse, backend
from warehouse.db import execute_each, query, read_table, table_exists, write_table

__all__ = ["WORK", "ANALYTICS", "REFERENCE", "PUBLISHED", "mart_schema", "save_person_keys", "save_exclusions",
           "save_reference", "replace_mart", "drop_mart", "exists", "row_count", "read_tables"]

WORK, ANALYTICS, REFERENCE, PUBLISHED = "work", "analytics", "reference", "published"
WORK_PREFIX = "m_"


def mart_schema(name: str) -> str:
    return WORK if name.startswith(WORK_PREFIX) else ANALYTICS


def save_person_keys(engine: Warehouse, keys: pa.Table) -> None:
    write_table(engine, WORK, "person_key_map", keys)


def save_exclusions(engine: Warehouse, exclusions: pa.Table) -> None:
    write_table(engine, WORK, "analytics_exclusions", exclusions)


def save_reference(engine: Warehouse, tables: Mapping[str, pa.Table]) -> None:
    for name, table in tables.items():
        write_table(engine, REFERENCE, name, table)


def replace_mart(engine: Warehouse, name: str, select_sql: str) -> None:
    """DROP + CREATE TABLE AS, portable to DuckDB and PostgreSQL."""
    backend(engine).run_mart(mart_schema(name), name, select_sql)


def drop_mart(engine: Warehouse, name: str) -> None:
    execute_each(engine, [f"DROP TABLE IF EXISTS {mart_schema(name)}.{name} CASCADE"])


def exists(engine: Warehouse, schema: str, name: str) -> bool:
    return table_exists(engine, schema, name)


def row_count(engine: Warehouse, schema: str, name: str) -> int:
    return int(query(engine, f"SELECT COUNT(*) AS n FROM {schema}.{name}").column("n")[0].as_py())


def read_tables(engine: Warehouse, schema: str, names: Iterable[str]) -> dict[str, pa.Table]:
    return {name: read_table(engine, schema, name) for name in names}
