"""ViewDefinition -> one SQL query over `<schema>.fhir_<Resource>(id, resource JSON)`.

The select tree is cut into *levels*: the resource itself, and one level per forEach /
forEachOrNull / repeat. Each level is one relation that computes, once per focus item, every
expression that depends on that focus (its columns, and the collections its child levels
unnest); child levels are `CROSS JOIN LATERAL`ed onto it and the final SELECT only picks
columns. Selects without iteration share their parent's level (a one-row factor of the
cartesian product); unionAll is a lateral `UNION ALL` of its branches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pyarrow as pa

from warehouse.viewdef.compiler import (ROOT, Shape, Sql, SqlScope, as_family_list, as_list, as_scalar,
                                        as_strict_bool, compile_expr, item)
from warehouse.viewdef.dialect import Dialect, get_dialect
from warehouse.viewdef.errors import NotCompilable, ViewDefinitionError
from warehouse.viewdef.inference import infer
from warehouse.viewdef.model import Column, Select, View, column_family, output_schema, parse_view

__all__ = ["compile_view", "compile_parsed", "prepare_view"]


@dataclass(frozen=True)
class _Part:
    """What selects contribute to the level whose focus they share.

    inner: expressions computed in the level's relation, as (alias, sql);
    outputs: the view's columns, as (name, reference to a relation column), in output order;
    joins: lateral joins of deeper levels and unions, after the level's relation."""
    inner: tuple[tuple[str, str], ...] = ()
    outputs: tuple[tuple[str, str], ...] = ()
    joins: tuple[str, ...] = ()

    def __add__(self, other: _Part) -> _Part:
        return _Part(self.inner + other.inner, self.outputs + other.outputs, self.joins + other.joins)


def _select_list(pairs: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f'{sql} AS "{alias}"' for alias, sql in pairs) or "1 AS _none"


def _query(outputs: tuple[tuple[str, str], ...], source: str, joins: tuple[str, ...] = ()) -> str:
    return " ".join([f"SELECT {_select_list(outputs)} FROM {source}", *joins])


def _sql_type(column: Column, d: Dialect) -> str:
    base = d.sql_types[column_family(column)]
    return d.sql("list_type", type=base) if column.collection else base


def _column_sql(column: Column, scope: SqlScope) -> str:
    d = scope.dialect
    value = compile_expr(column.path, scope)
    family = column_family(column)
    if column.collection:
        expr = as_family_list(value, family, d)
    else:
        expr = as_scalar(value, family, d, f"column {column.name}")
    return d.sql("cast", value=expr, type=_sql_type(column, d))


def _own_columns(select: Select, scope: SqlScope, level: str, pos: str) -> _Part:
    inner = tuple((f"c{pos}_{i}", _column_sql(c, scope)) for i, c in enumerate(select.columns))
    outputs = tuple((c.name, f'{level}."{alias}"') for c, (alias, _) in zip(select.columns, inner))
    return _Part(inner, outputs)


def _shared(select: Select, scope: SqlScope, level: str, pos: str) -> _Part:
    """A select evaluated on the focus of `level`: own columns, nested selects, unionAll."""
    scope = replace(scope, env=select.env)
    part = _own_columns(select, scope, level, pos)
    for i, child in enumerate(select.selects):
        part = part + _select(child, scope, level, f"{pos}_{i}")
    if select.union_all:
        part = part + _union(select, scope, level, pos)
    return part


def _union(select: Select, scope: SqlScope, level: str, pos: str) -> _Part:
    """unionAll: branch expressions live in the current level; a lateral UNION ALL picks them."""
    _require(scope.dialect, "unionAll")
    branches = [_select(b, scope, level, f"{pos}u{j}") for j, b in enumerate(select.union_all)]
    queries = [_query(b.outputs, "(SELECT 1) AS _one", b.joins) for b in branches]
    alias = f"u{pos}"
    names = select.union_all[0].column_names()
    join = f"CROSS JOIN {scope.dialect.sql('lateral', query=' UNION ALL '.join(f'({q})' for q in queries), alias=alias)}"
    return _Part(tuple(i for b in branches for i in b.inner), tuple((n, f'{alias}."{n}"') for n in names), (join,))


def _select(select: Select, scope: SqlScope, level: str, pos: str) -> _Part:
    if select.iteration is None:
        return _shared(select, scope, level, pos)
    return _iterating(select, scope, level, pos)


def _level_scope(scope: SqlScope, select: Select, focus: str, row_index: str) -> SqlScope:
    return replace(scope, this=item(focus), row_index=row_index, env=select.env)


def _collection(select: Select, scope: SqlScope) -> str:
    """The list a forEach/forEachOrNull unnests, or the first generation a repeat walks."""
    d = scope.dialect
    lists = [as_list(compile_expr(p, scope), d) for p in select.iteration.paths]
    if select.iteration.kind != "repeat":
        return lists[0]
    combined = lists[0]
    for other in lists[1:]:
        combined = d.sql("list_concat", left=combined, right=other)
    objects = f"{d.sql('json_type', json='_o')} = {d.literal(d.json_types['object'][0])}"
    return d.sql("list_filter", list=combined, var="_o", body=objects)


def _require(d: Dialect, feature: str) -> None:
    """A select feature the dialect's engine cannot plan (Spark: correlated UNION ALL and recursive
    CTEs inside a lateral join) is NotCompilable: the caller runs the reference evaluator."""
    if feature in d.unsupported:
        raise NotCompilable(f"{feature} is not supported by the {d.name} dialect")


def _iterating(select: Select, scope: SqlScope, level: str, pos: str) -> _Part:
    """A forEach / forEachOrNull / repeat: a new level joined onto `level`."""
    d, kind, alias = scope.dialect, select.iteration.kind, f"f{pos}"
    _require(d, kind)
    collection_alias = f"_c{pos}"
    collection = f"{level}.{collection_alias}"
    hoisted = _Part(((collection_alias, _collection(select, scope)),))
    if kind == "forEachOrNull" and d.has("unnest_indexed_outer"):
        return hoisted + _or_null_outer(select, scope, collection, alias, pos)
    body = _shared(select, _level_scope(scope, select, "u.focus", "u.idx"), alias, pos)
    if kind == "repeat":
        relation = _repeat_relation(select, scope, collection, body, pos)
    else:
        relation = _query(body.inner, f"{d.sql('unnest_indexed', list=collection)} AS u")
    if kind == "forEachOrNull" and body.joins:
        return hoisted + _or_null_subtree(select, scope, collection, body, relation, pos)
    if kind == "forEachOrNull":
        relation = f"{relation} UNION ALL {_null_row(select, scope, collection)}"
    join = f"CROSS JOIN {d.sql('lateral', query=relation, alias=alias)}"
    return hoisted + _Part((), body.outputs, (join,) + body.joins)


def _or_null_outer(select: Select, scope: SqlScope, collection: str, alias: str, pos: str) -> _Part:
    """forEachOrNull where the dialect unnests "outer" (Spark's posexplode_outer): an empty
    collection gives one row whose focus is NULL (every path on it empty) and %rowIndex 0, as the
    null row of the UNION ALL form. Deeper levels would drop that row: not compiled."""
    d = scope.dialect
    body = _shared(select, _level_scope(scope, select, "u.focus", "coalesce(u.idx, 0)"), alias, pos)
    if body.joins:
        raise NotCompilable(f"forEachOrNull with nested iterations is not supported by the {d.name} dialect")
    relation = _query(body.inner, f"{d.sql('unnest_indexed_outer', list=collection)} AS u")
    return _Part((), body.outputs, (f"CROSS JOIN {d.sql('lateral', query=relation, alias=alias)}",))


def _empty_scope(scope: SqlScope, select: Select) -> SqlScope:
    """The focus of forEachOrNull's null row: an empty collection (every path on it is empty)."""
    return replace(scope, this=Sql(Shape.LIST, scope.dialect.sql("list_empty")), row_index="0", env=select.env)


def _null_row(select: Select, scope: SqlScope, collection: str) -> str:
    """forEachOrNull over nothing: own columns see an empty focus and %rowIndex 0 (so paths are
    null and `%rowIndex` is 0); columns of nested selects are null. Same as the reference engine."""
    d = scope.dialect
    empty = _empty_scope(scope, select)
    own = tuple((f"c_{i}", _column_sql(c, empty)) for i, c in enumerate(select.columns))
    nested = tuple((f"n_{i}", d.sql("cast", value="NULL", type=_sql_type(c, d)))
                   for i, c in enumerate(select.all_columns()[len(select.columns):]))
    return f"SELECT {_select_list(own + nested)} WHERE {d.sql('list_len', list=collection)} = 0"


def _or_null_subtree(select: Select, scope: SqlScope, collection: str, body: _Part, relation: str, pos: str) -> _Part:
    """forEachOrNull with deeper levels: its rows, or its null row, as one lateral subquery."""
    d, alias = scope.dialect, f"n{pos}"
    rows = _query(body.outputs, d.sql("lateral", query=relation, alias=f"f{pos}"), body.joins)
    query = f"{rows} UNION ALL {_null_row(select, scope, collection)}"
    names = select.column_names()
    return _Part((), tuple((n, f'{alias}."{n}"') for n in names), (f"CROSS JOIN {d.sql('lateral', query=query, alias=alias)}",))


def _repeat_relation(select: Select, scope: SqlScope, collection: str, body: _Part, pos: str) -> str:
    """Depth-first walk of the repeat paths: a recursive CTE keyed by the list of positions, so
    ordering by key gives pre-order and %rowIndex."""
    d, cte = scope.dialect, f"_r{pos}"
    step_scope = _level_scope(scope, select, f"{cte}.focus", "0")
    seed = f"SELECT u.focus, {d.sql('key_of', item='u.pos')} FROM {d.sql('unnest_keyed', list=collection)} AS u"
    step = (f"SELECT u.focus, {d.sql('key_append', list=f'{cte}.key', item='u.pos')} FROM {cte} "
            f"CROSS JOIN LATERAL {d.sql('unnest_keyed', list=_collection(select, step_scope))} AS u")
    ordered = f"SELECT focus, row_number() OVER (ORDER BY key) - 1 AS idx FROM {cte}"
    return (f"WITH RECURSIVE {cte}(focus, key) AS ({seed} UNION ALL {step}) "
            f"SELECT {_select_list(body.inner)} FROM ({ordered}) AS u")


def _where(view: View, scope: SqlScope) -> str:
    d = scope.dialect
    tests = [as_strict_bool(compile_expr(w, scope), infer(w, scope.env).type, d) for w in view.where]
    return " AND ".join(f"coalesce({t}, false)" for t in tests)


def prepare_view(view: dict, dialect: Dialect | str, schema: str) -> tuple[View, pa.Schema, str]:
    """What an engine's view runner needs: the view parsed and validated, its output schema, its SQL."""
    parsed = parse_view(view)
    return parsed, output_schema(parsed), compile_parsed(parsed, dialect, schema)


def compile_parsed(view: View, dialect: Dialect | str = "duckdb", schema: str = "main") -> str:
    """SQL for an already validated view (see `compile_view`)."""
    d = get_dialect(dialect)
    scope = SqlScope(view.env, item(ROOT), item(ROOT), "0", {c.name: c for c in view.constants}, d)
    part = _shared(view.root, scope, "r0", "0")
    where = _where(view, scope)
    columns = _select_list(part.inner)
    source = _root_source(d.sql("table", schema=schema, resource=view.resource), columns + where, d)
    root = f"SELECT {columns} FROM {source} AS r" + (f" WHERE {where}" if where else "")
    return _query(part.outputs, f"({root}) AS r0", part.joins)


def _root_source(table: str, sql: str, d: Dialect) -> str:
    """The resource table, with the top-level members the compiled SQL reads hoisted (if the dialect does)."""
    if not d.has("root_member"):
        return table
    marker = re.escape(d.sql("root_member", key="KEY")).replace("KEY", "([A-Za-z_][A-Za-z0-9_]*)")
    keys = sorted(set(re.findall(marker, sql)))
    return d.sql("root_source", table=table, keys=keys) if keys else table


def compile_view(view: dict, dialect: Dialect | str = "duckdb", schema: str = "main") -> str:
    """One SQL query evaluating a ViewDefinition over `<schema>.fhir_<resource>` tables.

    Raises ViewDefinitionError for an invalid view and NotCompilable for a valid view this dialect
    cannot express (the caller may fall back to `reference.evaluate`)."""
    return compile_parsed(parse_view(view), dialect, schema)
