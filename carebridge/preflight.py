"""Checks `carebridge run` makes before any work: the landing area has deliveries, the warehouse
URL parses and the warehouse answers. Each failure is one line naming what is wrong and where.

Light imports only (no Dagster, no pyarrow beyond the landing layout): a bad argument fails fast.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PreflightError", "landing_months", "check_warehouse"]

LAYOUT = "<source>/<ODS>/<YYYY-MM>/<submission>/"


class PreflightError(RuntimeError):
    """An argument is unusable: a one-line reason."""


def landing_months(landing: Path) -> list[str]:
    """The reporting months with deliveries, or PreflightError when there are none."""
    if not landing.is_dir():
        raise PreflightError(f"landing area {landing} does not exist")
    from carebridge.staging.landing import scan

    found = scan(landing)
    if not found.months:
        message = f"no deliveries under {landing} (expected {LAYOUT}<table>.csv)"
        if found.ignored:
            message += f"; {len(found.ignored)} entries not staged, e.g. {found.ignored[0].detail}"
        raise PreflightError(message)
    return found.months


def _cause(exc: BaseException) -> str:
    """The driver's own message on one line (psycopg's names host, port and e.g. "Connection refused")."""
    origin = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(origin).splitlines() if line.strip()]
    return "; ".join(lines) or type(origin).__name__


def _check_spark(url: str) -> str:
    """A Spark warehouse needs pyspark (the `spark` extra) and, unless it is Spark Connect, Java."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        raise PreflightError(f"--warehouse {url}: Spark needs pyspark (pip install carebridge[spark])")
    if not url.startswith("sc://") and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise PreflightError(f"--warehouse {url}: Spark needs Java 17 (e.g. apt-get install openjdk-17-jre-headless)")
    return url


def check_warehouse(url: str) -> str:
    """Parse and connect to the warehouse; returns a printable location or raises PreflightError.
    An empty URL means the DuckDB file in the output folder, made on first use: nothing to check."""
    if not url:
        return "DuckDB file in the output folder"
    from carebridge.core.settings import is_spark_url

    if is_spark_url(url):
        return _check_spark(url)
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise PreflightError(f"--warehouse {url!r} is not a database URL ({exc}); "
                             "expected e.g. postgresql+psycopg://user@host:5432/db or duckdb:///path.duckdb") from None
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise PreflightError(f"--warehouse {url}: folder {Path(path).parent} does not exist")
        return path or ":memory:"
    if backend != "postgresql":
        raise PreflightError(f"--warehouse {url}: unsupported database {backend!r} (DuckDB or PostgreSQL)")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    try:
        engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    except Exception as exc:  # noqa: BLE001 - a missing driver and the like, reported on one line
        raise PreflightError(f"cannot use the warehouse at {where}: {_cause(exc)}") from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - every connection failure becomes one line
        raise PreflightError(f"cannot connect to the warehouse at {where}: {_cause(exc)}") from None
    finally:
        engine.dispose()
    return where
