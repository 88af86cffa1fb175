"""Bulk-load throughput of the staged tables into each warehouse engine.

`run(persons) -> dict` generates a synthetic system, stages it (not timed), then writes every staged
table with `warehouse.db.write_table` (the pipeline's own bulk path: Arrow into DuckDB, CSV
through COPY into PostgreSQL) into a new DuckDB file and, when a PostgreSQL server is given, into a
new database there, and reads them all back with `read_table`. Reported per engine: rows, MB (the
Arrow tables' in-memory size), seconds, rows/s and MB/s, for loading and reading back.

    python -m carebridge.benchmarks.load --persons 100000 [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The PostgreSQL server comes from `--pg-url`, else CAREBRIDGE_BENCH_PG_URL, else
CAREBRIDGE_TEST_PG_URL; a database `cb_bench_<random>` is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

__all__ = ["run", "load_throughput"]


def _staged_tables(persons: int, work: Path, seed: int) -> dict[str, pa.Table]:
    from carebridge.staging import stage_landing
    from carebridge.synthetic import generate
    from warehouse.catalog.staging import staged_table_name

    generate(persons, work / "landing", work / "truth", seed=seed, fault_rate=0.0)
    staged = stage_landing(work / "landing")
    return {staged_table_name(key): table for key, table in staged.tables.items()}


@contextmanager
def _pg_database(server_url: str) -> Iterator[str]:
    name = f"cb_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _rates(rows: int, nbytes: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "mb_per_s": round(nbytes / 1e6 / seconds, 1)}


def load_throughput(url: str, tables: dict[str, pa.Table]) -> dict[str, object]:
    """Write every table to `staging` at `url`, then read each back; timings and rates."""
    from warehouse.db import ensure_schemas, make_engine, read_table, write_table

    rows = sum(t.num_rows for t in tables.values())
    nbytes = sum(t.nbytes for t in tables.values())
    engine = make_engine(url)
    try:
        ensure_schemas(engine)
        start = time.perf_counter()
        for name, table in tables.items():
            write_table(engine, "staging", name, table)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        read_rows = sum(read_table(engine, "staging", name).num_rows for name in tables)
        read = time.perf_counter() - start
    finally:
        engine.dispose()
    assert read_rows == rows, "every row written must read back"
    return {"engine": sa.make_url(url).get_backend_name(), "tables": len(tables), "rows": rows,
            "mb": round(nbytes / 1e6, 1), "load": _rates(rows, nbytes, loaded), "read": _rates(rows, nbytes, read)}


def run(persons: int = 100_000, pg_url: str | None = None, work: Path | None = None, seed: int = 42) -> dict:
    """Generate and stage `persons` people, then measure loading the staged tables on each engine."""
    from carebridge.benchmarks.pipeline import machine

    pg_url = pg_url or os.environ.get("CAREBRIDGE_BENCH_PG_URL") or os.environ.get("CAREBRIDGE_TEST_PG_URL")
    own_work = work is None
    work = Path(work or tempfile.mkdtemp(prefix="cb_load_"))
    try:
        start = time.perf_counter()
        tables = _staged_tables(persons, work, seed)
        report: dict[str, object] = {"persons": persons, "machine": machine(),
                                     "generate_and_stage_seconds": round(time.perf_counter() - start, 1),
                                     "engines": [load_throughput(f"duckdb:///{work / 'load.duckdb'}", tables)]}
        if pg_url:
            with _pg_database(pg_url) as database:
                report["engines"].append(load_throughput(database, tables))
        return report
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carebridge.benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.persons, args.pg_url, seed=args.seed), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
