"""warehouse.engines: one interface, one implementation per backend, each test on every backend."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
import sqlalchemy as sa

from warehouse.engines import BACKENDS, backend_class
from warehouse.viewdef import evaluate

pytestmark = pytest.mark.on_spark  # every test here runs on every backend, Spark included

VIEW = {"resourceType": "ViewDefinition", "resource": "Patient", "status": "active",
        "select": [{"column": [{"name": "id", "path": "id"}, {"name": "gender", "path": "gender"}]}]}
PATIENTS = [{"resourceType": "Patient", "id": "p1", "gender": "female"},
            {"resourceType": "Patient", "id": "p2", "gender": "o'x"}]


def test_every_backend_is_registered_by_its_dialect_and_an_unknown_one_is_refused():
    for dialect in BACKENDS:
        assert backend_class(dialect).name == dialect
    with pytest.raises(NotImplementedError, match="supports duckdb, postgresql, spark, not oracle"):
        backend_class("oracle")


def test_arrow_loads_replace_or_append_and_read_back(warehouse):
    warehouse.load_arrow("work.t", pa.table({"x": [1, 2]}), replace=True)
    warehouse.load_arrow("work.t", pa.table({"x": [3]}), replace=False)
    assert sorted(warehouse.query("SELECT x FROM work.t")["x"].to_pylist()) == [1, 2, 3]
    warehouse.load_arrow("work.t", pa.table({"x": [9]}), replace=True)
    assert warehouse.query("SELECT x FROM work.t")["x"].to_pylist() == [9]


def test_a_mart_replaces_its_table_and_comments_apply(warehouse):
    warehouse.load_arrow("work.src", pa.table({"x": [1, 2, 3]}), replace=True)
    warehouse.run_mart("analytics", "m", "SELECT x * 2 AS y FROM work.src WHERE x > 1")
    warehouse.run_mart("analytics", "m", "SELECT x * 2 AS y FROM work.src WHERE x > 1")   # again: replaced
    assert sorted(warehouse.query("SELECT y FROM analytics.m")["y"].to_pylist()) == [4, 6]
    warehouse.apply_comments({("analytics", "m"): "doubled; it's a test"})


def test_ndjson_loads_and_a_compiled_view_agrees_with_the_reference_evaluator(warehouse, tmp_path):
    path = tmp_path / "Patient.ndjson"
    path.write_text("".join(json.dumps(p) + "\n" for p in PATIENTS), encoding="utf-8")
    with warehouse.driver() as con:
        assert warehouse.load_ndjson(con, {"Patient": path, "Observation": None}, "fhir") == {"Patient": 2, "Observation": 0}
        compiled = warehouse.run_view(con, VIEW, "fhir")
    assert sorted(compiled.to_pylist(), key=str) == sorted(evaluate(VIEW, PATIENTS).to_pylist(), key=str)


def test_grants_exist_only_where_the_backend_has_roles(warehouse):
    if warehouse.name in ("duckdb", "spark"):
        with pytest.raises(NotImplementedError, match="no roles"):
            warehouse.apply_grants()
    else:
        assert isinstance(warehouse.sa, sa.Engine)   # PostgreSQL: covered by tests/postgres/test_pipeline_postgres.py
