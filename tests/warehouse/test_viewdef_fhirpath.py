"""FHIRPath: the parser, static typing, and expressions run on both engines from one table."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.inference import FUNCTIONS, TypeEnv, TypeInfo, infer
from warehouse.engines.duckdb_views import load_resources
from warehouse.viewdef.nodes import (Binary, Call, EmptyLiteral, Index, Literal, Member, This, TypeOp,
                                     Unary, Variable)
from warehouse.viewdef.parser import parse, tokenize
from warehouse.viewdef.reference import evaluate
from warehouse.engines.duckdb_views import run_compiled


def name(*path: str):
    node = This()
    for step in path:
        node = Member(node, step)
    return node


# --- parser ------------------------------------------------------------------------------------

PARSES = [
    ("name.family", name("name", "family")),
    ("$this", This()),
    ("`given name`", name("given name")),
    ("name[0]", Index(name("name"), Literal(0, "integer"))),
    ("name.where(use = 'official')", Call(name("name"), "where", (Binary("=", name("use"), Literal("official", "string")),))),
    ("%name_use", Variable("name_use")),
    ("%`odd name`", Variable("odd name")),
    ("{}", EmptyLiteral()),
    ("true", Literal(True, "boolean")),
    ("1.50", Literal(1.5, "decimal")),
    ("'it''s'".replace("''", "\\'"), Literal("it's", "string")),
    ("'tab\\tand \\u00e9'", Literal("tab\tand \u00e9", "string")),
    ("@2020-01", Literal("2020-01", "date")),
    ("@2020-01-02T10:30:00Z", Literal("2020-01-02T10:30:00Z", "dateTime")),
    ("@T12:34", Literal("12:34", "time")),
    ("-1", Unary("-", Literal(1, "integer"))),
    ("a is FHIR.Quantity", TypeOp("is", name("a"), "Quantity")),
    ("getReferenceKey(Patient)", Call(This(), "getReferenceKey", (name("Patient"),))),
    ("text.div", name("text", "div")),
    ("a /* comment */ . b // trailing", name("a", "b")),
]


@pytest.mark.parametrize("text, expected", PARSES, ids=[p[0] for p in PARSES])
def test_parse(text, expected):
    assert parse(text) == expected


PRECEDENCE = [
    ("1 + 2 * 3", Binary("+", Literal(1, "integer"), Binary("*", Literal(2, "integer"), Literal(3, "integer")))),
    ("a or b and c", Binary("or", name("a"), Binary("and", name("b"), name("c")))),
    ("a implies b or c", Binary("implies", name("a"), Binary("or", name("b"), name("c")))),
    ("a = b and c != d", Binary("and", Binary("=", name("a"), name("b")), Binary("!=", name("c"), name("d")))),
    ("a < b = c", Binary("=", Binary("<", name("a"), name("b")), name("c"))),
    ("a - b - c", Binary("-", Binary("-", name("a"), name("b")), name("c"))),
    ("a | b = c", Binary("=", Binary("|", name("a"), name("b")), name("c"))),
    ("-a.b", Unary("-", name("a", "b"))),
    ("(a or b) and c", Binary("and", Binary("or", name("a"), name("b")), name("c"))),
    ("x & y + z", Binary("+", Binary("&", name("x"), name("y")), name("z"))),
]


@pytest.mark.parametrize("text, expected", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence_and_associativity(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["@@", "a.", "(a", "a b", "name.where(", "4 'mg'", "$index", "'open", ""])
def test_syntax_errors_raise_view_definition_error(text):
    with pytest.raises(ViewDefinitionError):
        parse(text)


def test_tokenizer_keeps_operators_and_drops_comments():
    kinds = [(t.kind, t.text) for t in tokenize("a.b <= 2 // x")]
    assert kinds == [("identifier", "a"), ("op", "."), ("identifier", "b"), ("op", "<="),
                     ("number", "2"), ("eof", "")]


# --- static typing -----------------------------------------------------------------------------

PATIENT_ENV = TypeEnv("Patient", TypeInfo("Patient", True), (("use", "code"),))


@pytest.mark.parametrize("text, expected", [
    ("name", TypeInfo("HumanName", False)),
    ("name.first().family", TypeInfo("string", True)),
    ("birthDate", TypeInfo("date", True)),
    ("deceased.ofType(boolean)", TypeInfo("boolean", True)),
    ("name.where(use = %use).given", TypeInfo("string", False)),
    ("contact.name", TypeInfo("HumanName", False)),
    ("1 + 2", TypeInfo("integer", True)),
    ("1 + 2.0", TypeInfo("decimal", True)),
    ("%rowIndex", TypeInfo("integer", True)),
    ("unknownElement", TypeInfo(None, False)),
])
def test_infer(text, expected):
    assert infer(parse(text), PATIENT_ENV) == expected


@pytest.mark.parametrize("text, message", [
    ("name.frobnicate()", "unknown FHIRPath function"),
    ("name.where()", "takes 1..1 arguments"),
    ("name.where(use = %missing)", "undefined constant"),
    ("name.ofType('x')", "expected a type name"),
])
def test_static_errors(text, message):
    with pytest.raises(ViewDefinitionError, match=message):
        infer(parse(text), PATIENT_ENV)


# --- expressions on both engines -----------------------------------------------------------------

PATIENT = {
    "resourceType": "Patient", "id": "p1", "active": True, "gender": "female", "birthDate": "1970-06",
    "multipleBirthInteger": 2, "deceasedBoolean": False,
    "name": [{"use": "official", "family": "Smith", "given": ["Ann", "Bea"]}, {"use": "usual", "given": ["Cat"]}],
    "identifier": [{"system": "nhs", "value": "9434765919"}, {"system": "local", "value": "L1"}],
    "extension": [{"url": "u1", "valueCode": "A"}, {"url": "u2", "valueDecimal": 1.25}],
    "generalPractitioner": [{"reference": "Organization/o1"}, {"reference": "urn:uuid:abc", "type": "Practitioner"}],
    "contact": [{"name": {"family": "Kin"}}],
}

EXPRESSIONS = [
    # (expression, column type, expected collection)
    ("name.given", "string", ["Ann", "Bea", "Cat"]),
    ("name.where(use = 'usual').given", "string", ["Cat"]),
    ("name.given.first()", "string", ["Ann"]),
    ("name.given.last()", "string", ["Cat"]),
    ("name[1].given", "string", ["Cat"]),
    ("name.given[2]", "string", ["Cat"]),
    ("name.given.count()", "integer", [3]),
    ("name.given.join('|')", "string", ["Ann|Bea|Cat"]),
    ("name.given.where($this = 'Bea')", "string", ["Bea"]),
    ("name.given.exists(startsWith('B'))", "boolean", [True]),
    ("name.where(family.exists()).count()", "integer", [1]),
    ("identifier.where(system = 'nhs').value", "string", ["9434765919"]),
    ("contact.name.family", "string", ["Kin"]),
    ("Patient.name.family", "string", ["Smith"]),
    ("%resource.id", "string", ["p1"]),
    ("getResourceKey()", "string", ["p1"]),
    ("multipleBirth.ofType(integer)", "integer", [2]),
    ("multipleBirth", "integer", [2]),
    ("multipleBirth.ofType(boolean)", "boolean", []),
    ("deceased.ofType(boolean)", "boolean", [False]),
    ("multipleBirth is integer", "boolean", [True]),
    ("deceased as boolean", "boolean", [False]),
    ("name.given.ofType(string)", "string", ["Ann", "Bea", "Cat"]),
    ("extension('u2').value.ofType(decimal)", "decimal", [1.25]),
    ("extension('u1').value.ofType(code)", "code", ["A"]),
    ("generalPractitioner.getReferenceKey()", "string", ["o1", "abc"]),
    ("generalPractitioner.getReferenceKey(Organization)", "string", ["o1"]),
    ("generalPractitioner.getReferenceKey(Practitioner)", "string", ["abc"]),
    ("birthDate.lowBoundary()", "date", ["1970-06-01"]),
    ("birthDate.highBoundary()", "date", ["1970-06-30"]),
    ("extension('u2').value.ofType(decimal).lowBoundary()", "decimal", [1.245]),
    ("gender = 'female'", "boolean", [True]),
    ("gender != 'female'", "boolean", [False]),
    ("gender ~ ' FEMALE'", "boolean", [True]),
    ("gender = {}", "boolean", []),
    ("name.given = name.given", "boolean", [True]),
    ("active and gender = 'male'", "boolean", [False]),
    ("active or {}", "boolean", [True]),
    ("{} or false", "boolean", []),
    ("active implies false", "boolean", [False]),
    ("active xor true", "boolean", [False]),
    ("name.exists() and name.empty().not()", "boolean", [True]),
    ("1 + 2 * 3", "integer", [7]),
    ("7 div 2", "integer", [3]),
    ("7 mod 2", "integer", [1]),
    ("7 / 2", "decimal", [3.5]),
    ("-(2 - 5)", "integer", [3]),
    ("multipleBirth.ofType(integer) * 1.5", "decimal", [3.0]),
    ("'a' & {} & 'b'", "string", ["ab"]),
    ("'a' + 'b'", "string", ["ab"]),
    ("iif(active, 'yes', 'no')", "string", ["yes"]),
    ("iif(gender = 'male', 'yes')", "string", []),
    ("name.family | contact.name.family", "string", ["Smith", "Kin"]),
    ("'Smith' in name.family", "boolean", [True]),
    ("name.family contains 'Jones'", "boolean", [False]),
    ("gender.substring(1, 3)", "string", ["ema"]),
    ("gender.substring(10)", "string", []),
    ("gender.upper()", "string", ["FEMALE"]),
    ("gender.length()", "integer", [6]),
    ("gender.indexOf('m')", "integer", [2]),
    ("gender.replace('fe', '')", "string", ["male"]),
    ("gender.matches('^f')", "boolean", [True]),
    ("gender.endsWith('ale') and gender.contains('em')", "boolean", [True]),
    ("identifier.first().value.toInteger()", "integer", [9434765919]),
    ("identifier.last().value.toInteger()", "integer", []),
    ("multipleBirth.ofType(integer).toString()", "string", ["2"]),
    ("active", "string", ["true"]),
]


@pytest.fixture(scope="module")
def patient_db():
    con = duckdb.connect()
    load_resources(con, {"Patient": [PATIENT]})
    yield con
    con.close()


def _collection_view(expression: str, type_name: str) -> dict:
    return {"resource": "Patient", "select": [{"column": [
        {"name": "v", "path": expression, "type": type_name, "collection": True}]}]}


@pytest.mark.parametrize("expression, type_name, expected", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_expression(engine, expression, type_name, expected, patient_db):
    view = _collection_view(expression, type_name)
    table = evaluate(view, [PATIENT]) if engine == "reference" else run_compiled(patient_db, view)
    assert table.column("v").to_pylist() == [pytest.approx(expected) if type_name == "decimal" else expected]


def test_functions_yaml_lists_what_both_engines_implement():
    from warehouse.viewdef import compiler, pyeval

    assert set(FUNCTIONS) == set(compiler._FUNCTIONS) == set(pyeval._FUNCTIONS)
