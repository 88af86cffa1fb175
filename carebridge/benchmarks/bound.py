"""The physical bound `carebridge bench` reports beside the pipeline (issue 14 item 3): DuckDB reading
the same landing files and writing the same number of NDJSON bytes, on the same machine in the same
run. It is what moving the data in and out costs with nothing in between (no staging rules, no
linkage, no mapping, no validation), so pipeline seconds / bound seconds says how far the pipeline
is from the machine's floor.

Reading: every file of the landing area (not the reference data) parsed into DuckDB tables, one
per file name (CSV as text columns, Parquet as typed); a file DuckDB cannot parse as CSV (a fault
the generator injected) is read whole as bytes. Writing: `COPY ... (FORMAT JSON)` of rows padded so the file
reaches the NDJSON bytes the pipeline wrote.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb

__all__ = ["physical_bound", "landing_files"]

_ROW_BYTES = 1_000           # about the size of one FHIR resource line


def landing_files(landing: Path) -> list[Path]:
    """Every regular file under the landing area's source folders (the reference data left out)."""
    landing = Path(landing)
    return sorted(p for p in landing.rglob("*") if p.is_file() and not p.is_symlink()
                  and p.relative_to(landing).parts[0] != "reference")


def _literal(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _load(con: duckdb.DuckDBPyConnection, source: str) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE landed AS SELECT * FROM {source}")
    return con.execute("SELECT count(*) FROM landed").fetchone()[0]


def _csv(paths: list[Path]) -> str:
    listed = "[" + ", ".join(_literal(p) for p in paths) + "]"
    return f"read_csv({listed}, all_varchar = true, header = true, ignore_errors = true, union_by_name = true)"


def _read(con: duckdb.DuckDBPyConnection, files: list[Path]) -> tuple[int, int]:
    """(rows, bytes) of every file, parsed into a table per file name (all deliveries of a table at
    once); when DuckDB cannot parse a group as CSV, its files one by one, and a file that still
    fails (a fault the generator injected) whole as bytes."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(path.name, []).append(path)
    rows = 0
    for name, paths in sorted(groups.items()):
        if name.endswith(".parquet"):
            rows += _load(con, f"read_parquet([{', '.join(_literal(p) for p in paths)}], union_by_name = true)")
            continue
        try:
            rows += _load(con, _csv(paths))
        except duckdb.Error:
            for path in paths:
                try:
                    rows += _load(con, _csv([path]))
                except duckdb.Error:
                    rows += _load(con, f"read_blob({_literal(path)})")
    return rows, sum(p.stat().st_size for p in files)


def _write(con: duckdb.DuckDBPyConnection, target: Path, nbytes: int) -> int:
    """Write about `nbytes` of NDJSON to `target`; returns the bytes written."""
    pad = _ROW_BYTES - len('{"i":0000000,"pad":""}\n')
    rows = max(nbytes // _ROW_BYTES, 1)
    con.execute(f"COPY (SELECT i, repeat('x', {pad}) AS pad FROM range({rows}) t(i)) "
                f"TO {_literal(target)} (FORMAT JSON)")
    return target.stat().st_size


def physical_bound(landing: Path, ndjson_bytes: int, work: Path) -> dict[str, object]:
    """Seconds DuckDB takes to read the landing files and to write `ndjson_bytes` of NDJSON."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    files = landing_files(landing)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        start = time.monotonic()
        rows, read_bytes = _read(con, files)
        read_seconds = time.monotonic() - start
        start = time.monotonic()
        written = _write(con, work / "bound.ndjson", ndjson_bytes)
        write_seconds = time.monotonic() - start
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return {"files": len(files), "rows_read": rows, "bytes_read": read_bytes, "read_seconds": round(read_seconds, 2),
            "ndjson_bytes": written, "write_seconds": round(write_seconds, 2),
            "seconds": round(read_seconds + write_seconds, 2)}
