"""Months staged one by one (a Dagster partition each), kept on disk, then consolidated.

`stage_landing(landing, months=[m])` stages one month; `save_month` keeps its result as Parquet
(re-running a month replaces it); `consolidate` combines the months' results into one, keeping
the latest month's version of every record, exactly as `stage_landing` over all months would.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from carebridge.staging.audit import LOAD_AUDIT_SCHEMA, QUARANTINE_SCHEMA
from carebridge.staging.resolve import count_superseded, keep_latest_versions
from carebridge.staging.stage import StagingResult
from carebridge.staging.tables import STAGED_TABLES, staged_schema, table_specs

__all__ = ["staged_table_keys", "save_month", "load_month", "consolidate"]

_EXTRAS_KEY = b"carebridge.source_file"


def staged_table_keys() -> list[str]:
    """Every staged table, `"<source>.<table>"`, in spec order."""
    return list(STAGED_TABLES)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def save_month(result: StagingResult, directory: Path) -> None:
    """Write a staging result to `directory` (replaced as a whole, so re-runs never mix)."""
    directory = Path(directory)
    scratch = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    for name, table in result.tables.items():
        _write(table, scratch / "tables" / f"{name}.parquet")
    _write(result.quarantine, scratch / "quarantine.parquet")
    _write(result.load_audit, scratch / "load_audit.parquet")
    for i, (source_file, extras) in enumerate(sorted(result.extras.items())):
        _write(extras.replace_schema_metadata({_EXTRAS_KEY: source_file.encode()}), scratch / "extras" / f"{i}.parquet")
    (scratch / "ignored_files.json").write_text(json.dumps(list(result.ignored_files)))
    shutil.rmtree(directory, ignore_errors=True)
    scratch.rename(directory)


def _read_or_empty(path: Path, schema: pa.Schema) -> pa.Table:
    """The table at `path` in `schema`; columns a month saved by an older version lacks come back null."""
    if not path.exists():
        return schema.empty_table()
    table = pq.read_table(path)
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table.select(schema.names).cast(schema)


def load_month(directory: Path) -> StagingResult:
    """Read back what `save_month` wrote (tables missing on disk come back empty)."""
    directory = Path(directory)
    tables = {name: _read_or_empty(directory / "tables" / f"{name}.parquet", staged_schema(spec))
              for name, spec in table_specs().items()}
    extras = {}
    for path in sorted((directory / "extras").glob("*.parquet")):
        table = pq.read_table(path)
        extras[table.schema.metadata[_EXTRAS_KEY].decode()] = table.replace_schema_metadata(None)
    ignored = directory / "ignored_files.json"
    return StagingResult(
        tables=tables,
        quarantine=_read_or_empty(directory / "quarantine.parquet", QUARANTINE_SCHEMA),
        load_audit=_read_or_empty(directory / "load_audit.parquet", LOAD_AUDIT_SCHEMA),
        extras=extras,
        ignored_files=tuple(json.loads(ignored.read_text())) if ignored.exists() else (),
    )


def consolidate(results: list[StagingResult]) -> StagingResult:
    """One result over several months: the latest month's version of each record wins; the rows
    it replaces count as superseded in their own file's audit row."""
    pieces = {name: [r.tables[name] for r in results if name in r.tables] for name in table_specs()}
    tables, dropped = keep_latest_versions(pieces)
    audits = [r.load_audit for r in results] or [LOAD_AUDIT_SCHEMA.empty_table()]
    quarantines = [r.quarantine for r in results] or [QUARANTINE_SCHEMA.empty_table()]
    return StagingResult(
        tables=tables,
        quarantine=pa.concat_tables(quarantines),
        load_audit=count_superseded(pa.concat_tables(audits), dropped),
        extras={k: v for r in results for k, v in r.extras.items()},
        ignored_files=tuple(dict.fromkeys(f for r in results for f in r.ignored_files)),
    )
