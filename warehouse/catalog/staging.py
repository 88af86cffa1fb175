"""The `staging` schema: one table per staged source table, `staging.stg_<source>_<table>`."""

from __future__ import annotations

import pyarrow as pa

from warehouse.catalog import audit
from warehouse.engines import Warehouse
from warehouse.db import read_table, table_exists, write_table

__all__ = ["SCHEMA", "staged_table_name", "save_staged", "load_staged"]

SCHEMA = "staging"


def staged_table_name(key: str) -> str:
    """`"mhsds.MHS101Referral"` -> `"stg_mhsds_mhs101referral"`."""
    source, table = key.split(".", 1)
    return f"stg_{source}_{table.lower()}"


def save_staged(engine: Warehouse, tables: dict[str, pa.Table], quarantine: pa.Table, load_audit: pa.Table) -> None:
    """The staged tables, and staging's audit (quarantine, load audit) beside them."""
    for key, table in tables.items():
        write_table(engine, SCHEMA, staged_table_name(key), table)
    audit.save_staging_audit(engine, quarantine, load_audit)


def load_staged(engine: Warehouse, keys: list[str]) -> dict[str, pa.Table]:
    """The staged tables of `keys` ("source.table") that exist."""
    return {key: read_table(engine, SCHEMA, staged_table_name(key))
            for key in keys if table_exists(engine, SCHEMA, staged_table_name(key))}
