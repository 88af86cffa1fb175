"""ViewDefinition -> Spark SQL built from array expressions, not lateral joins.

Spark cannot plan a correlated UNION ALL or a recursive CTE inside a lateral join, so on Spark a
select becomes an expression giving its rows for one focus as ARRAY<STRUCT<...>>: sibling selects
are a cartesian product (nested `transform`), forEach / forEachOrNull flatten a `transform` over
their collection, unionAll `concat`s its branches, and repeat walks a pre-order list built by
unrolling the recursion `depth` levels (a guard raises if the data is deeper, and the caller
compiles again deeper). The view's query `inline`s the root rows once per resource. Columns and
paths are compiled by the shared expression compiler and `sql_view`'s column helpers, so the
semantics are those of the other dialects; only the row structure differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from warehouse.viewdef.compiler import ROOT, SqlScope, item
from warehouse.viewdef.dialect import Dialect, get_dialect
from warehouse.viewdef.model import Select, View
from warehouse.viewdef.sql_view import (_collection, _column_sql, _empty_scope, _level_scope, _sql_type,
                                        _where)

__all__ = ["REPEAT_TOO_DEEP", "compile_rows"]

REPEAT_TOO_DEEP = "carebridge: repeat nested deeper than"  # the guard's message (the caller unrolls deeper)


@dataclass(frozen=True)
class _Rows:
    """An ARRAY<STRUCT> expression and its field names, in output order."""
    sql: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class _Context:
    fields: dict[str, str]      # view column name -> struct field name
    depth: int                  # levels a repeat is unrolled
    counter: list[int]          # lambda variable numbering

    def var(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"_{prefix}{self.counter[0]}"


def _struct(pairs: list[tuple[str, str]]) -> str:
    return "named_struct(" + ", ".join(f"'{name}', {sql}" for name, sql in pairs) + ")"


def _product(parts: list[_Rows], ctx: _Context) -> _Rows:
    """Every combination of one row from each part (no part: one empty row)."""
    if not parts:
        return _Rows("array(named_struct('_u', 1))", ())
    result = parts[0]
    for other in parts[1:]:
        a, b = ctx.var("a"), ctx.var("b")
        merged = _struct([(f, f"{a}.{f}") for f in result.fields] + [(f, f"{b}.{f}") for f in other.fields])
        if not result.fields and not other.fields:
            merged = "named_struct('_u', 1)"
        result = _Rows(f"flatten(transform({result.sql}, {a} -> transform({other.sql}, {b} -> {merged})))",
                       result.fields + other.fields)
    return result


def _shared(select: Select, scope: SqlScope, ctx: _Context) -> _Rows:
    """A select on the current focus: own columns, nested selects and unionAll, combined."""
    scope = replace(scope, env=select.env)
    parts = []
    if select.columns:
        own = [(ctx.fields[c.name], _column_sql(c, scope)) for c in select.columns]
        parts.append(_Rows(f"array({_struct(own)})", tuple(f for f, _ in own)))
    parts.extend(_rows(child, scope, ctx) for child in select.selects)
    if select.union_all:
        branches = [_rows(b, scope, ctx) for b in select.union_all]
        fields = branches[0].fields
        parts.append(_Rows("concat(" + ", ".join(b.sql for b in branches) + ")", fields))
    return _product(parts, ctx)


def _rows(select: Select, scope: SqlScope, ctx: _Context) -> _Rows:
    if select.iteration is None:
        return _shared(select, scope, ctx)
    kind = select.iteration.kind
    collection = _collection(select, scope)
    if kind == "repeat":
        collection = _unrolled(select, scope, collection, ctx)
    x, i = ctx.var("x"), ctx.var("i")
    body = _shared(select, _level_scope(scope, select, x, i), ctx)
    rows = f"flatten(transform({{items}}, ({x}, {i}) -> {body.sql}))"
    if kind != "forEachOrNull":
        return _Rows(rows.format(items=collection), body.fields)
    items = ctx.var("l")
    null_row = _null_row(select, scope, ctx)
    either = f"CASE WHEN size({items}) = 0 THEN array({null_row}) ELSE {rows.format(items=items)} END"
    return _Rows(scope.dialect.sql("let", value=collection, var=items, body=either), body.fields)


def _null_row(select: Select, scope: SqlScope, ctx: _Context) -> str:
    """forEachOrNull over nothing: own columns on an empty focus (%rowIndex 0), nested columns null
    (as `sql_view._null_row`)."""
    d = scope.dialect
    empty = _empty_scope(scope, select)
    own = [(ctx.fields[c.name], _column_sql(c, empty)) for c in select.columns]
    nested = [(ctx.fields[c.name], d.sql("cast", value="NULL", type=_sql_type(c, d)))
              for c in select.all_columns()[len(select.columns):]]
    return _struct(own + nested)


def _unrolled(select: Select, scope: SqlScope, first: str, ctx: _Context) -> str:
    """repeat's items in pre-order: each item, then the items repeat reaches from it, `depth`
    levels deep; below that a non-empty generation raises REPEAT_TOO_DEEP."""
    d = scope.dialect
    inner = replace(scope, env=select.env)

    def below(level: int) -> str:
        y = ctx.var("y")
        children = _collection(select, _level_scope(inner, select, y, "0"))
        if level == ctx.depth:
            message = d.literal(f"{REPEAT_TOO_DEEP} {ctx.depth} levels")
            empty = d.sql("list_empty")
            return y, f"CASE WHEN size({children}) > 0 THEN CAST(raise_error({message}) AS ARRAY<VARIANT>) ELSE {empty} END"
        z, deeper = below(level + 1)
        return y, f"flatten(transform({children}, {z} -> concat(array({z}), {deeper})))"

    y, deeper = below(1)
    return f"flatten(transform({first}, {y} -> concat(array({y}), {deeper})))"


def compile_rows(view: View, schema: str, depth: int = 8, dialect: str = "spark") -> str:
    """Spark SQL for an already validated view; `depth`: levels each repeat is unrolled."""
    d: Dialect = get_dialect(dialect)
    names = view.root.column_names()
    ctx = _Context({name: f"f{i}" for i, name in enumerate(names)}, depth, [0])
    scope = SqlScope(view.env, item(ROOT), item(ROOT), "0", {c.name: c for c in view.constants}, d)
    rows = _rows(view.root, scope, ctx)
    where = _where(view, scope)
    table = d.sql("table", schema=schema, resource=view.resource)
    inner = f"SELECT inline({rows.sql}) FROM {table} AS r" + (f" WHERE {where}" if where else "")
    columns = ", ".join(f"r0.{ctx.fields[n]} AS `{n}`" for n in names) or "1 AS _none"
    return f"SELECT {columns} FROM ({inner}) AS r0"
