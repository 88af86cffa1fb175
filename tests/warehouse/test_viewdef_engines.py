"""View validation, loading, the compiled path's behaviour, the suite runner, engine agreement
on generated resources, value rules (references, boundaries) and the benchmark.

Tests of the compiled path run on DuckDB and, when CAREBRIDGE_TEST_PG_URL is set, on PostgreSQL
(fixture `compiled`), each against the reference evaluator."""

from __future__ import annotations

import json
import os
import uuid
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse.engines.duckdb_views import load_resources, run_compiled
from warehouse.viewdef import NotCompilable, ViewDefinitionError, benchmark, compile_view, evaluate, run_suite
from warehouse.viewdef import semantics
from warehouse.viewdef.model import output_schema, parse_view
from warehouse.viewdef.suite import compare_rows, libpq_url

PG_URL = os.environ.get("CAREBRIDGE_TEST_PG_URL")


def view(*columns: dict, **extra) -> dict:
    return {"resource": "Patient", "select": [{"column": list(columns)}], **extra}


def col(name: str, path: str, **extra) -> dict:
    return {"name": name, "path": path, **extra}


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def pg_con():
    if not PG_URL:
        pytest.skip("CAREBRIDGE_TEST_PG_URL is not set: no PostgreSQL server for the compiled path")
    import psycopg

    connection = psycopg.connect(libpq_url(PG_URL), autocommit=True)
    yield connection
    connection.close()


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def compiled(request):
    """The compiled path on one engine: `load({"Patient": [...]})`, `run(view)`."""
    if request.param == "duckdb":
        connection = request.getfixturevalue("con")
        yield SimpleNamespace(load=lambda by_type: load_resources(connection, by_type),
                              run=lambda v: run_compiled(connection, v))
        return
    from warehouse.engines.postgresql_views import load_resources_pg, run_compiled_pg

    connection = request.getfixturevalue("pg_con")
    schema = f"vd_{uuid.uuid4().hex[:10]}"
    yield SimpleNamespace(load=lambda by_type: load_resources_pg(connection, by_type, schema),
                          run=lambda v: run_compiled_pg(connection, v, schema))
    connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, message", [
    ({"resource": "Patient", "select": []}, "at least one select"),
    (view(col("id", "id"), col("id", "gender")), "more than once"),
    (view(col("1bad", "id")), "not a valid database name"),
    (view(col("id", "id"), constant=[{"name": "c", "valueString": "a", "valueCode": "b"}]), "exactly one value"),
    (view(col("id", "id"), constant=[{"name": "c", "valueQuantity": {"value": 1}}]), "not a primitive"),
    ({"resource": "Patient", "select": [{"forEach": "name", "forEachOrNull": "name", "column": [col("f", "family")]}]}, "only one of"),
    ({"resource": "Patient", "select": [{"unionAll": [{"column": [col("a", "id")]}, {"column": [col("b", "id")]}]}]}, "same columns"),
    (view(col("id", "id"), where=[{"path": "name.family"}]), "must be boolean"),
    (view(col("id", "id", collection="yes")), "collection must be"),
    ({"resource": "Patient", "select": [{"colum": []}]}, "invalid select"),
])
def test_invalid_views_are_rejected_before_reading_data(raw, message):
    with pytest.raises(ViewDefinitionError, match=message):
        parse_view(raw)


def test_output_schema_follows_column_types():
    schema = output_schema(parse_view(view(
        col("a", "id"), col("b", "multipleBirth.ofType(integer)", type="positiveInt"),
        col("c", "1.5", type="decimal"), col("d", "active", type="boolean"),
        col("e", "birthDate", type="date"), col("f", "name.given", collection=True),
        col("g", "active"))))
    assert [(f.name, str(f.type)) for f in schema] == [
        ("a", "string"), ("b", "int64"), ("c", "double"), ("d", "bool"), ("e", "string"),
        ("f", "list<item: string>"), ("g", "bool")]


# --- loading and the compiled path ---------------------------------------------------------------

def test_load_resources_creates_one_json_table_per_type_and_replaces(con):
    counts = load_resources(con, {"Patient": [{"resourceType": "Patient", "id": f"p{i}"} for i in range(3)],
                                  "Observation": [{"resourceType": "Observation", "id": "o1"}]}, schema="raw")
    assert counts == {"Patient": 3, "Observation": 1}
    columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = 'raw' AND table_name = 'fhir_Patient' ORDER BY ordinal_position").fetchall()
    assert columns == [("id", "VARCHAR"), ("resource", "JSON")]
    load_resources(con, {"Patient": [{"resourceType": "Patient", "id": "only"}]}, schema="raw")
    assert con.execute("SELECT id FROM raw.fhir_Patient").fetchall() == [("only",)]


@pytest.mark.postgres
def test_load_resources_pg_creates_one_jsonb_table_per_type_and_replaces(pg_con):
    from warehouse.engines.postgresql_views import load_resources_pg

    schema = f"vd_{uuid.uuid4().hex[:10]}"
    try:
        counts = load_resources_pg(pg_con, {"Patient": ({"resourceType": "Patient", "id": f"p{i}", "gender": "o'x"}
                                                        for i in range(3)),
                                            "Observation": [{"resourceType": "Observation", "id": "o1"}]}, schema)
        assert counts == {"Patient": 3, "Observation": 1}
        columns = pg_con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = %s AND table_name = 'fhir_patient' ORDER BY ordinal_position",
                                 [schema]).fetchall()
        assert columns == [("id", "text"), ("resource", "jsonb")]
        assert pg_con.execute(f"SELECT resource ->> 'gender' FROM {schema}.fhir_Patient WHERE id = 'p2'").fetchone() == ("o'x",)
        load_resources_pg(pg_con, {"Patient": [{"resourceType": "Patient", "id": "only"}]}, schema)
        assert pg_con.execute(f"SELECT id FROM {schema}.fhir_Patient").fetchall() == [("only",)]
    finally:
        pg_con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_postgresql_dialect_compiles_to_jsonb_with_quoted_path_keys():
    sql = compile_view(view(col("id", "id"), col("given", "name.given", collection=True)),
                       dialect="postgresql", schema="fhir")
    assert "FROM fhir.fhir_Patient AS r" in sql
    assert """jsonb_path_query(r.resource, CAST('$."name"[*]."given"[*]' AS jsonpath))""" in sql
    assert "list_transform" not in sql and "json_extract" not in sql


def test_compile_view_reads_the_schema_table_and_parses_each_resource_once():
    sql = compile_view(view(col("id", "id"), col("family", "name.family.first()"), col("given", "name.given.first()")),
                       schema="fhir")
    assert "FROM fhir.fhir_Patient)" in sql
    # DuckDB: the top-level members used are extracted with one multi-path json_extract per row.
    assert sql.count("json_extract(resource, ['$.id', '$.name'])") == 1
    assert "r.resource" not in sql


def test_resource_key_is_read_from_the_hoisted_members_not_a_parse_of_its_own():
    sql = compile_view(view(col("key", "getResourceKey()"), col("gender", "gender")))
    assert sql.count("json_extract(resource, ['$.gender', '$.id'])") == 1
    assert "r.resource" not in sql


def test_run_compiled_without_a_table_returns_no_rows_with_the_view_schema(compiled):
    table = compiled.run(view(col("id", "id"), col("n", "name.count()")))
    assert table.num_rows == 0 and table.schema == pa.schema([("id", pa.string()), ("n", pa.int64())])


def test_several_values_in_a_plain_column_is_an_error_on_both_engines(compiled):
    resources = [{"resourceType": "Patient", "id": "p", "name": [{"family": "A"}, {"family": "B"}]}]
    compiled.load({"Patient": resources})
    bad = view(col("family", "name.family"))
    with pytest.raises(ViewDefinitionError, match="family"):
        evaluate(bad, resources)
    with pytest.raises(ViewDefinitionError, match="family"):
        compiled.run(bad)


def test_non_boolean_where_found_at_run_time_is_an_error_on_both_engines(compiled):
    resources = [{"resourceType": "Patient", "id": "p", "contained": [{"resourceType": "Basic", "id": "x"}]}]
    compiled.load({"Patient": resources})
    bad = view(col("id", "id"), where=[{"path": "contained.id"}])
    with pytest.raises(ViewDefinitionError, match="boolean"):
        evaluate(bad, resources)
    with pytest.raises(ViewDefinitionError, match="boolean"):
        compiled.run(bad)


def test_unknown_dialect_and_untyped_boundary_are_not_compilable():
    with pytest.raises(NotCompilable, match="oracle"):
        compile_view(view(col("id", "id")), dialect="oracle")
    with pytest.raises(NotCompilable, match="boundary"):
        compile_view(view(col("b", "contained.id.lowBoundary()")))


@pytest.mark.parametrize("path, expected", [
    ("name.given", ["a", "b"]), ("name.given[1]", ["b"]), ("name.given.count()", [2]),
    ("name.given.join('+')", ["a+b"]),
])
def test_null_padding_of_primitive_arrays_is_not_a_value(compiled, path, expected):
    # FHIR JSON pads primitive arrays with null where only some items carry extensions (_given).
    patient = {"resourceType": "Patient", "id": "p", "name": [{"given": ["a", None, "b"],
                                                               "_given": [None, {"extension": []}, None]}]}
    compiled.load({"Patient": [patient]})
    column_view = view(col("v", path, collection=True, type="integer" if "count" in path else "string"))
    assert evaluate(column_view, [patient]).column("v").to_pylist() == [expected]
    assert compiled.run(column_view).column("v").to_pylist() == [expected]


@pytest.mark.parametrize("nested", [False, True])
def test_for_each_or_null_over_nothing_gives_one_row_on_both_engines(compiled, nested):
    # Own columns see an empty focus and %rowIndex 0; nested selects' columns are null.
    patient = {"resourceType": "Patient", "id": "p"}
    select = {"forEachOrNull": "name", "column": [
        col("i", "%rowIndex", type="integer"), col("family", "family"),
        col("given", "given", collection=True), col("has", "exists()", type="boolean"), col("lit", "'x'")]}
    if nested:
        select["select"] = [{"forEach": "given", "column": [col("g", "$this")]}]
    compiled.load({"Patient": [patient]})
    or_null = {"resource": "Patient", "select": [select]}
    expected = {"i": 0, "family": None, "given": [], "has": False, "lit": "x", **({"g": None} if nested else {})}
    assert evaluate(or_null, [patient]).to_pylist() == [expected]
    assert compiled.run(or_null).to_pylist() == [expected]


def test_repeat_walks_depth_first_with_row_index(compiled):
    response = {"resourceType": "QuestionnaireResponse", "id": "q", "item": [
        {"linkId": "1", "item": [{"linkId": "1.1", "item": [{"linkId": "1.1.1"}]}, {"linkId": "1.2"}]},
        {"linkId": "2"}]}
    compiled.load({"QuestionnaireResponse": [response]})
    walk = {"resource": "QuestionnaireResponse", "select": [{"repeat": ["item"], "column": [
        col("i", "%rowIndex", type="integer"), col("link", "linkId")]}]}
    expected = [{"i": 0, "link": "1"}, {"i": 1, "link": "1.1"}, {"i": 2, "link": "1.1.1"},
                {"i": 3, "link": "1.2"}, {"i": 4, "link": "2"}]
    assert sorted(compiled.run(walk).to_pylist(), key=lambda r: r["i"]) == expected
    assert evaluate(walk, [response]).to_pylist() == expected


# --- suite runner --------------------------------------------------------------------------------

def test_run_suite_skips_other_fhir_versions_and_records_fallbacks(tmp_path):
    suite = {"title": "t", "fhirVersion": ["4.0.1"], "resources": [
        {"resourceType": "Patient", "id": "p", "contained": [{"resourceType": "Basic", "id": "1970"}]}],
        "tests": [
            {"title": "r5 only", "fhirVersion": ["5.0.0"], "view": view(col("id", "id")), "expect": []},
            {"title": "untyped boundary", "view": view(col("b", "contained.id.first().lowBoundary()", type="date")),
             "expect": [{"b": "1970-01-01"}]},
            {"title": "wrong rows", "view": view(col("id", "id")), "expect": [{"id": "other"}]},
            {"title": "counted", "view": view(col("id", "id")), "expectCount": 1},
        ]}
    (tmp_path / "mini.json").write_text(json.dumps(suite))
    results = {t["name"]: t["result"] for t in run_suite(tmp_path)["mini.json"]["tests"]}
    assert results["r5 only"] == {"passed": False, "skipped": True,
                                  "reason": "fhirVersion ['5.0.0'] does not include 4.0.1"}
    assert results["untyped boundary"]["passed"] and results["untyped boundary"]["engine"] == "reference"
    assert "not compilable" in results["untyped boundary"]["reason"]
    assert not results["wrong rows"]["passed"] and "rows differ" in results["wrong rows"]["reason"]
    assert results["counted"] == {"passed": True, "engine": "duckdb"}


@pytest.mark.parametrize("actual, expected, same", [
    ([{"a": 5.0}], [{"a": 5}], True),
    ([{"a": True}], [{"a": 1}], False),
    ([{"a": 1}, {"a": 2}], [{"a": 2}, {"a": 1}], True),
    ([{"a": ["x", "y"]}], [{"a": ["y", "x"]}], False),
    ([{"a": None}], [{"a": None}, {"a": None}], False),
])
def test_compare_rows(actual, expected, same):
    assert (compare_rows(actual, expected) is None) is same


# --- the engines agree on generated resources ----------------------------------------------------

_codes = st.sampled_from(["official", "usual", "old", "nickname"])
_text = st.text(alphabet="abcXYZ", min_size=1, max_size=4)
_name = st.fixed_dictionaries({}, optional={"use": _codes, "family": _text,
                                            "given": st.lists(_text, min_size=1, max_size=3)})
_patient = st.fixed_dictionaries(
    {"resourceType": st.just("Patient"), "id": st.uuids().map(str)},
    optional={
        "active": st.booleans(),
        "gender": st.sampled_from(["male", "female", "unknown"]),
        "birthDate": st.sampled_from(["1970", "1970-02", "1999-12-31"]),
        "name": st.lists(_name, min_size=1, max_size=3),
        "multipleBirthInteger": st.integers(-3, 9),
        "deceasedBoolean": st.booleans(),
        "identifier": st.lists(st.fixed_dictionaries({"system": st.sampled_from(["nhs", "local"]), "value": _text}),
                               min_size=1, max_size=2),
        "generalPractitioner": st.lists(st.fixed_dictionaries({"reference": st.sampled_from(
            ["Organization/o1", "Practitioner/x", "urn:uuid:u", "#c"])}), min_size=1, max_size=2),
    })

AGREEMENT_VIEW = {
    "resource": "Patient",
    "constant": [{"name": "use", "valueCode": "official"}],
    "select": [
        {"column": [
            col("id", "getResourceKey()"),
            col("gender", "gender"),
            col("official", "name.where(use = %use).family", collection=True),
            col("given", "name.given.join(',')"),
            col("n_given", "name.given.count()", type="integer"),
            col("births", "multipleBirth.ofType(integer) * 2 + 1", type="integer"),
            col("born_low", "birthDate.lowBoundary()", type="date"),
            col("born_high", "birthDate.highBoundary()", type="date"),
            col("nhs", "identifier.where(system = 'nhs').value.first()"),
            col("orgs", "generalPractitioner.getReferenceKey(Organization)", collection=True),
            col("flag", "active.not() or deceased.ofType(boolean)", type="boolean"),
            col("cmp", "gender < 'm' and name.exists()", type="boolean"),
        ]},
        {"forEachOrNull": "name", "column": [col("ni", "%rowIndex", type="integer"), col("nf", "family")]},
        {"unionAll": [{"forEach": "identifier", "column": [col("v", "value")]},
                      {"forEach": "name.given", "column": [col("v", "$this")]}]},
    ],
    "where": [{"path": "gender.exists() implies gender != 'unknown'"}],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients=st.lists(_patient, min_size=1, max_size=6))
def test_reference_and_compiled_engines_agree(patients, compiled):
    compiled.load({"Patient": patients})
    compiled = compiled.run(AGREEMENT_VIEW).to_pylist()
    reference = evaluate(AGREEMENT_VIEW, patients).to_pylist()
    assert compare_rows(compiled, reference) is None


_coding = st.fixed_dictionaries({"system": st.sampled_from(["http://loinc.org", "urn:x"]), "code": _text})
_quantity = st.fixed_dictionaries({"value": st.one_of(st.integers(-5, 50), st.floats(-5, 50).map(lambda f: round(f, 2)))},
                                  optional={"unit": st.sampled_from(["kg", "mmHg"])})
_observation = st.fixed_dictionaries(
    {"resourceType": st.just("Observation"), "id": st.uuids().map(str),
     "status": st.sampled_from(["final", "amended", "cancelled"]),
     "code": st.fixed_dictionaries({"coding": st.lists(_coding, min_size=1, max_size=2)})},
    optional={
        "valueQuantity": _quantity,
        "valueString": _text,
        "effectiveDateTime": st.sampled_from(["2021", "2021-03", "2021-03-04", "2021-03-04T10:20:30Z",
                                              "2021-03-04T10:20+01:00"]),
        "subject": st.fixed_dictionaries({"reference": st.sampled_from(["Patient/a", "Patient/b", "Group/g"])}),
        "component": st.lists(st.fixed_dictionaries(
            {"code": st.fixed_dictionaries({"coding": st.lists(_coding, min_size=1, max_size=2)})},
            optional={"valueQuantity": _quantity, "valueBoolean": st.booleans()}), min_size=1, max_size=3),
    })

OBSERVATION_VIEW = {
    "resource": "Observation",
    "constant": [{"name": "loinc", "valueUri": "http://loinc.org"}, {"name": "limit", "valueDecimal": 10.5}],
    "select": [
        {"column": [
            col("id", "getResourceKey()"),
            col("patient", "subject.getReferenceKey(Patient)"),
            col("loinc", "code.coding.where(system = %loinc).code", collection=True),
            col("value", "value.ofType(Quantity).value", type="decimal"),
            col("high", "value.ofType(Quantity).value > %limit", type="boolean"),
            col("twice", "value.ofType(Quantity).value * 2 - 1", type="decimal"),
            col("text", "value.ofType(string) & '!'"),
            col("start", "effective.ofType(dateTime).lowBoundary()", type="dateTime"),
            col("end", "effective.ofType(dateTime).highBoundary()", type="dateTime"),
        ]},
        {"forEachOrNull": "component", "column": [
            col("ci", "%rowIndex", type="integer"),
            col("c_code", "code.coding.code.first()"),
            col("c_value", "value.ofType(Quantity).value", type="decimal"),
            col("c_flag", "value.ofType(boolean)", type="boolean"),
            col("c_any", "value.exists()", type="boolean")]},
    ],
    "where": [{"path": "status != 'cancelled'"}],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(observations=st.lists(_observation, min_size=1, max_size=5))
def test_engines_agree_on_choice_types_components_and_boundaries(observations, compiled):
    compiled.load({"Observation": observations})
    compiled = compiled.run(OBSERVATION_VIEW).to_pylist()
    reference = evaluate(OBSERVATION_VIEW, observations).to_pylist()
    assert compare_rows(compiled, reference) is None


# --- value rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, wanted, key", [
    ({"reference": "Patient/p1"}, None, "p1"),
    ({"reference": "http://x.org/fhir/Organization/o2/_history/3"}, "Organization", "o2"),
    ({"reference": "Organization/o2"}, "Patient", None),
    ({"reference": "urn:uuid:1234"}, None, "1234"),
    ({"reference": "urn:uuid:1234", "type": "Patient"}, "Patient", "1234"),
    ({"reference": "#contained"}, None, "contained"),
    ({"display": "no reference"}, None, None),
])
def test_reference_key(reference, wanted, key):
    assert semantics.reference_key(reference, wanted) == key


@pytest.mark.parametrize("value, kind, high, expected", [
    ("2010-10-10", "dateTime", False, "2010-10-10T00:00:00.000+14:00"),
    ("2010-10-10", "dateTime", True, "2010-10-10T23:59:59.999-12:00"),
    ("2012-02", "date", True, "2012-02-29"),
    ("2010", "date", False, "2010-01-01"),
    ("2010-10-10T10:30Z", "dateTime", True, "2010-10-10T10:30:59.999Z"),
    ("2010-10-10T10:30:15.5+01:00", "dateTime", False, "2010-10-10T10:30:15.500+01:00"),
])
def test_date_time_boundary(value, kind, high, expected):
    assert semantics.date_time_boundary(value, kind, high) == expected


def test_time_and_decimal_boundaries():
    assert semantics.time_boundary("12:34", True) == "12:34:59.999"
    assert semantics.decimal_boundary(1.587, False) == pytest.approx(1.5865)
    assert semantics.decimal_boundary(-1.587, True) == pytest.approx(-1.5865)
    assert semantics.decimal_boundary(3, True) == pytest.approx(3.5)


# --- benchmark ---------------------------------------------------------------------------------

def test_benchmark_reports_rates_for_each_engine_and_agreement():
    patients = [{"resourceType": "Patient", "id": f"p{i}", "gender": "male",
                 "name": [{"family": f"F{i}"}, {"family": "G"}]} for i in range(30)]
    bench_view = {"resource": "Patient", "select": [
        {"column": [col("id", "getResourceKey()"), col("g", "gender")]},
        {"forEach": "name", "column": [col("f", "family"), col("i", "%rowIndex", type="integer")]}]}
    report = benchmark(bench_view, patients)
    assert report["resources"] == 30
    assert set(report["engines"]) == {"reference", "duckdb", "fhirpathpy"}
    for engine in report["engines"].values():
        assert engine["rows"] == 60 and engine["rows_per_second"] > 0
    assert report["engines"]["duckdb"]["agrees_with_reference"]
    assert report["engines"]["fhirpathpy"]["agrees_with_reference"]
