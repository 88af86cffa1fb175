"""The PostgreSQL dialect of the view compiler (`warehouse.viewdef`): every piece of PostgreSQL SQL
a compiled ViewDefinition uses, and the session helpers it needs. `PostgresEngine.view_dialect` is
this object.

Collections are jsonb arrays, walked with `jsonb_array_elements ... WITH ORDINALITY` subqueries;
inside them a JSON null element is bound as SQL NULL, so PostgreSQL treats "no value" as DuckDB
does. A collection column is a jsonb array (converted to an Arrow list by the runner). `setup`
creates helper functions in `pg_temp` (they last for the session only); `per_query` runs in the
query's own transaction first.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from warehouse.viewdef.dialect import Dialect, Template

__all__ = ["POSTGRESQL"]

_PG_JSON_NULL = "'null'::jsonb"
_PG_EMPTY = "'[]'::jsonb"
# A key in a JSONPath literal: a quoted key (kept) or a plain `.key` (quoted, since PostgreSQL's
# jsonpath reads some plain keys as keywords).
_PATH_KEY = re.compile(r'("(?:[^"\\]|\\.)*")|\.([A-Za-z_][A-Za-z0-9_]*)')


def _pg_path(path: str) -> str:
    """A JSONPath SQL literal with every key quoted, typed as jsonpath."""
    quoted = _PATH_KEY.sub(lambda m: m.group(1) or f'."{m.group(2)}"', path)
    return f"CAST({quoted} AS jsonpath)"


def _pg_json_get(json: str, path: str) -> str:
    return json if path == "'$'" else f"jsonb_path_query_first({json}, {_pg_path(path)})"


def _pg_json_text(json: str, path: str) -> str:
    return f"({_pg_json_get(json, path)} #>> '{{}}')"


def _pg_elements(list_sql: str, var: str) -> str:
    """The items of a jsonb array as rows (`var`, `_ord`), JSON null read as SQL NULL."""
    return (f"(SELECT NULLIF(_elem, {_PG_JSON_NULL}) AS {var}, _ord "
            f"FROM jsonb_array_elements({list_sql}) WITH ORDINALITY AS _arr(_elem, _ord))")


def _pg_aggregate(value: str) -> str:
    return f"coalesce(jsonb_agg({value} ORDER BY _ord), {_PG_EMPTY})"


def _pg_json_type(json: str) -> str:
    """jsonb_typeof, with numbers told apart as integer or decimal (as DuckDB's json_type does)."""
    return (f"(CASE jsonb_typeof({json}) WHEN 'number' THEN CASE WHEN CAST({json} AS text) ~ '[.eE]' "
            f"THEN 'decimal' ELSE 'integer' END ELSE jsonb_typeof({json}) END)")


_PG_TEXT_OF_V = "_v #>> '{}'"
_PG_TRY_FUNCTIONS = {"BOOLEAN": "to_bool", "BIGINT": "to_int8", "DOUBLE PRECISION": "to_float8", "TEXT": "to_text"}


def _pg_try_cast(value: str, type: str) -> str:
    return f"pg_temp.viewdef_{_PG_TRY_FUNCTIONS[type]}({value})"


_PG_TEMPLATES: dict[str, Template] = {
    "json_get": _pg_json_get,
    "json_get_all": lambda json, path: f"jsonb_path_query_array({json}, {_pg_path(path)})",
    "json_text": _pg_json_text,
    "json_text_all": lambda json, path: (
        f"(SELECT {_pg_aggregate(_PG_TEXT_OF_V)} "
        f"FROM jsonb_path_query({json}, {_pg_path(path)}) WITH ORDINALITY AS _q(_v, _ord))"),
    "json_type": _pg_json_type,
    "json_type_at": lambda json, path: f"jsonb_typeof({_pg_json_get(json, path)})",
    "to_json": "to_jsonb({value})",
    "json_null": "CAST(NULL AS jsonb)",
    "list_empty": _PG_EMPTY,
    "list_empty_of": _PG_EMPTY,
    "list_type": "jsonb",
    "list_of": "jsonb_build_array({item})",
    "list_map": lambda list, var, body: f"(SELECT {_pg_aggregate(body)} FROM {_pg_elements(list, var)} AS _map)",
    "list_filter": lambda list, var, body: (
        f"(SELECT {_pg_aggregate(var)} FROM {_pg_elements(list, var)} AS _flt WHERE {body})"),
    "list_flatten": lambda list: (
        f"(SELECT coalesce(jsonb_agg(_item ORDER BY _ord, _sub), {_PG_EMPTY}) "
        f"FROM jsonb_array_elements({list}) WITH ORDINALITY AS _arr(_elem, _ord) "
        f"CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(_elem) = 'array' THEN _elem "
        f"ELSE {_PG_EMPTY} END) WITH ORDINALITY AS _nest(_item, _sub))"),
    "list_len": "jsonb_array_length({list})",
    "list_item": lambda list, index: (
        f"(CASE WHEN ({index}) >= 1 THEN NULLIF(({list}) -> CAST(({index}) - 1 AS integer), {_PG_JSON_NULL}) END)"),
    "list_last": f"NULLIF(({{list}}) -> -1, {_PG_JSON_NULL})",
    "list_concat": f"(coalesce({{left}}, {_PG_EMPTY}) || coalesce({{right}}, {_PG_EMPTY}))",
    "list_contains": "(({list}) @> jsonb_build_array({item}))",
    "list_distinct": lambda list: (
        f"(SELECT {_pg_aggregate('_elem')} FROM (SELECT _elem, min(_ord) AS _ord "
        f"FROM jsonb_array_elements({list}) WITH ORDINALITY AS _arr(_elem, _ord) GROUP BY _elem) AS _dst)"),
    "list_join": (
        "(SELECT coalesce(string_agg(_txt, {separator} ORDER BY _ord), '') "
        "FROM jsonb_array_elements_text({list}) WITH ORDINALITY AS _arr(_txt, _ord))"),
    "let": "(SELECT {body} FROM (SELECT {value} AS {var}) AS _let)",
    # Scalars.
    "cast": "CAST({value} AS {type})",
    "try_cast": _pg_try_cast,
    "error": "pg_temp.viewdef_error({message}, CAST(NULL AS {type}))",
    "guard": "pg_temp.viewdef_guard({test}, {message}, {value})",
    "regex_group": "NULLIF((regexp_match({text}, {pattern}))[{group}], '')",
    "regex_groups": "jsonb_object(CAST(ARRAY[{names}] AS text[]), regexp_match({text}, {pattern}))",
    "regex_match": "({text} ~ {pattern})",
    "regex_full_match": "({text} ~ ('^(?:' || {pattern} || ')$'))",
    "struct_field": "coalesce(({struct}) ->> '{name}', '')",
    "path_segment": "split_part({text}, '/', {index})",  # negative index: from the end
    "last_day_of_month": ("to_char(make_date(CAST({year} AS integer), CAST({month} AS integer), 1) "
                          "+ interval '1 month' - interval '1 day', 'DD')"),
    "pad_right": "CASE WHEN length({text}) >= {width} THEN {text} ELSE rpad({text}, {width}, {fill}) END",
    "round": "CAST(round(CAST({value} AS numeric), CAST({digits} AS integer)) AS double precision)",
    "power10": "power(10, {exponent})",
    "fraction_digits": "length(split_part({text}, '.', 2))",
    "trunc": "trunc({value})",
    "fmod": "CAST(mod(CAST({left} AS numeric), CAST({right} AS numeric)) AS double precision)",
    "starts_with": "starts_with({text}, {part})",
    "ends_with": "(right({text}, length({part})) = {part})",
    "contains": "(strpos({text}, {part}) > 0)",
    "lower": "lower({text})",
    "upper": "upper({text})",
    "length": "length({text})",
    "substring": "substr({text}, CAST({start} + 1 AS integer), CAST({length} AS integer))",
    "substring_rest": "substr({text}, CAST({start} + 1 AS integer))",
    "index_of": "strpos({text}, {part}) - 1",
    "replace": "replace({text}, {old}, {new})",
    "fold_space": "lower(regexp_replace(trim({text}), '\\s+', ' ', 'g'))",
    # Relations.
    "table": "{schema}.fhir_{resource}",
    "unnest_indexed": lambda list: f"(SELECT focus, _ord - 1 AS idx FROM {_pg_elements(list, 'focus')} AS _unn)",
    "unnest_keyed": lambda list: f"(SELECT focus, _ord AS pos FROM {_pg_elements(list, 'focus')} AS _unn)",
    "key_of": "ARRAY[CAST({item} AS bigint)]",
    "key_append": "({list} || CAST({item} AS bigint))",
    "lateral": "LATERAL ({query}) AS {alias}",
}


# Session helpers. Conversions follow `semantics.to_family` (booleans are not numbers; numeric
# text converts); the overloads let one call take jsonb, text or a number. Creation order matters:
# a body may call a function created before it. Errors raised inside a
# query carry the message the runner turns into ViewDefinitionError.
_PG_NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_PG_CONVERSIONS = {
    "to_float8": ("double precision", {
        "text": f"SELECT CASE WHEN $1 ~ '{_PG_NUMBER}' THEN CAST($1 AS double precision) END",
        "jsonb": "SELECT CASE jsonb_typeof($1) WHEN 'number' THEN CAST($1 AS double precision) "
                 "WHEN 'string' THEN pg_temp.viewdef_to_float8($1 #>> '{}') END",
        "boolean": "SELECT CAST(NULL AS double precision)",
        "numeric": "SELECT CAST($1 AS double precision)",
    }),
    "to_int8": ("bigint", {
        "jsonb": "SELECT CAST(trunc(pg_temp.viewdef_to_float8($1)) AS bigint)",
        "text": "SELECT CAST(trunc(pg_temp.viewdef_to_float8($1)) AS bigint)",
        "boolean": "SELECT CAST(NULL AS bigint)",
        "numeric": "SELECT CAST(trunc($1) AS bigint)",
    }),
    "to_bool": ("boolean", {
        "jsonb": "SELECT CASE WHEN jsonb_typeof($1) = 'boolean' THEN CAST($1 AS boolean) END",
        "text": "SELECT CASE lower(trim($1)) WHEN 'true' THEN true WHEN 'false' THEN false END",
        "boolean": "SELECT $1",
        "numeric": "SELECT CAST(NULL AS boolean)",
    }),
    "to_text": ("text", {
        "jsonb": "SELECT $1 #>> '{}'",
        "text": "SELECT $1",
        "boolean": "SELECT CAST($1 AS text)",
        "numeric": "SELECT CAST($1 AS text)",
    }),
}
_PG_NUMERIC_TYPES = ("bigint", "integer", "double precision", "numeric")


def _pg_conversion_functions() -> tuple[str, ...]:
    statements = []
    for name, (returns, bodies) in _PG_CONVERSIONS.items():
        for argument, body in bodies.items():
            for arg_type in (_PG_NUMERIC_TYPES if argument == "numeric" else (argument,)):
                statements.append(
                    f"CREATE OR REPLACE FUNCTION pg_temp.viewdef_{name}({arg_type}) RETURNS {returns} "
                    f"LANGUAGE sql IMMUTABLE AS $fn${body}$fn$")
    return tuple(statements)


_PG_SETUP = (
    "CREATE OR REPLACE FUNCTION pg_temp.viewdef_error(message text, sample anyelement) RETURNS anyelement "
    "LANGUAGE plpgsql AS $fn$BEGIN RAISE EXCEPTION '%', message; END$fn$",
    "CREATE OR REPLACE FUNCTION pg_temp.viewdef_guard(failed boolean, message text, value anyelement) "
    "RETURNS anyelement LANGUAGE plpgsql AS $fn$BEGIN IF failed THEN RAISE EXCEPTION '%', message; END IF; "
    "RETURN value; END$fn$",
    *_pg_conversion_functions(),
)

POSTGRESQL = Dialect(
    name="postgresql",
    templates=MappingProxyType(_PG_TEMPLATES),
    sql_types=MappingProxyType({"bool": "BOOLEAN", "integer": "BIGINT", "decimal": "DOUBLE PRECISION",
                                "text": "TEXT"}),
    json_types=MappingProxyType({
        "bool": ("boolean",), "integer": ("integer",), "decimal": ("integer", "decimal"),
        "text": ("string",), "date": ("string",), "dateTime": ("string",), "time": ("string",),
        "object": ("object",), "number": ("integer", "decimal"), "array": ("array",), "null": ("null",),
    }),
    setup=_PG_SETUP,
    # The nested jsonb subqueries look expensive to the planner, which then JIT-compiles a query
    # that runs in milliseconds (a second or more of compilation per view).
    per_query=("SET LOCAL jit = off",),
)
