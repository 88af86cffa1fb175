"""The engine interface: what carebridge asks of a warehouse backend.

One subclass per backend (`warehouse.engines.duckdb`, `warehouse.engines.postgresql`) holds every
difference between backends: how a connection is made, how Arrow goes in and out, how FHIR NDJSON
is loaded and a ViewDefinition compiled and run, how a mart replaces its table, and how comments
and grants are applied. Nothing else asks which backend it talks to. A new backend (Spark) is one
new module registered in `warehouse.engines.BACKENDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa

if TYPE_CHECKING:
    from warehouse.viewdef.dialect import Dialect

__all__ = ["Engine", "quote"]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Engine(ABC):
    """A warehouse backend over one SQLAlchemy engine (which owns the connection pool), or, for a
    backend without a SQLAlchemy dialect (Spark), over its own session (`sa` is then None)."""

    name: ClassVar[str]           # SQLAlchemy dialect name: "duckdb", "postgresql"; "spark"
    url_schemes: ClassVar[tuple[str, ...]]
    # The view compiler's SQL dialect (a warehouse.viewdef.dialect.Dialect defined beside the backend,
    # or the name of one the compiler finds: Spark's lives in warehouse.engines.spark_views).
    view_dialect: ClassVar[Dialect | str]

    def __init__(self, sa_engine: sa.Engine) -> None:
        self.sa = sa_engine

    def dispose(self) -> None:
        """Close the backend's connections (a later use opens new ones)."""
        self.sa.dispose()

    # --- connect ---------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def connect(cls, url: str, read_only: bool = False) -> sa.Engine | Engine:
        """A SQLAlchemy engine for `url`, pooled as this backend needs (a backend without a
        SQLAlchemy dialect, Spark, returns itself). `read_only`: never creates anything, and does
        not wait long behind a running build."""

    @contextmanager
    def driver(self) -> Iterator[Any]:
        """The driver's own connection, committed when the block ends without error."""
        conn = self.sa.raw_connection()
        try:
            yield conn.driver_connection
            conn.commit()
        finally:
            conn.close()

    # --- SQL and Arrow ---------------------------------------------------------------------
    @abstractmethod
    def run(self, statements: list[str]) -> None:
        """Run each statement exactly as given, in one transaction."""

    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """One query's result as an Arrow table."""

    @abstractmethod
    def load_arrow(self, qualified: str, table: pa.Table, replace: bool) -> None:
        """Replace `qualified` with the table (replace) or add its rows, creating it when missing."""

    # --- catalogue ---------------------------------------------------------------------------
    def has_table(self, schema: str, name: str) -> bool:
        return sa.inspect(self.sa).has_table(name, schema=schema)

    def table_names(self, schema: str) -> list[str]:
        """The tables of `schema` (not its views)."""
        return sorted(sa.inspect(self.sa).get_table_names(schema=schema))

    def view_names(self, schema: str) -> set[str]:
        rows = self.query(f"""SELECT table_name FROM information_schema.tables
                              WHERE table_schema = '{schema}' AND table_type = 'VIEW'""").to_pylist()
        return {r["table_name"] for r in rows}

    def relation_names(self, schema: str) -> set[str]:
        """Tables and views of `schema`."""
        rows = self.query(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'").to_pylist()
        return {r["table_name"] for r in rows}

    def table_columns(self, schema: str) -> dict[str, list[str]]:
        """Every table and view of `schema` with its columns in order."""
        rows = self.query(f"""SELECT table_name, column_name FROM information_schema.columns
                              WHERE table_schema = '{schema}' ORDER BY table_name, ordinal_position""").to_pylist()
        columns: dict[str, list[str]] = {}
        for row in rows:
            columns.setdefault(row["table_name"], []).append(row["column_name"])
        return columns

    # --- FHIR views --------------------------------------------------------------------------
    @abstractmethod
    def load_ndjson(self, con: Any, files: Mapping[str, Path | None], schema: str) -> dict[str, int]:
        """(Re)create `<schema>.fhir_<Type>(id, resource)` from NDJSON files on the driver connection."""

    def compile_view(self, view: dict, schema: str) -> str:
        """The one SQL query this backend runs for a ViewDefinition (NotCompilable when it cannot)."""
        from warehouse.viewdef.sql_view import compile_view

        return compile_view(view, self.view_dialect, schema)

    @abstractmethod
    def run_view(self, con: Any, view: dict, schema: str) -> pa.Table:
        """Compile a ViewDefinition for this backend and run it over `<schema>.fhir_<Type>`
        (NotCompilable when the compiler cannot take it)."""

    # --- marts, comments, grants -------------------------------------------------------------
    def run_mart(self, schema: str, name: str, select_sql: str) -> None:
        """Replace `schema.name` with the result of one SELECT (DROP + CREATE TABLE AS)."""
        self.run([f"DROP TABLE IF EXISTS {schema}.{name} CASCADE", f"CREATE TABLE {schema}.{name} AS\n{select_sql}"])

    def apply_comments(self, comments: Mapping[tuple[str, str], str]) -> None:
        """`COMMENT ON TABLE` for each (schema, table) -> text."""
        self.run([f"COMMENT ON TABLE {schema}.{table} IS '{text.replace(chr(39), chr(39) * 2)}'"
                  for (schema, table), text in comments.items()])

    def apply_grants(self, roles: Any = None) -> Mapping[str, int]:
        """The roles of warehouse/roles.yaml, where the backend has roles."""
        raise NotImplementedError(f"the {self.name} warehouse has no roles to grant (it is a file: "
                                  "control who can read it with file permissions)")
