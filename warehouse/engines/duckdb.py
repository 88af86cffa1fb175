"""The DuckDB backend: Arrow in and out natively, on the engine's single connection (a DuckDB file
takes one writer); FHIR NDJSON parsed by DuckDB's JSON reader; views compiled to DuckDB SQL
(its dialect: `warehouse.engines.duckdb_dialect`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from warehouse.engines.base import Engine
from warehouse.engines.duckdb_dialect import DUCKDB

__all__ = ["DuckDBEngine"]


class DuckDBEngine(Engine):
    name = "duckdb"
    url_schemes = ("duckdb",)
    view_dialect = DUCKDB

    @classmethod
    def connect(cls, url: str, read_only: bool = False) -> sa.Engine:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if read_only:  # never creates the file; other readers may open it alongside
            url += ("&" if "?" in url else "?") + "access_mode=read_only"
        elif path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection: DuckDB files allow a single writer process, and Arrow is registered per connection.
        return sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)

    def run(self, statements: list[str]) -> None:
        with self.sa.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def query(self, sql: str) -> pa.Table:
        with self.driver() as duck:
            return duck.sql(sql).to_arrow_table()

    def load_arrow(self, qualified: str, table: pa.Table, replace: bool) -> None:
        with self.driver() as duck:
            duck.register("_carebridge_incoming", table)
            try:
                if replace:
                    duck.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM _carebridge_incoming")
                else:
                    duck.execute(f"CREATE TABLE IF NOT EXISTS {qualified} AS SELECT * FROM _carebridge_incoming LIMIT 0")
                    duck.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _carebridge_incoming")
            finally:
                duck.unregister("_carebridge_incoming")

    def load_ndjson(self, con: Any, files: Mapping[str, Path | None], schema: str) -> dict[str, int]:
        from warehouse.engines.duckdb_views import load_ndjson

        return load_ndjson(con, files, schema)

    def run_view(self, con: Any, view: dict, schema: str) -> pa.Table:
        from warehouse.engines.duckdb_views import run_compiled

        return run_compiled(con, view, schema=schema)
