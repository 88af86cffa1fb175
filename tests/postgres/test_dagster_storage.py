"""Dagster's run storage on PostgreSQL, as docs/dagster-postgres.yaml sets it up."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "dagster-postgres.yaml"


@dg.asset
def probe() -> int:
    return 1


def test_the_documented_dagster_yaml_stores_runs_in_postgresql(helpers, tmp_path, monkeypatch):
    pytest.importorskip("dagster_postgres", reason="the postgres extra (dagster-postgres) is not installed")
    url = helpers.create_pg_database("dagster")
    monkeypatch.setenv("DAGSTER_PG_URL", sa.make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False))
    shutil.copy(EXAMPLE, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert dg.materialize([probe], instance=instance).success
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 1   # in the database, not in files
    finally:
        engine.dispose()
