"""Where each stage keeps its output for the next: the `identifiable` schema of the warehouse.

Staged tables are `identifiable.stg_<source>_<table>`; the person index is
`identifiable.person_index` (record -> person) and `identifiable.person` (one row per person).
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from warehouse.db import read_table, table_exists, write_table

__all__ = ["staged_table_name", "save_staged", "load_staged", "save_person_index", "load_person_index"]


def staged_table_name(key: str) -> str:
    """`"mhsds.MHS101Referral"` -> `"stg_mhsds_mhs101referral"`."""
    source, table = key.split(".", 1)
    return f"stg_{source}_{table.lower()}"


def save_staged(engine: sa.Engine, tables: dict[str, pa.Table], quarantine: pa.Table, load_audit: pa.Table) -> None:
    for key, table in tables.items():
        write_table(engine, "identifiable", staged_table_name(key), table)
    write_table(engine, "identifiable", "quarantine", quarantine)
    write_table(engine, "identifiable", "load_audit", load_audit)


def load_staged(engine: sa.Engine, keys: list[str]) -> dict[str, pa.Table]:
    return {key: read_table(engine, "identifiable", staged_table_name(key))
            for key in keys if table_exists(engine, "identifiable", staged_table_name(key))}


def save_person_index(engine: sa.Engine, links: pa.Table, persons: pa.Table) -> None:
    write_table(engine, "identifiable", "person_index", links)
    write_table(engine, "identifiable", "person", persons)


def load_person_index(engine: sa.Engine) -> tuple[pa.Table, pa.Table]:
    return read_table(engine, "identifiable", "person_index"), read_table(engine, "identifiable", "person")
