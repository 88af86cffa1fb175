"""Spark SQL for the view compiler: FHIR resources loaded as `<schema>.fhir_<Type>(id, resource)`
(the NDJSON line as text, parsed into a VARIANT by the compiled query), views compiled with the
`spark` dialect and run as one Spark SQL query each."""

from __future__ import annotations

import json
import re as _re

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa

from warehouse.viewdef.dialect import Dialect
from warehouse.viewdef.errors import SQL_ERROR_PREFIX, NotCompilable, ViewDefinitionError
from warehouse.viewdef.loading import ndjson_paths, valid_name
from warehouse.viewdef.model import View, output_schema, parse_view

__all__ = ["compile_view_spark", "register_functions", "written_number", "load_ndjson_spark", "load_resources_spark", "run_compiled_spark"]


def load_ndjson_spark(engine: Any, files: Mapping[str, Path | Sequence[Path] | None], schema: str) -> dict[str, int]:
    """(Re)create `<schema>.fhir_<Type>(id, resource)` from NDJSON files per type: one file or the
    parts of a partitioned export (None or no files: an empty table). Each line is checked to be
    JSON while loading (a malformed line fails the load)."""
    session = engine.session
    counts: dict[str, int] = {}
    for resource_type, path in files.items():
        name = f"fhir_{valid_name(resource_type)}"
        paths = ndjson_paths(path)
        if not paths:
            frame = session.createDataFrame([], "id string, resource string")
        else:
            lines = session.read.text(paths).where("trim(value) <> ''")
            frame = lines.selectExpr("variant_get(parse_json(value), '$.id', 'string') AS id", "value AS resource")
        engine.drop(schema, f"ndjson_{resource_type}")
        engine._save(frame, schema, name)
        counts[resource_type] = int(session.table(f"{schema}.{name}").count())
    return counts


def load_resources_spark(engine: Any, resources: Mapping[str, list[dict]], schema: str) -> dict[str, int]:
    """Python dicts (the conformance suite's resources) as `<schema>.fhir_<Type>` tables."""
    from warehouse.viewdef.loading import resource_batches

    counts = {}
    for resource_type, items in resources.items():
        batches = list(resource_batches(items))
        table = pa.concat_tables(batches) if batches else pa.table({"id": pa.array([], pa.string()),
                                                                     "resource": pa.array([], pa.string())})
        engine.load_arrow(f"{schema}.fhir_{valid_name(resource_type)}", table, replace=True)
        counts[resource_type] = table.num_rows
    return counts


_MAX_REPEAT_DEPTH = 512  # unrolling levels tried before a repeat is reported as too deep


def compile_view_spark(view: dict | View, schema: str, depth: int = 8) -> str:
    """A view's Spark SQL (rows as array expressions: warehouse.engines.spark_rows)."""
    from warehouse.engines.spark_rows import compile_rows

    parsed = view if isinstance(view, View) else parse_view(view)
    return compile_rows(parsed, schema, depth)


def run_compiled_spark(session: Any, view: dict, schema: str) -> pa.Table:
    """Compile a view to Spark SQL and run it; a missing resource table means no rows. A repeat
    deeper than the unrolled levels is compiled again four times deeper."""
    parsed = parse_view(view)
    target = output_schema(parsed)
    if not session.catalog.tableExists(f"{schema}.fhir_{parsed.resource}"):
        return target.empty_table()
    register_functions(session)
    depth = 8
    while True:
        try:
            with _analyzer_iterations(session, 100 + 12 * depth):
                return session.sql(compile_view_spark(parsed, schema, depth)).toArrow().cast(target)
        except Exception as error:  # noqa: BLE001 - a view error raised inside the query is a ViewDefinitionError
            from warehouse.engines.spark_rows import REPEAT_TOO_DEEP

            if REPEAT_TOO_DEEP in str(error) and depth < _MAX_REPEAT_DEPTH:
                depth *= 4
                continue
            converted = _view_error(error)
            if converted is error:
                raise
            raise converted from error


def written_number(text: str | None, path: str) -> str | None:
    """The number at an object-only JSON path ('$.a.b') as written in `text` (None if absent or not
    a number): the digits a VARIANT drops, which a decimal's boundaries depend on."""
    if text is None:
        return None
    value: Any = json.loads(text, parse_float=str, parse_int=str)
    for key in path.split(".")[1:]:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value[:1] in "-0123456789" and value else None


def register_functions(session: Any) -> None:
    """The Python functions compiled views may call (one Arrow-batched UDF; idempotent)."""
    from pyspark.sql.functions import udf

    session.udf.register("cb_written_number", udf(written_number, "string", useArrow=True))


@contextmanager
def _analyzer_iterations(session: Any, wanted: int) -> Iterator[None]:
    """At least `wanted` analyzer iterations for one query: each unrolled repeat level nests a few
    lambdas, and Spark resolves one nesting per iteration (default 100)."""
    key = "spark.sql.analyzer.maxIterations"
    before = session.conf.get(key, "100")
    if wanted <= int(before):
        yield
        return
    session.conf.set(key, str(wanted))
    try:
        yield
    finally:
        session.conf.set(key, before)


def _view_error(error: Exception) -> Exception:
    """A view error raised inside the query as a ViewDefinitionError; anything else as it is."""
    text = str(error)
    if SQL_ERROR_PREFIX not in text or "USER_RAISED_EXCEPTION" not in text:
        return error
    message = text.split(SQL_ERROR_PREFIX, 1)[1].split("\n")[0]
    return ViewDefinitionError(_re.sub(r"\s*SQLSTATE: \w+\s*$", "", message))


# --- the spark dialect --------------------------------------------------------------------------
# JSON values are VARIANTs (`parse_json` of the stored line), collections ARRAY<VARIANT>, walked
# with Spark's higher-order functions (transform, filter, flatten). A JSONPath with `[*]` steps,
# which Spark's variant_get cannot take, is rendered step by step: each `[*]` reads an array and
# flattens. Conversions follow `semantics.to_family` as the PostgreSQL dialect does (booleans are
# not numbers; numeric text converts), by the JSON type of the value.

_STEP = _re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\."((?:[^"\\]|\\.)*)"|\[(\*|-?[0-9]+)\]')
_EMPTY = "CAST(array() AS ARRAY<VARIANT>)"


def _unliteral(literal: str) -> str:
    """The text of an SQL string literal written by `SparkDialect.literal`."""
    body = literal.strip()[1:-1]
    return _re.sub(r"\\(.)", r"\1", body)


def _spark_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _steps(path_literal: str) -> list[str]:
    """'$.a[*].b' -> ['.a', '[*]', '.b'] (quoted keys become ['key'])."""
    path = _unliteral(path_literal)
    if not path.startswith("$"):
        raise NotCompilable(f"JSON path {path!r}")
    steps, pos = [], 1
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise NotCompilable(f"JSON path {path!r}")
        plain, quoted, index = match.groups()
        if plain is not None:
            steps.append(f".{plain}")
        elif quoted is not None:
            steps.append("['" + quoted.replace("\\", "\\\\").replace("'", "\\'") + "']")
        else:
            steps.append(f"[{index}]")
        pos = match.end()
    return steps


def _get(json: str, steps: list[str]) -> str:
    """One VARIANT (NULL when absent) from steps without `[*]`."""
    if not steps:
        return json
    return f"variant_get({json}, {_spark_literal('$' + ''.join(steps))})"


def _as_array(value: str) -> str:
    """A VARIANT array as ARRAY<VARIANT>; anything else (absent, null, object, scalar): empty."""
    return f"coalesce(try_cast({value} AS ARRAY<VARIANT>), {_EMPTY})"


def _json_get_all(json: str, path: str) -> str:
    """The items a path with `[*]` steps reaches, in order, as ARRAY<VARIANT>."""
    steps = _steps(path)
    first = steps.index("[*]")
    current = _as_array(_get(json, steps[:first]))
    rest = steps[first + 1:]
    while rest:
        if "[*]" in rest:
            cut = rest.index("[*]")
            current = f"flatten(transform({current}, _p -> {_as_array(_get('_p', rest[:cut]))}))"
            rest = rest[cut + 1:]
        else:
            current = f"filter(transform({current}, _p -> {_get('_p', rest)}), _p -> _p IS NOT NULL)"
            rest = []
    return current


def _json_get(json: str, path: str) -> str:
    return _get(json, _steps(path))


def _text_of(value: str) -> str:
    """The text of one VARIANT: a string as it is, anything else as its JSON (NULL for null)."""
    return f"try_variant_get({value}, '$', 'string')"


_JSON_TYPE_NAMES = ("OBJECT", "ARRAY", "NULL", "BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR")


def _json_type(json: str) -> str:
    """DuckDB's json_type names (OBJECT, ARRAY, NULL, BOOLEAN, BIGINT, DOUBLE, VARCHAR) from the
    VARIANT's own type."""
    kind = f"regexp_extract(schema_of_variant({json}), '^[A-Z]+', 0)"
    return (f"(CASE {kind} WHEN 'VOID' THEN 'NULL' WHEN 'STRING' THEN 'VARCHAR' WHEN 'DECIMAL' THEN 'DOUBLE' "
            f"WHEN 'FLOAT' THEN 'DOUBLE' WHEN 'INT' THEN 'BIGINT' WHEN 'SMALLINT' THEN 'BIGINT' "
            f"WHEN 'TINYINT' THEN 'BIGINT' ELSE {kind} END)")


_NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def _convert(value: str, type: str) -> str:
    """TRY_CAST by semantics.to_family: the value (a VARIANT or an SQL scalar) is read as a VARIANT
    and converted by its JSON type."""
    v = f"CAST({value} AS VARIANT)"
    kind = _json_type("_cv")
    text = _text_of("_cv")
    if type == "BOOLEAN":
        body = (f"CASE {kind} WHEN 'BOOLEAN' THEN variant_get(_cv, '$', 'boolean') WHEN 'VARCHAR' THEN "
                f"CASE lower(trim({text})) WHEN 'true' THEN true WHEN 'false' THEN false END END")
    elif type == "STRING":
        body = text
    else:
        target = "DOUBLE" if type == "DOUBLE" else "BIGINT"
        number = f"try_variant_get(_cv, '$', 'double')"
        from_text = f"CASE WHEN {text} RLIKE {_spark_literal(_NUMBER)} THEN try_cast(trim({text}) AS DOUBLE) END"
        body = f"CASE {kind} WHEN 'BIGINT' THEN {number} WHEN 'DOUBLE' THEN {number} WHEN 'VARCHAR' THEN {from_text} END"
        if target == "BIGINT":
            body = f"try_cast({body} AS BIGINT)"
    return f"element_at(transform(array({v}), _cv -> {body}), 1)"


def _regex_groups(text: str, pattern: str, names: str) -> str:
    """A struct of the pattern's groups by name ('' where a group took no part), as DuckDB's
    regexp_extract with names gives."""
    python = _unliteral(pattern)
    count = _re.compile(python).groups
    java = _spark_literal(_re.sub(r"\(\?P<\w+>", "(", python))
    fields = [_unliteral(n) for n in names.split(", ")]
    if len(fields) > count:
        raise NotCompilable("more names than groups")
    parts = ", ".join(f"{_spark_literal(f)}, regexp_extract({text}, {java}, {i})" for i, f in enumerate(fields, 1))
    return f"named_struct({parts})"


def _regex(pattern: str) -> str:
    return _spark_literal(_unliteral(pattern))


_SPARK_TEMPLATES = {
    "json_get": _json_get,
    "json_get_all": _json_get_all,
    "json_text": lambda json, path: _text_of(_json_get(json, path)),
    "json_text_all": lambda json, path: f"transform({_json_get_all(json, path)}, _q -> {_text_of('_q')})",
    "json_type": _json_type,
    "json_type_at": lambda json, path: _json_type(_json_get(json, path)),
    "to_json": "CAST({value} AS VARIANT)",
    "json_null": "CAST(NULL AS VARIANT)",
    "json_null_value": "parse_json('null')",
    "list_empty": _EMPTY,
    "list_empty_of": "CAST(array() AS ARRAY<{type}>)",
    "list_type": "ARRAY<{type}>",
    "list_of": "array({item})",
    "list_map": "transform({list}, {var} -> {body})",
    "list_filter": "filter({list}, {var} -> {body})",
    "list_flatten": lambda list: f"flatten(transform({list}, _f -> coalesce(_f, {_EMPTY})))",
    "list_len": "size({list})",
    "list_item": "(CASE WHEN ({index}) >= 1 THEN try_element_at({list}, {index}) END)",
    "list_last": "try_element_at({list}, -1)",
    "list_concat": f"concat(coalesce({{left}}, {_EMPTY}), coalesce({{right}}, {_EMPTY}))",
    "list_contains": "array_contains(filter({list}, _c -> _c IS NOT NULL), {item})",
    "list_distinct": "transform(array_distinct(transform({list}, _u -> to_json(_u))), _u -> parse_json(_u))",
    "list_join": "array_join({list}, {separator})",
    "let": "element_at(transform(array({value}), {var} -> {body}), 1)",
    # Scalars.
    "cast": "CAST({value} AS {type})",
    "try_cast": _convert,
    "error": "CAST(raise_error({message}) AS {type})",
    "guard": "CASE WHEN {test} THEN raise_error({message}) ELSE {value} END",
    "regex_group": lambda text, pattern, group: f"NULLIF(regexp_extract({text}, {_regex(pattern)}, {group}), '')",
    "regex_groups": _regex_groups,
    "regex_match": lambda text, pattern: f"({text} RLIKE {pattern})",
    "regex_full_match": lambda text, pattern: f"({text} RLIKE concat('^(?:', {pattern}, ')$'))",
    "struct_field": "{struct}.{name}",
    "path_segment": "split_part({text}, '/', {index})",
    "last_day_of_month": "date_format(last_day(make_date(CAST({year} AS INT), CAST({month} AS INT), 1)), 'dd')",
    "pad_right": "CASE WHEN length({text}) >= {width} THEN {text} ELSE rpad({text}, {width}, {fill}) END",
    "round": ("(sign({value}) * floor(abs({value}) * power(10, {digits}) + 0.5) / power(10, {digits}))"),
    "power10": "power(10, {exponent})",
    "fraction_digits": "length(split_part({text}, '.', 2))",
    "trunc": "CAST(try_cast({value} AS BIGINT) AS DOUBLE)",
    "fmod": "try_mod(CAST({left} AS DOUBLE), CAST({right} AS DOUBLE))",
    "starts_with": "startswith({text}, {part})",
    "ends_with": "endswith({text}, {part})",
    "contains": "contains({text}, {part})",
    "lower": "lower({text})",
    "upper": "upper({text})",
    "length": "char_length({text})",
    "substring": "substring({text}, {start} + 1, {length})",
    "substring_rest": "substring({text}, {start} + 1)",
    "index_of": "(instr({text}, {part}) - 1)",
    "replace": "replace({text}, {old}, {new})",
    "fold_space": "lower(regexp_replace(trim({text}), '\\\\s+', ' '))",
    # The view's table (rows are array expressions: warehouse.engines.spark_rows).
    "table": "(SELECT id, parse_json(resource) AS resource, resource AS resource_text FROM {schema}.fhir_{resource})",
    # A decimal's written text (a VARIANT keeps 1.0 as 1, Spark's JSON functions read numbers as
    # doubles): object-only paths from the stored line, by a Python function (`register_functions`).
    "root_json_text": "cb_written_number(r.resource_text, {path})",
}


class SparkDialect(Dialect):
    """Spark SQL string literals take backslash escapes (and two quotes are two literals)."""

    def literal(self, text: str) -> str:
        return _spark_literal(text)


SPARK = SparkDialect(
    name="spark",
    templates=MappingProxyType(_SPARK_TEMPLATES),
    sql_types=MappingProxyType({"bool": "BOOLEAN", "integer": "BIGINT", "decimal": "DOUBLE", "text": "STRING"}),
    # No relation templates: Spark cannot plan a correlated UNION ALL or a recursive CTE inside a
    # lateral join, so views compile through warehouse.engines.spark_rows (rows as array expressions).
    json_types=MappingProxyType({
        "bool": ("BOOLEAN",), "integer": ("BIGINT",), "decimal": ("BIGINT", "DOUBLE"),
        "text": ("VARCHAR",), "date": ("VARCHAR",), "dateTime": ("VARCHAR",), "time": ("VARCHAR",),
        "object": ("OBJECT",), "number": ("BIGINT", "DOUBLE"), "array": ("ARRAY",), "null": ("NULL",),
    }),
)
