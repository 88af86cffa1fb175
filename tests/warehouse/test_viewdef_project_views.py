"""The project's own views (warehouse/views/*.json) give the same rows on every engine over the FHIR
output of a real pipeline run: the reference evaluator, compiled DuckDB (on resources loaded from
dicts, and through the warehouse's own view step, `materialise_views`, which loads the NDJSON
files), and compiled PostgreSQL through the warehouse's view step, one case per view and engine."""

from __future__ import annotations

import duckdb
import pytest

from fhir_mapping import read_ndjson
from warehouse.db import make_engine, query, read_table
from warehouse.engines.duckdb_views import load_resources, run_compiled
from warehouse.viewdef import evaluate
from warehouse.viewdef.suite import compare_rows
from warehouse.views_runner import materialise_views, view_definitions

VIEWS = sorted(view_definitions())


@pytest.fixture(scope="module")
def resources(duckdb_run) -> dict[str, list[dict]]:
    return read_ndjson(duckdb_run.out / "fhir" / "ndjson")


@pytest.fixture(scope="module")
def reference_views(resources) -> dict[str, list[dict]]:
    return {name: evaluate(view, resources.get(view["resource"], [])).to_pylist()
            for name, view in view_definitions().items()}


@pytest.fixture(scope="module")
def duckdb_views(resources):
    con = duckdb.connect()
    load_resources(con, resources)
    yield {name: run_compiled(con, view).to_pylist() for name, view in view_definitions().items()}
    con.close()


def _warehouse_views(url: str, ndjson) -> tuple[dict[str, list[dict]], int]:
    """The warehouse's view step on an empty warehouse: its v_* tables and the Patient rows it loaded."""
    engine = make_engine(url)
    try:
        counts = materialise_views(engine, ndjson)
        loaded = query(engine, "SELECT count(id) AS n FROM fhir.fhir_patient").column("n")[0].as_py()
        return {name: read_table(engine, "fhir", name).to_pylist() for name in counts}, loaded
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def duckdb_warehouse_views(duckdb_run, warehouse_for):
    return _warehouse_views(warehouse_for("duckdb"), duckdb_run.out / "fhir" / "ndjson")


@pytest.fixture(scope="module")
def postgresql_views(duckdb_run, warehouse_for):
    return _warehouse_views(warehouse_for("postgresql"), duckdb_run.out / "fhir" / "ndjson")


@pytest.mark.parametrize("name", VIEWS)
def test_compiled_duckdb_agrees_with_reference(name, duckdb_views, reference_views):
    expected = reference_views[name]
    assert expected, f"{name} has no rows: the comparison would prove nothing"
    assert compare_rows(duckdb_views[name], expected) is None


@pytest.mark.parametrize("name", VIEWS)
def test_warehouse_duckdb_view_step_agrees_with_reference(name, duckdb_warehouse_views, resources, reference_views):
    tables, patients_loaded = duckdb_warehouse_views
    # The views ran compiled over the NDJSON files loaded into the DuckDB warehouse, ids included.
    assert patients_loaded == len(resources["Patient"])
    assert compare_rows(tables[name], reference_views[name]) is None


@pytest.mark.postgres
@pytest.mark.parametrize("name", VIEWS)
def test_compiled_postgresql_agrees_with_reference(name, postgresql_views, resources, reference_views):
    tables, patients_loaded = postgresql_views
    # The views ran compiled inside PostgreSQL: the jsonb resource tables are there.
    assert patients_loaded == len(resources["Patient"])
    assert compare_rows(tables[name], reference_views[name]) is None
