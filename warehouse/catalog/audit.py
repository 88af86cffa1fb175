"""The `audit` schema: what the pipeline did with what it received, and to whom it disclosed."""

from __future__ import annotations

import json

import pyarrow as pa

from warehouse.engines import Warehouse
from warehouse.db import append_table, execute, query, read_table, read_table_if_exists, table_exists, write_table

__all__ = ["SCHEMA", "save_staging_audit", "load_audit", "save_fhir_unmapped", "append_disclosure_log", "log_sent_again", "load_disclosure_ledger", "save_disclosure_ledger",
           "ledger_rows",
           "rows_quarantined", "files_rejected", "load_fingerprint", "save_fingerprint"]

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


_SENT_AGAIN_SQL = """
INSERT INTO audit.disclosure_log (run_id, recorded_at, recipient_ods, month, person_id, holder_ods, records, action)
SELECT '{run_id}', CAST('{recorded_at}' AS TIMESTAMPTZ), recipient_ods, month, person_id, holder_ods, records, action
FROM audit.disclosure_log WHERE run_id = '{since_run}' AND action = 'sent'
"""


def log_sent_again(engine: Warehouse, since_run: str, run_id: str, recorded_at: str) -> None:
    """Log under `run_id` what run `since_run` logged as sent (its bundles are unchanged and delivered
    again), in the warehouse: one block per run without reading the log back."""
    for value in (since_run, run_id, recorded_at):
        if "'" in value:
            raise ValueError(f"not a run id or timestamp: {value!r}")
    execute(engine, _SENT_AGAIN_SQL.format(run_id=run_id, recorded_at=recorded_at, since_run=since_run))


def ledger_rows(engine: Warehouse) -> int | None:
    """Rows of the ledger (None before the first run): the stage replaces it whole, so an edit shows here."""
    if not table_exists(engine, SCHEMA, "disclosure_ledger"):
        return None
    return int(query(engine, f"SELECT count(*) AS n FROM {SCHEMA}.disclosure_ledger").column("n")[0].as_py())


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


# --- incremental builds (pipelines.incremental) ------------------------------------------------

_FINGERPRINTS = "stage_fingerprint"


def load_fingerprint(engine: Warehouse, stage: str) -> dict | None:
    """What a stage last built from: {stage, fingerprint, run_id, checks, outcome}; None if never recorded."""
    table = read_table_if_exists(engine, SCHEMA, _FINGERPRINTS)
    rows = [] if table is None else [r for r in table.to_pylist() if r["stage"] == stage]
    return {**rows[0], "checks": json.loads(rows[0]["checks"]), "outcome": json.loads(rows[0]["outcome"])} if rows else None


def save_fingerprint(engine: Warehouse, record: dict) -> None:
    """Replace one stage's record (one row per stage)."""
    table = read_table_if_exists(engine, SCHEMA, _FINGERPRINTS)
    rows = [] if table is None else [r for r in table.to_pylist() if r["stage"] != record["stage"]]
    rows.append({"stage": record["stage"], "fingerprint": record["fingerprint"], "run_id": record["run_id"],
                 "checks": json.dumps(record["checks"], sort_keys=True),
                 "outcome": json.dumps(record.get("outcome") or {}, sort_keys=True)})
    schema = pa.schema([("stage", pa.string()), ("fingerprint", pa.string()), ("run_id", pa.string()),
                        ("checks", pa.string()), ("outcome", pa.string())])
    write_table(engine, SCHEMA, _FINGERPRINTS, pa.Table.from_pylist(sorted(rows, key=lambda r: r["stage"]), schema))
