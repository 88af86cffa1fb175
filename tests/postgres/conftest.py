"""The pipeline run on PostgreSQL: the generated system of tests/conftest.py, into a database of its own."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def postgres_run(shared_build, generated_system, helpers):
    """The whole pipeline on PostgreSQL over the same landing area and key as `duckdb_run`
    (skipped, saying why, without a server). Read-only for tests."""
    system = generated_system
    url_file = "warehouse_url.txt"

    def build(folder):
        database = helpers.create_pg_database("e2e")
        (folder / url_file).write_text(database, encoding="utf-8")
        helpers.run_logged(system.landing, folder / "out", system.key_file, warehouse_url=database)

    helpers.require_postgres()
    folder = shared_build("postgres_run", build)
    url = (folder / url_file).read_text(encoding="utf-8")
    return helpers.PipelineRun(landing=system.landing, out=folder / "out", warehouse_url=url,
                               key_file=system.key_file, log=folder / "out.log")
