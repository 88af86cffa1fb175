"""The `audit` schema: what the pipeline did with what it received, and to whom it disclosed."""

from __future__ import annotations

import pyarrow as pa

from warehouse.engines import Warehouse
from warehouse.db import append_table, query, read_table, read_table_if_exists, write_table

__all__ = ["SCHEMA", "save_staging_audit", "load_audit", "save_fhir_unmapped", "append_disclosure_log", "load_disclosure_ledger", "save_disclosure_ledger",
           "rows_quarantined", "files_rejected"]

SCHEMA = "audit"
REJECTED_STATUSES = ("rejected", "unknown_table", "unreadable")


def save_staging_audit(engine: Warehouse, quarantine: pa.Table, load_audit: pa.Table) -> None:
    write_table(engine, SCHEMA, "quarantine", quarantine)
    write_table(engine, SCHEMA, "load_audit", load_audit)


def load_audit(engine: Warehouse) -> pa.Table:
    return read_table(engine, SCHEMA, "load_audit")


def save_fhir_unmapped(engine: Warehouse, unmapped: pa.Table) -> None:
    write_table(engine, SCHEMA, "fhir_unmapped", unmapped)


def append_disclosure_log(engine: Warehouse, log: pa.Table) -> None:
    """Who received whose records, kept across runs."""
    append_table(engine, SCHEMA, "disclosure_log", log)


def load_disclosure_ledger(engine: Warehouse) -> pa.Table | None:
    """What each recipient held after the last run (None before the first), for retractions."""
    return read_table_if_exists(engine, SCHEMA, "disclosure_ledger")


def save_disclosure_ledger(engine: Warehouse, ledger: pa.Table) -> None:
    write_table(engine, SCHEMA, "disclosure_ledger", ledger)


def rows_quarantined(engine: Warehouse) -> int:
    """Quarantined data rows (line 0 is the header row kept for a file rejected whole)."""
    return int(query(engine, f"SELECT count(*) AS n FROM {SCHEMA}.quarantine WHERE source_line > 0")["n"][0].as_py())


def files_rejected(engine: Warehouse) -> int:
    """Files rejected whole (superseded files, replaced by a later submission, are not rejections)."""
    statuses = ", ".join(f"'{s}'" for s in REJECTED_STATUSES)
    return int(query(engine, f"SELECT count(*) AS n FROM {SCHEMA}.load_audit "
                             f"WHERE file_status IN ({statuses})")["n"][0].as_py())


def files_by_status(engine: Warehouse) -> dict[str, int]:
    """How many delivered files ended with each `file_status` (loaded, superseded, rejected, ignored, ...)."""
    rows = query(engine, f"SELECT file_status, count(*) AS n FROM {SCHEMA}.load_audit GROUP BY file_status")
    return {r["file_status"]: int(r["n"]) for r in rows.to_pylist()}
