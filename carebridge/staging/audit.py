"""Schemas of the quarantine and load-audit tables, and the reconciliation of their counts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["QUARANTINE_SCHEMA", "LOAD_AUDIT_SCHEMA", "FILE_STATUSES", "FILE_REASONS", "NOT_STAGED", "reconcile"]

QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("provider_ods", pa.string()),
        ("reporting_month", pa.string()),
        ("submission_id", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),  # 0 for a whole-file rejection (raw_row is then the header)
        ("table_name", pa.string()),
        ("reason_code", pa.string()),
        ("detail", pa.string()),
        ("raw_row", pa.string()),
    ]
)

LOAD_AUDIT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("provider_ods", pa.string()),
        ("reporting_month", pa.string()),
        ("submission_id", pa.string()),
        ("source_file", pa.string()),
        ("table_name", pa.string()),
        ("encoding", pa.string()),  # utf-8, utf-8-sig, utf-16, windows-1252 (converted) or parquet
        ("rows_read", pa.int64()),
        ("rows_staged", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_superseded", pa.int64()),
        ("file_status", pa.string()),
        ("aliases_used", pa.string()),  # "alias->canonical;..." or null
        ("unknown_columns", pa.string()),  # "name;..." or null
        ("reason", pa.string()),  # why the file has its status (a code, see FILE_REASONS); null when loaded
        ("detail", pa.string()),  # one line naming the file or folder and what is wrong
    ]
)

# loaded: rows staged or quarantined one by one; superseded: a later submission for the same
# provider and month exists; rejected: the file as a whole cannot be staged (its rows are
# quarantined); unknown_table: the file name is no table of the source (rows quarantined);
# unreadable: the file could not be opened or parsed at all; ignored: not a delivery file, never
# read; refused: a link or special file, never read (the landing area is a boundary).
FILE_STATUSES = ("loaded", "superseded", "rejected", "unknown_table", "unreadable", "ignored", "refused")

# The reason codes of each status other than loaded.
FILE_REASONS: dict[str, tuple[str, ...]] = {
    "superseded": ("superseded",),
    "rejected": ("missing_required_column", "duplicate_column", "empty_file", "invalid_encoding"),
    "unknown_table": ("unknown_table",),
    "unreadable": ("unreadable_file",),
    "ignored": ("unknown_source", "bad_provider_folder", "bad_month_folder", "month_out_of_range",
                "bad_submission_folder", "unexpected_location", "wrong_file_type", "duplicate_format",
                "duplicate_file"),
    "refused": ("symlink", "special_file", "outside_landing"),
}

# Statuses of files none of whose rows reached staging although they were delivered as data.
NOT_STAGED = ("rejected", "unknown_table", "unreadable", "ignored", "refused")


def _count_problems(load_audit: pa.Table) -> list[str]:
    problems = []
    for row in load_audit.to_pylist():
        parts = row["rows_staged"] + row["rows_quarantined"] + row["rows_superseded"]
        if row["rows_read"] != parts or min(row["rows_staged"], row["rows_quarantined"], row["rows_superseded"]) < 0:
            problems.append(
                f"{row['source_file']}: rows_read {row['rows_read']} != staged {row['rows_staged']} "
                f"+ quarantined {row['rows_quarantined']} + superseded {row['rows_superseded']}"
            )
    return problems


def _per_file(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    return {c["values"]: c["counts"] for c in pc.value_counts(table["source_file"]).to_pylist()}


def _mismatches(what: str, expected: dict[str, int], found: dict[str, int]) -> list[str]:
    return [
        f"{name}: audit says {expected.get(name, 0)} rows {what}, found {found.get(name, 0)}"
        for name in sorted(set(expected) | set(found))
        if expected.get(name, 0) != found.get(name, 0)
    ]


def reconcile(
    load_audit: pa.Table,
    quarantine: pa.Table | None = None,
    tables: dict[str, pa.Table] | None = None,
) -> list[str]:
    """Problems with the counts (empty when everything reconciles).

    Always: rows_read = rows_staged + rows_quarantined + rows_superseded for every file. With the
    quarantine table: its rows per file (line > 0) equal rows_quarantined. With the staged tables:
    their rows per source_file equal rows_staged.
    """
    problems = _count_problems(load_audit)
    audit = load_audit.to_pylist()
    if quarantine is not None:
        rows = quarantine.filter(pc.greater(quarantine["source_line"], 0))
        expected = {r["source_file"]: r["rows_quarantined"] for r in audit if r["rows_quarantined"]}
        problems += _mismatches("quarantined", expected, _per_file(rows))
    if tables is not None:
        found: dict[str, int] = {}
        for table in tables.values():
            for name, count in _per_file(table).items():
                found[name] = found.get(name, 0) + count
        expected = {r["source_file"]: r["rows_staged"] for r in audit if r["rows_staged"]}
        problems += _mismatches("staged", expected, found)
    return problems
