"""The DuckDB dialect of the view compiler (`warehouse.viewdef`): every piece of DuckDB SQL a
compiled ViewDefinition uses, as one template table. `DuckDBEngine.view_dialect` is this object.

Collections are typed DuckDB lists walked with lambdas; JSON is read with `json_extract`. DuckDB
parses JSON text on every access, so the compiled query extracts the resource's top-level members
it reads once per row (`root_member` / `root_source`).
"""

from __future__ import annotations

from types import MappingProxyType

from warehouse.viewdef.dialect import Dialect

__all__ = ["DUCKDB"]

_DUCKDB_TEMPLATES = {
    # JSON access: `path` is an SQL string literal holding a JSONPath such as '$.name[*].family'.
    # The `_all` forms take a path with a `[*]` step and give a list.
    "json_get": "json_extract({json}, {path})",
    "json_get_all": "json_extract({json}, {path})",
    "json_text": "json_extract_string({json}, {path})",
    "json_text_all": "json_extract_string({json}, {path})",
    "json_type": "json_type({json})",
    "json_type_at": "json_type({json}, {path})",
    "to_json": "to_json({value})",
    "json_null": "CAST(NULL AS JSON)",
    "json_null_value": "CAST('null' AS JSON)",
    # The resource's top-level members, extracted once per row with one multi-path json_extract
    # (DuckDB parses JSON text on every access); `root_member` names one of them.
    "root_member": 'r."_m_{key}"',
    "root_source": lambda table, keys: (
        f"(SELECT resource, {', '.join(f'_h[{i}] AS {chr(34)}_m_{k}{chr(34)}' for i, k in enumerate(keys, 1))} "
        f"FROM (SELECT resource, json_extract(resource, [{', '.join(repr('$.' + k) for k in keys)}]) AS _h "
        f"FROM {table}) AS _t)"),
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
    "guard": "CASE WHEN {test} THEN error({message}) ELSE {value} END",
    "regex_group": "NULLIF(regexp_extract({text}, {pattern}, {group}), '')",
    "regex_groups": "regexp_extract({text}, {pattern}, [{names}])",
    "regex_match": "regexp_matches({text}, {pattern})",
    "regex_full_match": "regexp_full_match({text}, {pattern})",
    "struct_field": "{struct}.{name}",
    "path_segment": "split_part({text}, '/', {index})",  # negative index: from the end
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
    # repeat's ordering key: a list of 1-based positions, compared lexicographically (pre-order).
    "key_of": "[{item}]",
    "key_append": "{list} || [{item}]",
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
