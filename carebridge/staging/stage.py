"""stage_landing: every landed file -> typed staged tables, a quarantine and a load audit.

Per (source, provider, month) only the latest submission is staged; earlier submissions' rows
count as superseded. Across months, one record per (provider, local key) survives: the latest
month's; older versions count as superseded in their own file's audit row (staging/resolve.py).
Files are staged in parallel threads (pyarrow releases the GIL while parsing and computing);
one file's work is in staging/files.py.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from carebridge.staging.audit import LOAD_AUDIT_SCHEMA, QUARANTINE_SCHEMA
from carebridge.staging.files import FileResult, process_file
from carebridge.staging.landing import Ignored, LandedFile, discover, latest_submissions
from carebridge.staging.resolve import count_superseded, keep_latest_versions

__all__ = ["FileMap", "StagingResult", "in_threads", "stage_landing"]


@dataclass(frozen=True)
class StagingResult:
    tables: dict[str, pa.Table]  # "<source>.<table>" -> staged rows; every spec table present
    quarantine: pa.Table
    load_audit: pa.Table
    extras: dict[str, pa.Table] = field(default_factory=dict)  # source_file -> source_line + unknown columns
    ignored_files: tuple[str, ...] = ()  # entries not staged (ignored or refused), also in load_audit

    def summary(self) -> dict[str, Any]:
        """Counts for logs and Dagster metadata."""
        audit = self.load_audit
        return {
            "files": audit.num_rows,
            "files_by_status": dict(Counter(audit["file_status"].to_pylist())),
            **{c: pc.sum(audit[c]).as_py() or 0 for c in ("rows_read", "rows_staged", "rows_quarantined", "rows_superseded")},
            "quarantine_by_reason": dict(Counter(self.quarantine["reason_code"].to_pylist())),
            "tables": {name: table.num_rows for name, table in self.tables.items()},
            "ignored_files": len(self.ignored_files),
        }


# ---------------------------------------------------------------- across files

def _siblings(files: list[LandedFile]) -> Folders:
    """Submission folder -> canonical table name -> file."""
    folders: dict[Path, dict[str, LandedFile]] = {}
    for f in files:
        if f.spec is not None:
            folders.setdefault(f.path.parent, {})[f.table_name] = f
    return folders


def _ignored_row(entry: Ignored) -> dict[str, Any]:
    """The load-audit row of an entry that was never read."""
    return {"source": entry.source, "provider_ods": entry.provider_ods, "reporting_month": entry.reporting_month,
            "submission_id": entry.submission_id, "source_file": entry.source_file, "table_name": entry.table_name,
            "encoding": None, "rows_read": 0, "rows_staged": 0, "rows_quarantined": 0, "rows_superseded": 0,
            "file_status": entry.status, "aliases_used": None, "unknown_columns": None,
            "reason": entry.reason, "detail": entry.detail}


def _audit_table(results: list[FileResult], ignored: list[Ignored]) -> pa.Table:
    rows = [r.audit for r in results] + [_ignored_row(i) for i in ignored]
    return pa.Table.from_pylist(sorted(rows, key=lambda r: r["source_file"]), schema=LOAD_AUDIT_SCHEMA)


Latest = dict[tuple[str, str, str], str]           # (source, provider, month) -> latest submission
Folders = dict[Path, dict[str, LandedFile]]        # submission folder -> table name -> file
# How the files are staged: (one file's staging, the files) -> their results, in order.
FileMap = Callable[[Callable[[LandedFile], FileResult], list[LandedFile]], list[FileResult]]


def in_threads(stage_one: Callable[[LandedFile], FileResult], files: list[LandedFile]) -> list[FileResult]:
    """The default FileMap: threads of this process (pyarrow releases the GIL while parsing)."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(stage_one, files))


def _stage_one(latest: Latest, folders: Folders) -> Callable[[LandedFile], FileResult]:
    return functools.partial(_process, latest=latest, folders=folders)


def _process(f: LandedFile, latest: Latest, folders: Folders) -> FileResult:
    return process_file(f, latest, folders.get(f.path.parent, {}))


def stage_landing(landing: Path, months: list[str] | None = None, *, file_map: FileMap = in_threads) -> StagingResult:
    """Stage every delivery under `landing` (optionally only the given "YYYY-MM" months).

    Every entry of the landing area gets one load-audit row: staged files their counts, the rest
    (ignored or refused, never read) their reason (staging/landing.py). `file_map` runs the
    per-file staging over the files (threads here; `carebridge.spark.staging` on Spark executors);
    what happens across files is the same whichever runs it."""
    files, ignored = discover(Path(landing), months)
    latest = latest_submissions(files)
    results = file_map(_stage_one(latest, _siblings(files)), files)
    pieces: dict[str, list[pa.Table]] = {}
    for r in results:
        if r.staged is not None:
            pieces.setdefault(r.landed.spec.qualified_name, []).append(r.staged)
    tables, dropped = keep_latest_versions(pieces)
    quarantines = [r.quarantine for r in results if r.quarantine is not None]
    return StagingResult(
        tables=tables,
        quarantine=pa.concat_tables(quarantines) if quarantines else QUARANTINE_SCHEMA.empty_table(),
        load_audit=count_superseded(_audit_table(results, ignored), dropped),
        extras={r.landed.source_file: r.extras for r in results if r.extras is not None},
        ignored_files=tuple(i.source_file for i in ignored),
    )
