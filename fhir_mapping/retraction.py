"""Retractions: records a recipient received in an earlier run and must no longer hold.

Each run's bundles define what every recipient now holds of each person's records (the ledger,
`audit.disclosure_ledger`, replaced every run). A record in the previous run's ledger and
not in this run's was withdrawn by a later submission, or belongs to a care relationship that
ended or was corrected away; the recipient is sent a conditional DELETE on the record's business
identifier (`fhir/bundles/<ODS>/retractions/<NNNN>.json`) and the retraction is logged in
`audit.disclosure_log` with `action = 'retracted'`. Patients, Organizations and
HealthcareServices are never retracted: the recipient holds them for its own reasons.

A re-run over the same data finds the ledger it wrote itself, so it retracts nothing and writes
the same files.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from fhir_mapping.delivery import retraction_parts
from fhir_mapping.disclosure import DISCLOSURE_LOG_SCHEMA
from fhir_mapping.ndjson import dumps

__all__ = ["LEDGER_SCHEMA", "retracted", "write_retractions", "retraction_log"]

LEDGER_SCHEMA = pa.schema([
    ("recipient_ods", pa.string()), ("resource_type", pa.string()), ("resource_id", pa.string()),
    ("identifier_system", pa.string()), ("identifier_value", pa.string()), ("person_id", pa.string()),
    ("holder_ods", pa.string()),
])

_RETRACTED_SQL = """
SELECT p.* FROM previous p
WHERE NOT EXISTS (SELECT 1 FROM current c WHERE c.recipient_ods = p.recipient_ods
                  AND c.resource_type = p.resource_type AND c.resource_id = p.resource_id)
ORDER BY ALL
"""


def retracted(previous: pa.Table | None, current: pa.Table) -> pa.Table:
    """Rows of the previous ledger whose record the recipient no longer receives."""
    if previous is None or previous.num_rows == 0:
        return LEDGER_SCHEMA.empty_table()
    con = duckdb.connect()
    con.register("previous", previous.select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA))
    con.register("current", current.select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA))
    table = con.sql(_RETRACTED_SQL).to_arrow_table()
    con.close()
    return table.cast(LEDGER_SCHEMA)


def write_retractions(out_dir: Path, gone: pa.Table, timestamp: str) -> list[Path]:
    """`fhir/bundles/<ODS>/retractions/<NNNN>.json` per recipient with retracted records."""
    by_recipient: dict[str, list[tuple[str, str, str | None, str | None]]] = {}
    for row in gone.to_pylist():
        by_recipient.setdefault(row["recipient_ods"], []).append(
            (row["resource_type"], row["resource_id"], row["identifier_system"], row["identifier_value"]))
    paths: list[Path] = []
    for recipient, rows in sorted(by_recipient.items()):
        folder = Path(out_dir) / "fhir" / "bundles" / recipient / "retractions"
        shutil.rmtree(folder, ignore_errors=True)
        for number, part in enumerate(retraction_parts(recipient, rows, timestamp), 1):
            path = folder / f"{number:04d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dumps(part) + "\n", encoding="utf-8")
            paths.append(path)
    return paths


def retraction_log(gone: pa.Table, run_id: str, recorded_at: datetime, month: str) -> pa.Table:
    """`disclosure_log` rows of the retractions: one per recipient, person and holder, `action = 'retracted'`."""
    counts: dict[tuple[str, str, str], int] = {}
    for row in gone.to_pylist():
        key = (row["recipient_ods"], row["person_id"], row["holder_ods"])
        counts[key] = counts.get(key, 0) + 1
    rows = sorted(counts.items())
    n = len(rows)
    return pa.table([pa.array([run_id] * n, pa.string()), pa.array([recorded_at] * n, pa.timestamp("us", tz="UTC")),
                     pa.array([k[0] for k, _ in rows], pa.string()), pa.array([month] * n, pa.string()),
                     pa.array([k[1] for k, _ in rows], pa.string()), pa.array([k[2] for k, _ in rows], pa.string()),
                     pa.array([v for _, v in rows], pa.int64()), pa.array(["retracted"] * n, pa.string())],
                    schema=DISCLOSURE_LOG_SCHEMA)
