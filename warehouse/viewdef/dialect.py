"""Everything that differs between SQL engines, in one table per dialect.

The compiler only ever writes SQL through `Dialect.sql(op, **parts)`; adding PostgreSQL (jsonb)
means adding a second `Dialect` whose templates spell the same operations with jsonb functions
and subqueries instead of DuckDB's list lambdas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from warehouse.viewdef.errors import NotCompilable

__all__ = ["Dialect", "DUCKDB", "DIALECTS", "get_dialect"]


@dataclass(frozen=True)
class Dialect:
    name: str
    templates: Mapping[str, str]
    sql_types: Mapping[str, str]
    json_types: Mapping[str, tuple[str, ...]]
    unsupported: frozenset[str] = field(default_factory=frozenset)

    def sql(self, op: str, **parts: object) -> str:
        """Render one operation; operations a dialect lacks raise NotCompilable."""
        if op in self.unsupported or op not in self.templates:
            raise NotCompilable(f"{op} is not supported by the {self.name} dialect")
        return self.templates[op].format(**parts)

    def literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"


_DUCKDB_TEMPLATES = {
    # JSON access: `path` is an SQL string literal holding a JSONPath such as '$.name[*].family'.
    "json_get": "json_extract({json}, {path})",
    "json_text": "json_extract_string({json}, {path})",
    "json_type": "json_type({json})",
    "json_type_at": "json_type({json}, {path})",
    "to_json": "to_json({value})",
    "json_null": "CAST(NULL AS JSON)",
    # Lists of JSON values (FHIRPath collections); indexes are 1-based.
    "list_empty": "CAST([] AS JSON[])",
    "list_empty_of": "CAST([] AS {type}[])",
    "list_type": "{type}[]",
    "list_of": "[{item}]",
    "list_map": "list_transform({list}, lambda {var}: {body})",
    "list_filter": "list_filter({list}, lambda {var}: {body})",
    "list_flatten": "flatten({list})",
    "list_len": "len({list})",
    "list_item": "({list})[{index}]",
    "list_last": "({list})[-1]",
    "list_concat": "list_concat({left}, {right})",
    "list_contains": "list_contains({list}, {item})",
    "list_distinct": "list_filter({list}, lambda _u, _i: list_position({list}, _u) = _i)",
    "list_join": "array_to_string({list}, {separator})",
    "let": "(list_transform([{value}], lambda {var}: {body}))[1]",
    # Scalars.
    "cast": "CAST({value} AS {type})",
    "try_cast": "TRY_CAST({value} AS {type})",
    "error": "error({message})",
    "regex_group": "NULLIF(regexp_extract({text}, {pattern}, {group}), '')",
    "regex_groups": "regexp_extract({text}, {pattern}, [{names}])",
    "regex_match": "regexp_matches({text}, {pattern})",
    "regex_full_match": "regexp_full_match({text}, {pattern})",
    "struct_field": "{struct}.{name}",
    "last_day_of_month": "strftime(last_day(make_date(CAST({year} AS INTEGER), CAST({month} AS INTEGER), 1)), '%d')",
    "pad_right": "CASE WHEN length({text}) >= {width} THEN {text} ELSE rpad({text}, {width}, {fill}) END",
    "round": "round({value}, CAST({digits} AS INTEGER))",
    "power10": "pow(10, {exponent})",
    "fraction_digits": "length(split_part({text}, '.', 2))",
    "trunc": "trunc({value})",
    "fmod": "fmod({left}, {right})",
    "starts_with": "starts_with({text}, {part})",
    "ends_with": "ends_with({text}, {part})",
    "contains": "contains({text}, {part})",
    "lower": "lower({text})",
    "upper": "upper({text})",
    "length": "length({text})",
    "substring": "substring({text}, {start} + 1, {length})",
    "substring_rest": "substring({text}, {start} + 1)",
    "index_of": "strpos({text}, {part}) - 1",
    "replace": "replace({text}, {old}, {new})",
    "fold_space": "lower(regexp_replace(trim({text}), '\\s+', ' ', 'g'))",
    # Relations.
    "table": "{schema}.fhir_{resource}",
    "unnest_indexed": "(SELECT unnest(_c) AS focus, generate_subscripts(_c, 1) - 1 AS idx FROM (SELECT {list} AS _c))",
    "unnest_keyed": "(SELECT unnest(_c) AS focus, generate_subscripts(_c, 1) AS pos FROM (SELECT {list} AS _c))",
    "list_append": "{list} || [{item}]",
    "lateral": "LATERAL ({query}) AS {alias}",
}

DUCKDB = Dialect(
    name="duckdb",
    templates=MappingProxyType(_DUCKDB_TEMPLATES),
    sql_types=MappingProxyType({"bool": "BOOLEAN", "integer": "BIGINT", "decimal": "DOUBLE", "text": "VARCHAR"}),
    json_types=MappingProxyType({
        "bool": ("BOOLEAN",), "integer": ("BIGINT", "UBIGINT"), "decimal": ("BIGINT", "UBIGINT", "DOUBLE"),
        "text": ("VARCHAR",), "date": ("VARCHAR",), "dateTime": ("VARCHAR",), "time": ("VARCHAR",),
        "object": ("OBJECT",), "number": ("BIGINT", "UBIGINT", "DOUBLE"), "array": ("ARRAY",), "null": ("NULL",),
    }),
)

DIALECTS: Mapping[str, Dialect] = MappingProxyType({"duckdb": DUCKDB})


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise NotCompilable(f"no SQL dialect named {name!r} (have: {', '.join(DIALECTS)})") from None
