"""The `fhir` schema: FHIR resources as JSON for the views (`fhir_<Type>`, dropped once the views
are built), the view tables (`v_*`), and the mapping's side tables (referral matches, care relationships), and the content digests an
incremental build compares (per person shard of the export, per organisation-month of the bundles)."""

from __future__ import annotations

import pyarrow as pa

from warehouse.engines import Warehouse, backend
from warehouse.db import execute_each, query, read_table, read_table_if_exists, write_table

__all__ = ["SCHEMA", "RAW_PREFIX", "raw_table_name", "read_views", "save_view", "drop_raw_tables",
           "save_referral_matches", "save_care_relationships", "load_care_relationships",
           "save_shard_digests", "load_shard_digests", "save_bundle_digests", "load_bundle_digests"]

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


def load_care_relationships(engine: Warehouse) -> pa.Table | None:
    """(ods, month, person_id) as the FHIR mapping saved them (None before it first did): the bundles
    read them here instead of rebuilding the mapping context from the staged tables."""
    return read_table_if_exists(engine, SCHEMA, "care_relationship")


SHARD_DIGEST_SCHEMA = pa.schema([("shard", pa.int64()), ("digest", pa.string())])
BUNDLE_DIGEST_SCHEMA = pa.schema([("ods", pa.string()), ("month", pa.string()), ("digest", pa.string())])


def save_shard_digests(engine: Warehouse, digests: dict[int, str]) -> None:
    """Each person shard's input digest as the FHIR export last mapped it (fhir_mapping.export)."""
    rows = sorted(digests.items())
    write_table(engine, SCHEMA, "shard_digest", pa.table(
        {"shard": [r[0] for r in rows], "digest": [r[1] for r in rows]}, schema=SHARD_DIGEST_SCHEMA))


def load_shard_digests(engine: Warehouse) -> dict[int, str]:
    table = read_table_if_exists(engine, SCHEMA, "shard_digest")
    return {} if table is None else {int(r["shard"]): r["digest"] for r in table.to_pylist()}


def save_bundle_digests(engine: Warehouse, digests: dict[tuple[str, str], str]) -> None:
    """Each organisation-month's bundle digest as last written (fhir_mapping.bundles)."""
    rows = sorted(digests.items())
    write_table(engine, SCHEMA, "bundle_digest", pa.table(
        {"ods": [k[0] for k, _ in rows], "month": [k[1] for k, _ in rows], "digest": [d for _, d in rows]},
        schema=BUNDLE_DIGEST_SCHEMA))


def load_bundle_digests(engine: Warehouse) -> dict[tuple[str, str], str]:
    table = read_table_if_exists(engine, SCHEMA, "bundle_digest")
    return {} if table is None else {(r["ods"], r["month"]): r["digest"] for r in table.to_pylist()}
