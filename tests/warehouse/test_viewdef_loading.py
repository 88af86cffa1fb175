"""Loading NDJSON into DuckDB (`warehouse.engines.duckdb_views.load_ndjson`, the warehouse's loader):
ids and resources survive exactly, malformed lines fail the load, the two loaders replace each
other's tables, and compiled views over the loaded files give the reference evaluator's rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from warehouse.engines.duckdb_views import load_ndjson, load_resources, run_compiled
from warehouse.viewdef import evaluate
from warehouse.viewdef.suite import compare_rows

PATIENTS = [
    {"resourceType": "Patient", "id": "p1", "gender": "female", "name": [{"family": "Ó'Brien \"Q\"", "given": ["Zoë"]}],
     "contact": [{"id": "not-the-resource-id", "name": {"family": "C"}}]},
    {"resourceType": "Patient", "id": "p2", "multipleBirthInteger": 2, "extension": [{"url": "u", "valueDecimal": 1.5}]},
    {"resourceType": "Patient", "gender": "unknown"},  # no id
]
# Written by hand so the text carries what a dump would not: spacing, key order, a trailing zero.
RAW_LINE = '{"gender" : "male",  "resourceType":"Patient","id":"p3","extension":[{"url":"u","valueDecimal":1.50}]}'


def _write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / f"{name}.ndjson"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture
def patients_file(tmp_path) -> Path:
    lines = [json.dumps(p, ensure_ascii=False) for p in PATIENTS] + ["", RAW_LINE]
    return _write(tmp_path, "Patient", lines)


def test_ids_and_resources_survive_the_load_exactly(con, patients_file):
    counts = load_ndjson(con, {"Patient": patients_file}, schema="raw")
    assert counts == {"Patient": 4}  # the blank line is not a resource
    columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = 'raw' AND table_name = 'fhir_Patient' ORDER BY ordinal_position").fetchall()
    assert columns == [("id", "VARCHAR"), ("resource", "JSON")]
    rows = con.execute("SELECT id, CAST(resource AS VARCHAR) FROM raw.fhir_Patient").fetchall()
    expected_lines = [line for line in patients_file.read_text(encoding="utf-8").splitlines() if line]
    assert [text for _, text in rows] == expected_lines  # the resource is the line as written
    assert [json.loads(text) for _, text in rows] == PATIENTS + [json.loads(RAW_LINE)]
    assert [id_ for id_, _ in rows] == ["p1", "p2", None, "p3"]  # the resource's own id, not a nested one


def test_a_malformed_line_fails_the_load(con, tmp_path):
    path = _write(tmp_path, "Patient", ['{"resourceType":"Patient","id":"ok"}', '{"resourceType":"Patient","id":"bad"'])
    with pytest.raises(duckdb.Error):
        load_ndjson(con, {"Patient": path})


def test_a_type_without_a_file_is_empty_and_loads_replace_each_other(con, patients_file):
    assert load_ndjson(con, {"Patient": None, "Observation": None}) == {"Patient": 0, "Observation": 0}
    assert con.execute("SELECT count(*) FROM fhir_Observation").fetchall() == [(0,)]
    load_ndjson(con, {"Patient": patients_file})
    assert con.execute("SELECT count(*) FROM fhir_Patient").fetchall() == [(4,)]
    # The dict loader replaces what the NDJSON loader made, and the other way round.
    load_resources(con, {"Patient": [{"resourceType": "Patient", "id": "only"}]})
    assert con.execute("SELECT id FROM fhir_Patient").fetchall() == [("only",)]
    load_ndjson(con, {"Patient": patients_file})
    assert con.execute("SELECT count(*) FROM fhir_Patient WHERE id IS NOT NULL").fetchall() == [(3,)]


def test_compiled_views_over_loaded_ndjson_match_the_reference(con, patients_file):
    load_ndjson(con, {"Patient": patients_file})
    resources = [json.loads(line) for line in patients_file.read_text(encoding="utf-8").splitlines() if line]
    view = {"resource": "Patient", "select": [
        {"column": [{"name": "key", "path": "getResourceKey()"}, {"name": "gender", "path": "gender"}]},
        {"forEachOrNull": "extension", "column": [{"name": "value", "path": "value.ofType(decimal)", "type": "decimal"}]},
        {"forEachOrNull": "name", "column": [{"name": "family", "path": "family"},
                                             {"name": "given", "path": "given", "collection": True}]}]}
    compiled, reference = run_compiled(con, view).to_pylist(), evaluate(view, resources).to_pylist()
    assert len(reference) == 4 and {r["key"] for r in reference} == {"p1", "p2", None, "p3"}
    assert compare_rows(compiled, reference) is None
