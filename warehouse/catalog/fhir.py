"""The `fhir` schema: FHIR resources as JSON for the views (`fhir_<Type>`, dropped once the views
are built), the view tables (`v_*`), and the mapping's side tables (referral matches, care relationships)."""

from __future__ import annotations

import pyarrow as pa

from warehouse.engines import Warehouse, backend
from warehouse.db import execute_each, read_table, write_table

__all__ = ["SCHEMA", "RAW_PREFIX", "raw_table_name", "read_views", "save_view", "drop_raw_tables",
           "save_referral_matches", "save_care_relationships"]

SCHEMA = "fhir"
RAW_PREFIX = "fhir_"
_RAW_PREFIXES = (RAW_PREFIX, "ndjson_")  # DuckDB keeps the lines in ndjson_<Type> under a fhir_<Type> view


def raw_table_name(resource_type: str) -> str:
    """The table the resources of one type are loaded into for the views (`fhir_Patient`)."""
    return f"{RAW_PREFIX}{resource_type}"


def save_view(engine: Warehouse, name: str, table: pa.Table) -> None:
    write_table(engine, SCHEMA, name, table)


def read_views(engine: Warehouse, names) -> dict[str, pa.Table]:
    return {name: read_table(engine, SCHEMA, name) for name in names}


def drop_raw_tables(engine: Warehouse) -> list[str]:
    """Drop the JSON tables the views were compiled over (nothing reads them afterwards); their names."""
    warehouse = backend(engine)
    views = warehouse.view_names(SCHEMA)
    names = warehouse.relation_names(SCHEMA)
    raw = sorted(((name in views, name) for name in names
                  if name.lower().startswith(_RAW_PREFIXES)), reverse=True)  # views before their tables
    execute_each(engine, [f'DROP {"VIEW" if is_view else "TABLE"} IF EXISTS {SCHEMA}."{name}"' for is_view, name in raw])
    return sorted(name for _, name in raw)


def save_referral_matches(engine: Warehouse, matches: pa.Table) -> None:
    write_table(engine, SCHEMA, "referral_match", matches)


def save_care_relationships(engine: Warehouse, relationships: pa.Table) -> None:
    write_table(engine, SCHEMA, "care_relationship", relationships)
