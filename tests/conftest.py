"""Fixtures shared by every test package: the warehouse on each engine, and one generated system
with its pipeline runs, built once per test session even under pytest-xdist.

Engines. `warehouse_url` is parametrised over every backend: DuckDB (a new file per test),
PostgreSQL (the worker's throwaway database with its schemas dropped and recreated) and Spark (a
new warehouse folder per test, on the one `local[2]` SparkSession of the worker: a JVM starts
once). PostgreSQL tests read the server from CAREBRIDGE_TEST_PG_URL and Spark tests need pyspark
and Java; each is skipped, saying so, when it is missing. Spark parameters carry the `spark` mark. Every database
these fixtures create is named `cb_t<run token>_...` and dropped when the test session ends.

Shared builds. Generating a system and running the pipeline takes tens of seconds, so it is done
once per session: the first worker to ask builds it under a file lock in a folder all workers
share, the others wait and reuse it. Tests treat shared builds as read-only (copy before changing).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from filelock import FileLock

from warehouse.db import SCHEMAS, ensure_schemas, make_engine
from warehouse.engines import BACKENDS, Engine, backend

PG_ENV = "CAREBRIDGE_TEST_PG_URL"
NO_PG = f"{PG_ENV} is not set: the PostgreSQL warehouse tests need a server (.ci/run sets it)"
ENGINES = tuple(BACKENDS)  # every warehouse backend (warehouse.engines): each warehouse test runs on each


def spark_missing() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: the Spark warehouse tests need the [spark] extra (pip install carebridge[spark])"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime: the Spark warehouse tests need Java 17 (.ci/run installs openjdk-17-jre-headless)"
    return None


def require_spark() -> None:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)


SPARK_ALL_ENV = "CAREBRIDGE_TEST_SPARK_ALL"  # 1: every warehouse test on Spark too, not only the `on_spark` ones
NOT_ON_SPARK = ("Spark: a JVM query costs ~100x a DuckDB one, so only the tests marked on_spark run the "
                f"warehouse on Spark in CI (set {SPARK_ALL_ENV}=1 to run every warehouse test on Spark)")


def engine_params(engines=ENGINES) -> list:
    """pytest params for the engines, Spark's with the `spark` mark."""
    return [pytest.param(e, marks=pytest.mark.spark) if e == "spark" else e for e in engines]
_TOKEN_ENV = "CAREBRIDGE_TEST_RUN_TOKEN"  # shared by the controller and its xdist workers
SYSTEM_PERSONS = 300
SYSTEM_SEED = 7


# --- session bookkeeping -----------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    # Set in the controller before workers start, so every worker inherits the same token.
    os.environ.setdefault(_TOKEN_ENV, uuid.uuid4().hex[:8])


def _database_prefix() -> str:
    return f"cb_t{os.environ[_TOKEN_ENV]}_"


def pytest_terminal_summary(terminalreporter) -> None:
    """Figures tests report with `record_property("figure: <name>", value)` (counts only, never
    patient data), shown after the run; xdist carries user_properties back to the controller."""
    figures = sorted({(name[len("figure: "):], value) for reports in terminalreporter.stats.values()
                      for report in reports for name, value in getattr(report, "user_properties", ())
                      if isinstance(name, str) and name.startswith("figure: ")})
    if figures:
        terminalreporter.write_sep("-", "figures reported by tests")
        for name, value in figures:
            terminalreporter.write_line(f"{name}: {value}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the controller (after every worker has finished): drop this session's databases and roles."""
    if hasattr(session.config, "workerinput") or not os.environ.get(PG_ENV):
        return
    admin = sa.create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE starts_with(datname, '" + _database_prefix() + "')").scalars().all()
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            # Roles tests create (cluster-wide) roles with the same prefix; their databases are gone now.
            roles = conn.exec_driver_sql(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, '" + _database_prefix() + "')").scalars().all()
            for role in roles:
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        admin.dispose()


# --- PostgreSQL ------------------------------------------------------------------------------

def require_postgres() -> str:
    """The test server's URL, or skip the test saying why."""
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(NO_PG)
    return server


def create_pg_database(suffix: str) -> str:
    """A new empty database on the test server (dropped at the end of the session); its URL.
    Commits need not wait for the disk there: test data is thrown away."""
    server = require_postgres()
    name = f"{_database_prefix()}{suffix}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET synchronous_commit = off")
    finally:
        admin.dispose()
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


def reset_schemas(url: str) -> None:
    """Drop and recreate the warehouse schemas: an empty warehouse in an existing database."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for schema in SCHEMAS:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        ensure_schemas(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_database(worker_id: str) -> str | None:
    """This worker's throwaway PostgreSQL database, or None without a server (tests then skip)."""
    return create_pg_database(f"w_{worker_id}") if os.environ.get(PG_ENV) else None


@pytest.fixture(scope="session")
def warehouse_for(pg_database: str | None, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """`warehouse_for(engine, directory=None)`: the URL of an empty warehouse on `engine`
    ("duckdb", "postgresql" or "spark"); skips when PostgreSQL is asked for and there is no server,
    or Spark and there is no pyspark or Java."""
    def make(engine: str, directory: Path | None = None) -> str:
        if engine == "duckdb":
            folder = directory or tmp_path_factory.mktemp("warehouse")
            return f"duckdb:///{folder / 'warehouse.duckdb'}"
        if engine == "spark":
            require_spark()
            folder = directory or tmp_path_factory.mktemp("warehouse")
            return f"spark+local://{folder / 'spark-warehouse'}"
        if pg_database is None:
            pytest.skip(NO_PG)
        reset_schemas(pg_database)
        return pg_database
    return make


@pytest.fixture(params=engine_params())
def warehouse_url(request: pytest.FixtureRequest, warehouse_for: Callable[..., str], tmp_path: Path) -> str:
    """An empty warehouse, once on every backend (DuckDB, PostgreSQL, Spark: tests marked `on_spark`)."""
    if request.param == "spark" and not request.node.get_closest_marker("on_spark") and os.environ.get(SPARK_ALL_ENV) != "1":
        pytest.skip(NOT_ON_SPARK)
    return warehouse_for(request.param, tmp_path)


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine | Engine]:
    """The warehouse handle of an empty warehouse (its schemas created), once on every backend: a
    SQLAlchemy engine (DuckDB, PostgreSQL) or the Spark backend (warehouse.engines.Warehouse)."""
    eng = make_engine(warehouse_url)
    ensure_schemas(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def warehouse(engine: sa.Engine) -> Engine:
    """The backend (warehouse.engines.Engine) of an empty warehouse, once on every backend."""
    return backend(engine)


# --- builds shared by all workers --------------------------------------------------------------

@pytest.fixture(scope="session")
def shared_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Callable[[str, Callable[[Path], None]], Path]:
    """`shared_build(name, build)`: the folder `name`, filled by `build(folder)` exactly once per
    session across xdist workers."""
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent

    def once(name: str, build: Callable[[Path], None]) -> Path:
        folder = root / "shared" / name
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not (folder / ".done").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                build(folder)
                (folder / ".done").touch()
        return folder
    return once


@dataclass(frozen=True)
class GeneratedSystem:
    """A synthetic system (no faults) and the key its runs use, kept outside every output folder."""

    landing: Path
    truth: Path
    key_file: Path


@dataclass(frozen=True)
class PipelineRun:
    """One run of `carebridge.runner.run_pipeline` over a generated system."""

    landing: Path
    out: Path
    warehouse_url: str
    key_file: Path
    log: Path  # everything the run printed (progress lines and Dagster's DEBUG log)


@pytest.fixture(scope="session")
def generated_system(shared_build) -> GeneratedSystem:
    from carebridge.core.keys import load_or_create_key
    from carebridge.synthetic import generate

    def build(folder: Path) -> None:
        generate(SYSTEM_PERSONS, folder / "landing", folder / "truth", seed=SYSTEM_SEED, fault_rate=0.0)
        load_or_create_key(folder / "config" / "pseudonymisation.key")  # before any run: runs may be concurrent

    folder = shared_build("system", build)
    return GeneratedSystem(landing=folder / "landing", truth=folder / "truth",
                           key_file=folder / "config" / "pseudonymisation.key")


def run_logged(landing: Path, out: Path, key_file: Path, warehouse_url: str = "") -> PipelineRun:
    """Run the whole pipeline in process, keeping everything it prints in `<out>/../<out name>.log`."""
    from carebridge.runner import run_pipeline

    log = out.with_name(out.name + ".log")
    with open(log, "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        run_pipeline(landing, out, warehouse_url=warehouse_url, key_file=key_file, log_level="DEBUG")
    return PipelineRun(landing=landing, out=out, warehouse_url=warehouse_url or f"duckdb:///{out / 'warehouse.duckdb'}",
                       key_file=key_file, log=log)


@pytest.fixture(scope="session")
def duckdb_run(shared_build, generated_system: GeneratedSystem) -> PipelineRun:
    """The pipeline over the generated system, on DuckDB (read-only for tests: copy it to change it)."""
    system = generated_system
    folder = shared_build("duckdb_run", lambda f: run_logged(system.landing, f / "out", system.key_file))
    return PipelineRun(landing=system.landing, out=folder / "out", warehouse_url=f"duckdb:///{folder / 'out' / 'warehouse.duckdb'}",
                       key_file=system.key_file, log=folder / "out.log")


@contextlib.contextmanager
def duckdb_copy(run: PipelineRun, directory: Path) -> Iterator[sa.Engine]:
    """An engine on a private copy of a run's DuckDB warehouse (shared builds stay untouched)."""
    target = directory / "warehouse.duckdb"
    shutil.copy(run.out / "warehouse.duckdb", target)
    engine = make_engine(f"duckdb:///{target}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def helpers():
    """Plain helpers for tests (test modules cannot import conftest: pytest runs in importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(create_pg_database=create_pg_database, require_postgres=require_postgres,
                           require_spark=require_spark, engine_params=engine_params,
                           run_logged=run_logged, duckdb_copy=duckdb_copy, PipelineRun=PipelineRun,
                           role_prefix=_database_prefix)
