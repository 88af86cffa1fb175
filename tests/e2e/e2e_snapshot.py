"""Snapshots of a run's output for the re-run comparison: a digest of every warehouse table's sorted
rows and of every file under a folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

__all__ = ["SCHEMAS", "RUN_BOOKKEEPING", "is_append_only", "table_digests", "file_digests"]

SCHEMAS = ("staging", "linkage", "fhir", "work", "audit", "analytics", "published", "reference")


# Tables that record the runs themselves. `drop`: run columns (the run's id and time) left out of
# the digest; `blank`: run-specific values inside a column (a regex, replaced by ''); `append_only`:
# a log each run adds the same rows to, compared by its distinct rows.
RUN_BOOKKEEPING: dict[str, dict] = {
    # who received whose records, per run (fhir_mapping/disclosure.py)
    "audit.disclosure_log": {"drop": ("run_id", "recorded_at"), "append_only": True},
    # what each run linked with; Splink's saved model carries a random linker_uid per run
    "linkage.linkage_run": {"drop": ("run", "run_id"), "blank": {"parameters": r'"linker_uid": *"[^"]*"'},
                                 "append_only": True},
    # person ids carried over between runs
    "linkage.person_id_map": {"drop": ("last_seen_run",)},
    # the latest linkage run's figures, replaced by each run
    "linkage.linkage_summary": {"drop": ("run_id",)},
}


def is_append_only(table: str) -> bool:
    return RUN_BOOKKEEPING.get(table, {}).get("append_only", False)


def _digest_sql(table: str) -> str:
    rule = RUN_BOOKKEEPING.get(table, {})
    drop = tuple(rule.get("drop", ())) + tuple(rule.get("blank", {}))
    exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    blanked = "".join(f", regexp_replace({column}, '{pattern}', '', 'g') AS {column}"
                      for column, pattern in rule.get("blank", {}).items())
    rows = f"SELECT {'DISTINCT ' if rule.get('append_only') else ''}*{exclude}{blanked} FROM {table}"
    return f"""SELECT (SELECT COUNT(*) FROM {table}),
                      md5(COALESCE(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), ''))
               FROM ({rows}) AS t"""


def table_digests(warehouse: Path) -> dict[str, dict]:
    """Rows and a digest of the sorted rows of every table in every schema (RUN_BOOKKEEPING aside)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.sql("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                         f"WHERE table_schema IN {SCHEMAS} ORDER BY 1").fetchall()
        digests = {}
        for (table,) in tables:
            rows, digest = con.sql(_digest_sql(table)).fetchall()[0]
            digests[table] = {"rows": rows, "digest": digest}
        return digests
    finally:
        con.close()


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
