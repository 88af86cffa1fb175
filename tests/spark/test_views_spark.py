"""Views compiled to Spark SQL (warehouse.engines.spark_rows) against the reference evaluator, on
shapes the conformance suite does not reach: a repeat deeper than the first unrolling, and a
decimal's written digits."""

from __future__ import annotations

import pytest

from warehouse.viewdef.reference import evaluate


def _questionnaire(qid: str, depth: int) -> dict:
    """A Questionnaire whose items nest `depth` levels (two siblings at each level)."""
    def items(level: int, prefix: str) -> list[dict]:
        if level > depth:
            return []
        return [{"linkId": f"{prefix}{k}", "item": items(level + 1, f"{prefix}{k}.")} for k in (1, 2)][: 2 if level < 3 else 1]
    return {"resourceType": "Questionnaire", "id": qid, "status": "active", "item": items(1, "")}


@pytest.fixture(scope="module")
def engine(spark, tmp_path_factory):
    from carebridge.core.settings import SparkSettings
    from warehouse.engines.spark import SparkEngine
    from warehouse.engines.spark_views import load_resources_spark

    settings = SparkSettings(warehouse_dir=tmp_path_factory.mktemp("views-warehouse"))
    spark_engine = SparkEngine(spark, settings)
    resources = [_questionnaire("deep", 11), _questionnaire("shallow", 2), {"resourceType": "Questionnaire", "id": "none", "status": "draft"}]
    load_resources_spark(spark_engine, {"Questionnaire": resources}, "fhir")
    return spark_engine, resources


def _rows(table) -> list[tuple]:
    return sorted(tuple(row.values()) for row in table.to_pylist())


def test_repeat_deeper_than_the_first_unrolling_compiles_again_and_matches_the_reference(engine):
    spark_engine, resources = engine
    view = {"resource": "Questionnaire", "select": [
        {"column": [{"name": "id", "path": "getResourceKey()"}]},
        {"repeat": ["item"], "column": [{"name": "link", "path": "linkId"}, {"name": "pos", "path": "%rowIndex"}]}]}
    got = spark_engine.run_view(None, view, "fhir")
    assert _rows(got) == _rows(evaluate(view, resources))
    assert max(len(link.split(".")) for link in got.column("link").to_pylist()) == 11  # deeper than 8 levels


def test_nested_foreach_or_null_and_union_match_the_reference(engine):
    spark_engine, resources = engine
    view = {"resource": "Questionnaire", "select": [
        {"column": [{"name": "id", "path": "id"}]},
        {"forEachOrNull": "item", "column": [{"name": "top", "path": "linkId"}],
         "select": [{"forEach": "item", "column": [{"name": "child", "path": "linkId"}]}],
         "unionAll": [{"column": [{"name": "u", "path": "linkId"}]}, {"forEachOrNull": "item", "column": [{"name": "u", "path": "linkId"}]}]}]}
    got = spark_engine.run_view(None, view, "fhir")
    assert _rows(got) == _rows(evaluate(view, resources))
    assert ("none", None, None, None) in _rows(got)  # forEachOrNull's null row survives its nested iterations


def test_a_decimal_keeps_its_written_digits(spark, tmp_path):
    from carebridge.core.settings import SparkSettings
    from warehouse.engines.spark import SparkEngine
    from warehouse.engines.spark_views import load_ndjson_spark

    (tmp_path / "Observation.ndjson").write_text(
        '{"resourceType":"Observation","id":"a","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.0}}\n'
        '{"resourceType":"Observation","id":"b","status":"final","code":{"text":"x"},"valueQuantity":{"value":2.50}}\n')
    spark_engine = SparkEngine(spark, SparkSettings(warehouse_dir=tmp_path / "wh"))
    load_ndjson_spark(spark_engine, {"Observation": tmp_path / "Observation.ndjson"}, "fhir")
    view = {"resource": "Observation", "select": [{"column": [
        {"name": "id", "path": "id"}, {"name": "low", "path": "value.ofType(Quantity).value.lowBoundary()", "type": "decimal"}]}]}
    assert _rows(spark_engine.run_view(None, view, "fhir")) == [("a", 0.95), ("b", 2.495)]
