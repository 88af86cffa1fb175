"""The Spark backend: the warehouse as Parquet tables in a Spark catalog.

`spark_session(settings)` is the one factory of SparkSessions (the engine, the Spark stages and the
tests use it): it never downloads anything (no `spark.jars.packages`: the `pyspark` package ships
Spark), defaults to `local[2]`, and sizes shuffles and memory for a small machine unless told.

Tables. Without a configured catalog the warehouse folder is the catalog: `<folder>/<schema>.db/<table>`
holds each table as Parquet (the layout of `spark.sql.warehouse.dir`), registered in the session's
catalog when an engine attaches to the folder, so a later process sees what an earlier one wrote.
With `CAREBRIDGE_SPARK_CATALOG` (a Hive metastore or Unity catalog) the tables are that catalog's
own (`USE CATALOG`), and two-part names `schema.table` resolve in it. Spark Connect (`sc://`) uses
the server's catalog.

SQL. Marts and published tables are written once, for DuckDB and PostgreSQL; the engine translates
each statement to Spark SQL with sqlglot (`spark_sql`). Views compile to Spark SQL through the
`spark` dialect of the view compiler (`warehouse.engines.spark_views`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from carebridge.core.settings import SparkSettings, spark_settings
from warehouse.engines.base import Engine
from warehouse.engines.spark_views import SPARK

__all__ = ["SparkEngine", "spark_session", "spark_sql", "DEFAULT_CONF"]

# For a 2-core, few-GiB machine (local[2]); a cluster overrides them through CAREBRIDGE_SPARK_CONF.
DEFAULT_CONF: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",        # 2 cores: a few partitions per shuffle, not 200
    "spark.default.parallelism": "4",
    "spark.sql.session.timeZone": "UTC",        # dates and timestamps as the other engines give them
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",  # "name" is an identifier, as in DuckDB and PostgreSQL
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.sources.partitionOverwriteMode": "static",
}
# Settings that would make Spark fetch jars at run time: refused (Maven is unreachable here and in
# locked-down NHS environments; pyspark ships Spark, and Splink ships its Spark jar).
_DOWNLOADING = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivy", "spark.jars.ivySettings")

_LOCK = threading.Lock()


def _stage_conf() -> dict[str, str]:
    """What the Python stages on executors need (carebridge.spark): workers running this
    interpreter, and Splink's similarity functions from the jar inside the splink package (a local
    path: nothing is fetched). pyspark starts local workers with $PYSPARK_PYTHON (else `python3`,
    which may lack carebridge's packages); `spark.pyspark.python` is for spark-submit and clusters."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {"spark.pyspark.python": os.environ["PYSPARK_PYTHON"]}
    try:
        from splink.internals.spark.jar_location import similarity_jar_location
    except ImportError:  # splink without its Spark extras: linkage runs on DuckDB
        return conf
    return {**conf, "spark.jars": similarity_jar_location()}


def spark_session(settings: SparkSettings) -> Any:
    """The process's SparkSession for `settings` (created on first use, then shared: one JVM per
    process). Never downloads: settings that resolve packages from Maven are refused."""
    conf = {**DEFAULT_CONF, **_stage_conf(), "spark.sql.warehouse.dir": str(Path(settings.warehouse_dir).resolve()),
            **dict(settings.conf)}
    refused = sorted(k for k in conf if k in _DOWNLOADING)
    if refused:
        raise ValueError(f"carebridge never downloads Spark packages at run time; remove {', '.join(refused)}")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    with _LOCK:
        if settings.connect:
            from pyspark.sql import SparkSession

            return SparkSession.builder.remote(settings.connect).getOrCreate()
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(settings.master or "local[2]").appName("carebridge")
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _quiet_query_errors()
        return session


def _quiet_query_errors() -> None:
    """PySpark logs every failed query with its JVM stack before raising it; the exception is enough."""
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)


# --- SQL: DuckDB/PostgreSQL SQL -> Spark SQL ----------------------------------------------------

_DROP = re.compile(r"^\s*DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?([\w.\"`]+)(\s+CASCADE)?\s*;?\s*$", re.I)
_COMMENT_TABLE = re.compile(r"^\s*COMMENT\s+ON\s+(?:TABLE|VIEW)\s+([\w.]+)\s+IS\s+'(.*)'\s*$", re.I | re.S)
_COMMENT_COLUMN = re.compile(r"^\s*COMMENT\s+ON\s+COLUMN\s+([\w]+)\.([\w]+)\.\"?(\w+)\"?\s+IS\s+'(.*)'\s*$", re.I | re.S)


def _spark_literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes; two quotes would be two literals joined)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _exact_percentiles(node: Any) -> Any:
    """`PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)` -> Spark's exact `percentile(x, q)` (sqlglot
    would write the approximate `percentile_approx`); a descending order reads the (1 - q) point."""
    from sqlglot import exp

    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        order = node.expression.expressions[0]
        value = order.this if isinstance(order, exp.Ordered) else order
        q = node.this.this
        if isinstance(order, exp.Ordered) and order.args.get("desc"):
            q = exp.Sub(this=exp.Literal.number(1), expression=q)
        return exp.Anonymous(this="percentile", expressions=[value, q])
    return node


def spark_sql(sql: str, read: str = "postgres") -> str:
    """One statement of carebridge's portable SQL (runs on DuckDB and PostgreSQL) as Spark SQL:
    sqlglot's translation, with exact medians."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read=read)
    return tree.transform(_exact_percentiles).sql(dialect="spark")


def _name(qualified: str) -> tuple[str, str]:
    schema, _, table = qualified.replace('"', "").replace("`", "").rpartition(".")
    return schema, table


class SparkEngine(Engine):
    """A warehouse on Spark: Arrow in and out, Parquet tables, views and marts as Spark SQL."""

    name = "spark"
    url_schemes = ("spark", "spark+local", "sc")
    view_dialect = SPARK

    def __init__(self, session: Any, settings: SparkSettings, url: str = "") -> None:  # noqa: D107
        self.sa = None
        self.session = session
        self.settings = settings
        self.url = url
        self._attach()

    # --- connect ---------------------------------------------------------------------------
    @classmethod
    def connect(cls, url: str, read_only: bool = False) -> SparkEngine:
        """The engine itself (Spark has no SQLAlchemy dialect): `warehouse.engines.backend` accepts it."""
        settings = spark_settings(url)
        return cls(spark_session(settings), settings, url)

    @contextmanager
    def driver(self) -> Iterator[Any]:
        yield self.session

    def dispose(self) -> None:
        """Nothing to close per engine: the process's SparkSession is shared (see `spark_session`)."""

    @property
    def managed(self) -> bool:
        """Tables belong to a named catalog or a Spark Connect server, not to the warehouse folder."""
        return bool(self.settings.catalog or self.settings.connect)

    def _attach(self) -> None:
        """Use the configured catalog, or register the folder's tables in the session's catalog."""
        if self.settings.catalog:
            self.session.sql(f"USE CATALOG {self.settings.catalog}")
        if self.managed:
            return
        from warehouse.schemas import SCHEMAS

        root = Path(self.settings.warehouse_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        catalog = self.session.catalog
        for schema in SCHEMAS:
            # Never DROP DATABASE: the in-memory catalog deletes a dropped database's folder.
            self.session.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
            for table in catalog.listTables(schema):
                if not table.isTemporary:  # external tables: the catalog forgets them, their files stay
                    self.session.sql(f"DROP {'VIEW' if table.tableType == 'VIEW' else 'TABLE'} IF EXISTS {schema}.{table.name}")
            folder = root / f"{schema}.db"
            for table in sorted(p for p in folder.glob("*") if p.is_dir() and not p.name.startswith((".", "_"))):
                self.session.sql(f"CREATE TABLE IF NOT EXISTS {schema}.{table.name} USING parquet "
                                 f"LOCATION {_spark_literal(str(table))}")

    def _location(self, schema: str, table: str) -> Path | None:
        return None if self.managed else Path(self.settings.warehouse_dir).resolve() / f"{schema}.db" / table

    # --- SQL and Arrow ---------------------------------------------------------------------
    def run(self, statements: list[str]) -> None:
        """Each statement in turn (Spark has no multi-statement transactions). DROP TABLE also
        removes the table's files; COMMENT ON is written the Spark way; the rest is run as given."""
        for statement in statements:
            self._run_one(statement)

    def _run_one(self, statement: str) -> None:
        if match := _DROP.match(statement):
            self.drop(*_name(match.group(3)), view=match.group(1).upper() == "VIEW")
        elif match := _COMMENT_COLUMN.match(statement):
            schema, table, column, text = match.groups()
            self.session.sql(f"ALTER TABLE {schema}.{table} ALTER COLUMN `{column}` COMMENT "
                             f"{_spark_literal(text.replace(chr(39) * 2, chr(39)))}")
        elif match := _COMMENT_TABLE.match(statement):
            self.session.sql(f"COMMENT ON TABLE {match.group(1)} IS {_spark_literal(match.group(2).replace(chr(39) * 2, chr(39)))}")
        else:
            self.session.sql(spark_sql(statement)).collect()

    def drop(self, schema: str, table: str, view: bool = False) -> None:
        """Drop a table (and its Parquet folder) or a view, if it exists."""
        self.session.sql(f"DROP {'VIEW' if view else 'TABLE'} IF EXISTS {schema}.{table}")
        location = self._location(schema, table)
        if location is not None and not view and location.exists():
            import shutil

            shutil.rmtree(location)

    def query(self, sql: str) -> pa.Table:
        """One query of carebridge's portable SQL (translated by `spark_sql`) as Arrow."""
        return _arrow(self.session.sql(spark_sql(sql.strip().rstrip(";"))))

    def load_arrow(self, qualified: str, table: pa.Table, replace: bool) -> None:
        schema, name = _name(qualified)
        frame = self.session.createDataFrame(_spark_ready(table))
        if replace or not self.has_table(schema, name):
            self._save(frame, schema, name)
            return
        target = self.session.table(f"{schema}.{name}")
        extra = sorted(set(frame.columns) - set(target.columns))
        if extra:  # as DuckDB's INSERT BY NAME: a column the table lacks is an error, never dropped
            raise ValueError(f"{schema}.{name} has no column {', '.join(extra)}")
        missing = [f for f in target.schema.fields if f.name not in frame.columns]
        for field in missing:
            from pyspark.sql import functions as F

            frame = frame.withColumn(field.name, F.lit(None).cast(field.dataType))
        frame.select(*target.columns).write.insertInto(f"{schema}.{name}")

    def _save(self, frame: Any, schema: str, name: str) -> None:
        """Replace `schema.name` with the frame's rows, as Parquet."""
        location = self._location(schema, name)
        writer = frame.write.mode("overwrite").format("parquet")
        if location is None:
            writer.saveAsTable(f"{schema}.{name}")
            return
        staging = location.with_name(f".{name}.new")
        if staging.exists():
            import shutil

            shutil.rmtree(staging)
        frame.write.mode("overwrite").parquet(str(staging))  # written in full before the old table goes
        self.drop(schema, name)
        staging.rename(location)
        self.session.sql(f"CREATE TABLE {schema}.{name} USING parquet LOCATION {_spark_literal(str(location))}")

    # --- catalogue ---------------------------------------------------------------------------
    def has_table(self, schema: str, name: str) -> bool:
        return bool(self.session.catalog.tableExists(f"{schema}.{name}"))

    def table_names(self, schema: str) -> list[str]:
        return sorted(t.name for t in self.session.catalog.listTables(schema) if t.tableType != "VIEW" and not t.isTemporary)

    def view_names(self, schema: str) -> set[str]:
        return {t.name for t in self.session.catalog.listTables(schema) if t.tableType == "VIEW" and not t.isTemporary}

    def relation_names(self, schema: str) -> set[str]:
        return {t.name for t in self.session.catalog.listTables(schema) if not t.isTemporary}

    def table_columns(self, schema: str) -> dict[str, list[str]]:
        return {t.name: [c.name for c in self.session.catalog.listColumns(f"{schema}.{t.name}")]
                for t in self.session.catalog.listTables(schema) if not t.isTemporary}

    # --- FHIR views --------------------------------------------------------------------------
    def load_ndjson(self, con: Any, files: Mapping[str, Path | Sequence[Path] | None], schema: str) -> dict[str, int]:
        from warehouse.engines.spark_views import load_ndjson_spark

        return load_ndjson_spark(self, files, schema)

    def compile_view(self, view: dict, schema: str) -> str:
        """Spark SQL whose rows are array expressions (warehouse.engines.spark_rows)."""
        from warehouse.engines.spark_views import compile_view_spark

        return compile_view_spark(view, schema)

    def run_view(self, con: Any, view: dict, schema: str) -> pa.Table:
        from warehouse.engines.spark_views import run_compiled_spark

        return run_compiled_spark(self.session, view, schema)

    # --- marts, comments ---------------------------------------------------------------------
    def run_mart(self, schema: str, name: str, select_sql: str) -> None:
        """Replace `schema.name` with one SELECT, translated to Spark SQL, written as Parquet."""
        self._save(self.session.sql(spark_sql(select_sql)), schema, name)

    def apply_comments(self, comments: Mapping[tuple[str, str], str]) -> None:
        for (schema, table), text in comments.items():
            self.session.sql(f"COMMENT ON TABLE {schema}.{table} IS {_spark_literal(text)}")


def _spark_ready(table: pa.Table) -> pa.Table:
    """Arrow columns Spark cannot take as they are: dictionaries decoded, null-typed columns as text
    (Parquet has no void type), unsigned integers widened."""
    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_dictionary(t):
            column = column.cast(t.value_type)
        elif pa.types.is_null(t):
            column = column.cast(pa.string())
        elif pa.types.is_large_string(t):
            column = column.cast(pa.string())
        elif pa.types.is_unsigned_integer(t):
            column = column.cast(pa.int64())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _arrow(frame: Any) -> pa.Table:
    """A Spark result as Arrow: decimals as float64 and timestamps without a zone, as DuckDB and
    PostgreSQL give them to carebridge."""
    table = frame.toArrow()
    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_decimal(t):
            column = column.cast(pa.float64())
        elif pa.types.is_timestamp(t) and t.tz is not None:
            column = column.cast(pa.timestamp(t.unit))
        columns.append(column)
    return pa.table(columns, names=table.column_names)
