"""The pipeline on PostgreSQL: the roles keep analysts out of the identifiable schemas (staging,
linkage, fhir, work, audit). That PostgreSQL gives DuckDB's tables, FHIR and bundles is
tests/e2e/test_engines_agree.py, one fixture for every engine."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from carebridge.cli import main
from warehouse.roles import libpq_conninfo
from warehouse.build import ANALYTICS_TABLES
from warehouse.db import make_engine, query, write_table
from warehouse.schemas import IDENTIFIABLE_SCHEMAS

pytestmark = pytest.mark.postgres


# --- roles -----------------------------------------------------------------------------------

def _connect_as(url: str, role: str) -> psycopg.Connection:
    return psycopg.connect(libpq_conninfo(sa.make_url(url).set(username=role, password=None)
                                          .render_as_string(hide_password=False)), autocommit=True)


def _readable(conn: psycopg.Connection, schema: str, name: str) -> bool:
    try:
        conn.execute(f"SELECT count(*) FROM {schema}.{name}").fetchone()
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def _tables(url: str, schema: str) -> list[str]:
    engine = make_engine(url)
    try:
        return query(engine, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
                     )["table_name"].to_pylist()
    finally:
        engine.dispose()


def test_setup_roles_lets_the_analyst_read_analytics_and_nothing_identifiable(postgres_run, helpers, capsys):
    url = postgres_run.warehouse_url
    prefix = helpers.role_prefix()
    names = {"pipeline": f"{prefix}pipeline", "analyst": f"{prefix}analyst", "publisher": f"{prefix}publisher"}
    args = ["setup-roles", "--warehouse", url, "--pipeline-role", names["pipeline"],
            "--analyst-role", names["analyst"], "--publisher-role", names["publisher"]]
    assert main(args) == 0 and main(args) == 0, capsys.readouterr().err          # idempotent
    identifiable = [(s, n) for s in IDENTIFIABLE_SCHEMAS for n in _tables(url, s)]
    analytics, published = (_tables(url, s) for s in ("analytics", "published"))
    assert len(identifiable) > 30 and set(ANALYTICS_TABLES) <= set(analytics)
    assert {s for s, _ in identifiable} == set(IDENTIFIABLE_SCHEMAS)

    with _connect_as(url, names["analyst"]) as analyst:
        refused = [(s, n) for s, n in identifiable if not _readable(analyst, s, n)]
        assert refused == identifiable                                            # every identifiable table
        assert all(_readable(analyst, "analytics", n) for n in analytics)
        assert all(_readable(analyst, "published", n) for n in published)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("DELETE FROM analytics.person")                       # read-only
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("CREATE TABLE analytics.mine (x int)")
    with _connect_as(url, names["publisher"]) as publisher:
        assert all(_readable(publisher, "published", n) for n in published)
        assert not any(_readable(publisher, "analytics", n) for n in analytics)
        assert not any(_readable(publisher, s, n) for s, n in identifiable)

    # Tables the pipeline role creates later are readable as declared, through default privileges.
    as_pipeline = make_engine(sa.make_url(url).set(username=names["pipeline"]).render_as_string(hide_password=False))
    try:
        for schema in (*IDENTIFIABLE_SCHEMAS, "analytics"):
            write_table(as_pipeline, schema, "roles_probe", pa.table({"x": [1]}))
    finally:
        as_pipeline.dispose()
    with _connect_as(url, names["analyst"]) as analyst:
        assert _readable(analyst, "analytics", "roles_probe")
        assert not any(_readable(analyst, s, "roles_probe") for s in IDENTIFIABLE_SCHEMAS)
