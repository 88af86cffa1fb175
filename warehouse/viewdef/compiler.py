"""FHIRPath -> SQL expressions, one `compile_<node>` per AST class (single dispatch).

A compiled expression is an `Sql` value of one of three shapes:
- LIST: a collection, an SQL list of JSON values;
- ITEM: at most one JSON value (SQL NULL = empty);
- SCALAR: at most one typed SQL value of a value family (bool, integer, decimal, text).

Member navigation is kept as a pending `JsonPath` while the FHIR schema knows each step, so
`name.given` becomes one `json_extract(resource, '$.name[*].given[*]')` instead of nested list
lambdas; unknown steps fall back to reading the JSON as it comes. Every bit of SQL syntax goes
through the `Dialect` table. Static decisions come from `inference`, exactly as in the reference
engine (`pyeval`), so the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from functools import singledispatch
from typing import Any

from warehouse.viewdef import fhir_schema, semantics
from warehouse.viewdef.dialect import Dialect
from warehouse.viewdef.errors import SQL_ERROR_PREFIX, NotCompilable
from warehouse.viewdef.inference import (ARITHMETIC, COMPARISONS, TypeEnv, argument_env,
                                         compare_family, infer, is_root_type_name, lambda_env,
                                         member_keys, of_type_plan, type_argument)
from warehouse.viewdef.model import Constant
from warehouse.viewdef.nodes import (Binary, Call, EmptyLiteral, Index, Literal, Member, Node, This,
                                     TypeOp, Unary, Variable)

__all__ = ["ROOT", "Shape", "JsonPath", "Sql", "SqlScope", "compile_expr", "as_list", "as_item", "as_scalar",
           "as_bool", "as_strict_bool", "as_family_list", "value_family"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COLUMN = re.compile(r'^\w+(\.(\w+|"\w+"))*$')  # a plain (qualified) column reference
ROOT = "r.resource"  # the resource column of the view's table, as the compiled query names it


class Shape(Enum):
    LIST = "list"
    ITEM = "item"
    SCALAR = "scalar"


@dataclass(frozen=True)
class JsonPath:
    """JSON path steps (`.name`, `[*]`, `[0]`) still to apply to `base` (an item, or each item of a list).

    `nulls`: the path ends in an array of primitives, which FHIR JSON may pad with nulls (when
    only some items have extensions); those nulls are not values and are dropped."""
    base: str
    base_is_list: bool
    steps: tuple[str, ...] = ()
    nulls: bool = False

    @property
    def many(self) -> bool:
        return self.base_is_list or "[*]" in self.steps

    def text(self) -> str:
        return "$" + "".join(self.steps)


@dataclass(frozen=True)
class Sql:
    """A compiled expression; `text` is empty while a pending `path` still describes it."""
    shape: Shape
    text: str = ""
    family: str | None = None
    path: JsonPath | None = None


@dataclass(frozen=True)
class SqlScope:
    """Compile-time context: the focus ($this), the resource, %rowIndex, constants and dialect."""
    env: TypeEnv
    this: Sql
    root: Sql
    row_index: str
    constants: Mapping[str, Constant]
    dialect: Dialect
    depth: int = 0

    def with_this(self, this: Sql, env: TypeEnv) -> SqlScope:
        return replace(self, this=this, env=env, depth=self.depth + 1)


def value_family(type_name: str | None) -> str | None:
    """SQL value family of a FHIR type: bool, integer, decimal or text (dates are text)."""
    family = fhir_schema.family(type_name)
    return "text" if family in ("date", "dateTime", "time") else family


def item(text: str) -> Sql:
    """A single JSON value (a column or lambda variable) whose members are read by JSON path."""
    return Sql(Shape.ITEM, path=JsonPath(text, False))


def _empty_list(d: Dialect) -> Sql:
    return Sql(Shape.LIST, d.sql("list_empty"))


# --- rendering and shape conversions -----------------------------------------------------------

def _from_root_member(path: JsonPath, d: Dialect) -> JsonPath:
    """A path read from the resource starts at its top-level member instead, where the dialect
    hoists those (DuckDB parses a JSON text on every access: the members are extracted once per
    row, by `sql_view`, and each path then parses only its small member)."""
    if path.base != ROOT or not path.steps or not d.has("root_member") or not _PLAIN_KEY.match(path.steps[0][1:]):
        return path
    member, rest = d.sql("root_member", key=path.steps[0][1:]), path.steps[1:]
    if rest and rest[0] == "[*]":  # an absent member must still give an empty list
        member = f"coalesce({member}, {d.sql('json_null_value')})"
    return replace(path, base=member, steps=rest)


def _render_path(path: JsonPath, d: Dialect, getter: str = "json_get") -> str:
    """SQL for a pending path: one JSON extraction, mapped over the base list if there is one."""
    path = _from_root_member(path, d)
    literal = d.literal(path.text())
    if "[*]" in path.steps:
        getter += "_all"  # the path yields a list
    if not path.base_is_list:
        extract = path.steps or getter != "json_get"
        rendered = d.sql(getter, json=path.base, path=literal) if extract else path.base
    elif "[*]" in path.steps:
        rendered = d.sql("list_flatten", list=d.sql("list_map", list=path.base, var="_e", body=d.sql(getter, json="_e", path=literal)))
    else:
        mapped = d.sql("list_map", list=path.base, var="_e", body=d.sql(getter, json="_e", path=literal))
        return d.sql("list_filter", list=mapped, var="_v", body="_v IS NOT NULL")
    if path.nulls and path.many:
        return d.sql("list_filter", list=rendered, var="_v", body=_not_json_null("_v", getter, d))
    return rendered


def _not_json_null(json: str, getter: str, d: Dialect) -> str:
    if getter.startswith("json_text"):
        return f"{json} IS NOT NULL"
    return f"{d.sql('json_type', json=json)} <> {d.literal(d.json_types['null'][0])}"


def render(value: Sql, d: Dialect) -> str:
    return _render_path(value.path, d) if value.path is not None and not value.text else value.text


def _shape_of_path(path: JsonPath) -> Shape:
    return Shape.LIST if path.many else Shape.ITEM


def from_path(path: JsonPath) -> Sql:
    return Sql(_shape_of_path(path), path=path)


def _message(d: Dialect, message: str) -> str:
    return d.literal(SQL_ERROR_PREFIX + message)


def _error(d: Dialect, message: str, family: str) -> str:
    """An SQL expression of `family` that raises `message` when evaluated."""
    return d.sql("error", message=_message(d, message), type=d.sql_types[family])


def _guard_single(list_sql: str, then: str, d: Dialect, what: str) -> str:
    """`then` (which reads item 1 of the list), or an error when the list has several items."""
    many = f"{d.sql('list_len', list=list_sql)} > 1"
    return d.sql("guard", test=many, message=_message(d, f"{what} expects a single value"), value=then)


def as_list(value: Sql, d: Dialect) -> str:
    """The value as an SQL list of JSON values."""
    text = render(value, d)
    if value.shape is Shape.LIST:
        return text
    json = text if value.shape is Shape.ITEM else d.sql("to_json", value=text)
    return f"CASE WHEN {text} IS NULL THEN {d.sql('list_empty')} ELSE {d.sql('list_of', item=json)} END"


def as_item(value: Sql, d: Dialect, what: str) -> str:
    """The value as one JSON value (NULL when empty); several values raise at run time."""
    text = render(value, d)
    if value.shape is Shape.ITEM:
        return text
    if value.shape is Shape.SCALAR:
        return d.sql("to_json", value=text)
    return _guard_single(text, d.sql("list_item", list=text, index=1), d, what)


def _cast(value: str, family: str, d: Dialect, attempt: bool = False) -> str:
    return d.sql("try_cast" if attempt else "cast", value=value, type=d.sql_types[family])


def _to_integer(value: str, d: Dialect) -> str:
    """Numbers become integers by truncation, as `int()` does in the reference engine."""
    return _cast(d.sql("trunc", value=_cast(value, "decimal", d, attempt=True)), "integer", d)


def _json_to_family(json: str, family: str, d: Dialect) -> str:
    if family == "text":
        return d.sql("json_text", json=json, path="'$'")
    if family == "integer":
        return _to_integer(json, d)
    return _cast(json, family, d, attempt=True)


def _scalar_to_family(text: str, source: str | None, family: str, d: Dialect) -> str:
    if source == family:
        return text
    if family == "bool":
        return _cast("NULL", "bool", d) if source is not None else _cast(text, "bool", d, attempt=True)
    if family == "integer":
        return _to_integer(text, d)
    return _cast(text, family, d, attempt=True)


def as_scalar(value: Sql, family: str, d: Dialect, what: str) -> str:
    """The value as one SQL value of `family` (NULL when empty or not convertible)."""
    if value.shape is Shape.SCALAR:
        return _scalar_to_family(value.text, value.family, family, d)
    path = value.path
    if value.shape is Shape.ITEM and path is not None and not value.text and path.steps:
        if family == "text":
            return _render_path(path, d, "json_text")
        return _json_to_family(_render_path(path, d), family, d)
    text = render(value, d)
    if value.shape is Shape.ITEM:
        return _json_to_family(text, family, d)
    return _guard_single(text, _json_to_family(d.sql("list_item", list=text, index=1), family, d), d, what)


def as_family_list(value: Sql, family: str, d: Dialect) -> str:
    """The value as an SQL list of `family` values (collection columns, equality of collections)."""
    if value.shape is Shape.SCALAR:
        text = as_scalar(value, family, d, "list")
        empty = d.sql("list_empty_of", type=d.sql_types[family])
        return f"CASE WHEN {text} IS NULL THEN {empty} ELSE {d.sql('list_of', item=text)} END"
    path = value.path
    if family == "text" and path is not None and not value.text and not path.base_is_list and "[*]" in path.steps:
        return _render_path(path, d, "json_text")
    return d.sql("list_map", list=as_list(value, d), var="_e", body=_json_to_family("_e", family, d))


def _json_is_bool(json: str, d: Dialect) -> str:
    return f"{d.sql('json_type', json=json)} = {d.literal(d.json_types['bool'][0])}"


def as_bool(value: Sql, static_type: str | None, d: Dialect) -> str:
    """FHIRPath singleton evaluation as a boolean: one boolean is itself, any other single value is true."""
    if value_family(static_type) == "bool" or (value.shape is Shape.SCALAR and value.family == "bool"):
        return as_scalar(value, "bool", d, "boolean")
    if value.shape is Shape.SCALAR:
        return f"CASE WHEN {value.text} IS NULL THEN NULL ELSE true END"
    json = as_item(value, d, "boolean")
    return d.sql("let", value=json, var="_b",
                 body=f"CASE WHEN _b IS NULL THEN NULL WHEN {_json_is_bool('_b', d)} THEN {_cast('_b', 'bool', d)} ELSE true END")


def as_strict_bool(value: Sql, static_type: str | None, d: Dialect) -> str:
    """A view `where` path: empty or one boolean; anything else is an error."""
    if value_family(static_type) == "bool" or (value.shape is Shape.SCALAR and value.family == "bool"):
        return as_scalar(value, "bool", d, "where")
    json = as_item(value, d, "where")
    fail = _error(d, "where path must return a boolean", "bool")
    return d.sql("let", value=json, var="_b",
                 body=f"CASE WHEN _b IS NULL THEN NULL WHEN {_json_is_bool('_b', d)} THEN {_cast('_b', 'bool', d)} ELSE {fail} END")


def _type_test(json: str, type_name: str, d: Dialect) -> str:
    """SQL test that a JSON value can be of FHIR type `type_name` (mirrors semantics.matches_family)."""
    family = fhir_schema.family(type_name)
    names = ", ".join(f"'{n}'" for n in d.json_types[family or "object"])
    test = f"{d.sql('json_type', json=json)} IN ({names})"
    if family is None:
        resource_type = d.sql("json_text", json=json, path="'$.resourceType'")
        test += f" AND coalesce({resource_type}, {d.literal(type_name)}) = {d.literal(type_name)}"
    return test


# --- node compilers ----------------------------------------------------------------------------

def compile_expr(node: Node, scope: SqlScope) -> Sql:
    """Compile a FHIRPath AST in a scope; raises NotCompilable for what SQL cannot express."""
    infer(node, scope.env)
    return _compile(node, scope)


@singledispatch
def _compile(node: Node, scope: SqlScope) -> Sql:
    raise NotCompilable(f"cannot compile {type(node).__name__}")


def _literal_sql(value: Any, type_name: str, d: Dialect) -> Sql:
    family = value_family(type_name) or "text"
    if family == "bool":
        text = "true" if value else "false"
    elif family == "text":
        text = d.literal(str(value))
    else:
        text = _cast(repr(value), family, d)
    return Sql(Shape.SCALAR, text, family)


@_compile.register
def compile_literal(node: Literal, scope: SqlScope) -> Sql:
    return _literal_sql(node.value, node.type, scope.dialect)


@_compile.register
def compile_empty(node: EmptyLiteral, scope: SqlScope) -> Sql:
    return Sql(Shape.ITEM, scope.dialect.sql("json_null"))


@_compile.register
def compile_variable(node: Variable, scope: SqlScope) -> Sql:
    if node.name in scope.constants:
        constant = scope.constants[node.name]
        return _literal_sql(constant.value, constant.type, scope.dialect)
    if node.name == "rowIndex":
        return Sql(Shape.SCALAR, scope.row_index, "integer")
    return scope.root


@_compile.register
def compile_this(node: This, scope: SqlScope) -> Sql:
    return scope.this


def _each(source: Sql, d: Dialect, body: Callable[[str], str], many: bool) -> Sql:
    """Apply a per-item JSON expression to every item of `source`; `many` if it yields lists."""
    if source.shape is not Shape.LIST:
        json = as_item(source, d, "navigation")
        text = body(json)
        return Sql(Shape.LIST if many else Shape.ITEM, text)
    mapped = d.sql("list_map", list=render(source, d), var="_e", body=body("_e"))
    if many:
        return Sql(Shape.LIST, d.sql("list_flatten", list=mapped))
    return Sql(Shape.LIST, d.sql("list_filter", list=mapped, var="_v", body="_v IS NOT NULL"))


def _path_step(source: Sql, key: str, is_list: bool, d: Dialect, primitive: bool = False) -> Sql:
    """Extend a pending JSON path by one schema-known element (or start one)."""
    if source.shape is Shape.SCALAR:
        return _empty_list(d)
    step = (f".{key}" if _PLAIN_KEY.match(key) else '."' + key.replace('"', '\\"') + '"',)
    if is_list:
        step += ("[*]",)
    nulls = is_list and primitive
    if source.path is not None and not source.text:
        return from_path(replace(source.path, steps=source.path.steps + step, nulls=nulls))
    return from_path(JsonPath(render(source, d), source.shape is Shape.LIST, step, nulls))


def _dynamic_member(json: str, key: str, d: Dialect) -> str:
    """A member whose cardinality the schema does not know: read the JSON as it comes."""
    quoted = '$."' + key + '"'
    kind = d.sql("json_type_at", json=json, path=d.literal(quoted))
    items = d.sql("json_get_all", json=json, path=d.literal(quoted + "[*]"))
    single = d.sql("list_of", item=d.sql("json_get", json=json, path=d.literal(quoted)))
    array, null = (d.literal(d.json_types[t][0]) for t in ("array", "null"))
    items = d.sql("list_filter", list=items, var="_n", body=_not_json_null("_n", "json_get", d))
    return (f"CASE WHEN {kind} = {array} THEN {items} "
            f"WHEN {kind} IS NULL OR {kind} = {null} THEN {d.sql('list_empty')} ELSE {single} END")


def _member(source: Sql, source_type: str | None, name: str, keys: tuple[str, ...], d: Dialect) -> Sql:
    element = fhir_schema.element(source_type, name)
    if source.shape is Shape.SCALAR:
        return _empty_list(d)
    if element is not None and not element.is_choice:
        return _path_step(source, name, element.is_list, d, fhir_schema.is_primitive(element.type))
    if element is not None:  # choice element: whichever value[x] key is present
        def present(json: str) -> str:
            return "coalesce(" + ", ".join(d.sql("json_get", json=json, path=d.literal(f"$.{k}")) for k in keys) + ")"
        return _each(source, d, present, many=False)
    return _each(source, d, lambda json: _dynamic_member(json, name, d), many=True)


@_compile.register
def compile_member(node: Member, scope: SqlScope) -> Sql:
    if is_root_type_name(node, scope.env):
        return scope.this
    source = _compile(node.source, scope)
    source_type = infer(node.source, scope.env).type
    return _member(source, source_type, node.name, member_keys(node, scope.env), scope.dialect)


def _index_path(source: Sql, position: int) -> Sql | None:
    """`name[1]` on a path with one `[*]` becomes `$.name[1]`: no list is built."""
    path = source.path
    if path is None or source.text or path.base_is_list or path.nulls or path.steps.count("[*]") != 1:
        return None
    steps = tuple(f"[{position}]" if s == "[*]" else s for s in path.steps)
    return from_path(replace(path, steps=steps))


def _pick(source: Sql, position: int | str, d: Dialect) -> Sql:
    """Item `position` (0-based int, or SQL expression) of a collection, as an ITEM."""
    if isinstance(position, int) and position >= 0:
        direct = _index_path(source, position)
        if direct is not None:
            return direct
    if source.shape is not Shape.LIST:
        json = as_item(source, d, "indexer")
        return Sql(Shape.ITEM, f"CASE WHEN ({position}) = 0 THEN {json} END")
    return Sql(Shape.ITEM, d.sql("list_item", list=render(source, d), index=f"({position}) + 1"))


@_compile.register
def compile_index(node: Index, scope: SqlScope) -> Sql:
    source = _compile(node.source, scope)
    if isinstance(node.index, Literal):
        return _pick(source, node.index.value, scope.dialect)
    if isinstance(node.index, Variable) and node.index.name in scope.constants:
        return _pick(source, scope.constants[node.index.name].value, scope.dialect)
    position = as_scalar(_compile(node.index, scope), "integer", scope.dialect, "indexer")
    return _pick(source, position, scope.dialect)


@_compile.register
def compile_unary(node: Unary, scope: SqlScope) -> Sql:
    family = value_family(infer(node.operand, scope.env).type) or "decimal"
    if family not in ("integer", "decimal"):
        family = "decimal"
    value = as_scalar(_compile(node.operand, scope), family, scope.dialect, "polarity")
    return Sql(Shape.SCALAR, f"({node.op}{value})", family)


# --- ofType / is / as --------------------------------------------------------------------------

def _of_type(source_node: Node, type_name: str, scope: SqlScope) -> Sql:
    d = scope.dialect
    plan = of_type_plan(source_node, type_name, scope.env)
    if plan.kind == "empty":
        return _empty_list(d)
    if plan.kind == "identity":
        return _compile(source_node, scope)
    if plan.kind == "choice":
        base = _compile(plan.base, scope)
        return _path_step(base, plan.key, False, d) if base.shape is not Shape.SCALAR else _empty_list(d)
    if plan.kind == "unknown_member":
        base = _compile(plan.base, scope)
        plain = _each(base, d, lambda json: _dynamic_member(json, plan.plain, d), many=True)
        typed = _each(base, d, lambda json: _dynamic_member(json, plan.key, d), many=True)
        kept = d.sql("list_filter", list=render(plain, d), var="_v", body=_type_test("_v", type_name, d))
        return Sql(Shape.LIST, d.sql("list_concat", left=kept, right=render(typed, d)))
    source = as_list(_compile(source_node, scope), d)
    return Sql(Shape.LIST, d.sql("list_filter", list=source, var="_v", body=_type_test("_v", type_name, d)))


@_compile.register
def compile_type_op(node: TypeOp, scope: SqlScope) -> Sql:
    typed = _of_type(node.operand, node.type_name, scope)
    if node.op == "as":
        return typed
    operand = _compile(node.operand, scope)
    return Sql(Shape.SCALAR, f"CASE WHEN NOT ({_exists(operand, scope.dialect)}) THEN NULL ELSE {_exists(typed, scope.dialect)} END", "bool")


# --- operators ---------------------------------------------------------------------------------

def _compare_family_sql(family: str) -> str:
    return {"number": "decimal", "json": "text"}.get(family, family)


def _equality(node: Binary, left: Sql, right: Sql, family: str, d: Dialect) -> str:
    target = _compare_family_sql(family)
    if left.shape is not Shape.LIST and right.shape is not Shape.LIST:
        a, b = as_scalar(left, target, d, node.op), as_scalar(right, target, d, node.op)
        if node.op in ("~", "!~"):
            if target == "text":
                a, b = d.sql("fold_space", text=a), d.sql("fold_space", text=b)
            same = f"CASE WHEN {a} IS NULL AND {b} IS NULL THEN true WHEN {a} IS NULL OR {b} IS NULL THEN false ELSE {a} = {b} END"
            return same if node.op == "~" else f"(NOT {same})"
        return f"({a} = {b})" if node.op == "=" else f"({a} <> {b})"
    if node.op in ("~", "!~"):
        raise NotCompilable("equivalence (~) of collections")
    a, b = as_family_list(left, target, d), as_family_list(right, target, d)
    empty = f"{d.sql('list_len', list=a)} = 0 OR {d.sql('list_len', list=b)} = 0"
    same = f"CASE WHEN {empty} THEN NULL ELSE {a} = {b} END"
    return same if node.op == "=" else f"(NOT {same})"


def _ordering(node: Binary, left: Sql, right: Sql, family: str, d: Dialect) -> str:
    if family != "json":
        target = _compare_family_sql(family)
        return f"({as_scalar(left, target, d, node.op)} {node.op} {as_scalar(right, target, d, node.op)})"
    a, b = as_item(left, d, node.op), as_item(right, d, node.op)
    numbers = ", ".join(f"'{n}'" for n in d.json_types["number"])
    both_numbers = f"{d.sql('json_type', json='_l')} IN ({numbers}) AND {d.sql('json_type', json='_r')} IN ({numbers})"
    text = lambda j: d.sql("json_text", json=j, path="'$'")  # noqa: E731
    body = (f"CASE WHEN {both_numbers} THEN {_cast('_l', 'decimal', d)} {node.op} {_cast('_r', 'decimal', d)} "
            f"ELSE {text('_l')} {node.op} {text('_r')} END")
    return d.sql("let", value=a, var="_l", body=d.sql("let", value=b, var="_r", body=body))


def _logic(node: Binary, left: str, right: str) -> str:
    if node.op == "implies":
        return f"((NOT {left}) OR {right})"
    if node.op == "xor":
        return f"({left} <> {right})"
    return f"({left} {node.op.upper()} {right})"


def _arithmetic(node: Binary, left: Sql, right: Sql, result: str | None, d: Dialect) -> Sql:
    if result == "string":
        a, b = as_scalar(left, "text", d, node.op), as_scalar(right, "text", d, node.op)
        return Sql(Shape.SCALAR, f"({a} || {b})", "text")
    a, b = as_scalar(left, "decimal", d, node.op), as_scalar(right, "decimal", d, node.op)
    divisor = f"NULLIF({b}, 0)"
    text = {
        "+": f"({a} + {b})", "-": f"({a} - {b})", "*": f"({a} * {b})", "/": f"({a} / {divisor})",
        "div": d.sql("trunc", value=f"({a} / {divisor})"), "mod": d.sql("fmod", left=a, right=divisor),
    }[node.op]
    if result == "integer":
        return Sql(Shape.SCALAR, _cast(text, "integer", d), "integer")
    return Sql(Shape.SCALAR, text, "decimal")


@_compile.register
def compile_binary(node: Binary, scope: SqlScope) -> Sql:
    d, env = scope.dialect, scope.env
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    left_type, right_type = infer(node.left, env).type, infer(node.right, env).type
    if node.op in COMPARISONS:
        family = compare_family(left_type, right_type)
        compare = _equality if node.op in ("=", "!=", "~", "!~") else _ordering
        return Sql(Shape.SCALAR, compare(node, left, right, family, d), "bool")
    if node.op in ARITHMETIC:
        return _arithmetic(node, left, right, infer(node, env).type, d)
    if node.op == "&":
        a, b = as_scalar(left, "text", d, "&"), as_scalar(right, "text", d, "&")
        return Sql(Shape.SCALAR, f"(coalesce({a}, '') || coalesce({b}, ''))", "text")
    if node.op == "|":
        return Sql(Shape.LIST, d.sql("list_distinct", list=d.sql("list_concat", left=as_list(left, d), right=as_list(right, d))))
    if node.op in ("in", "contains"):
        one, many = (left, right) if node.op == "in" else (right, left)
        value = as_scalar(one, "text", d, node.op)
        found = d.sql("list_contains", list=as_family_list(many, "text", d), item=value)
        return Sql(Shape.SCALAR, f"CASE WHEN {value} IS NULL THEN NULL ELSE {found} END", "bool")
    return Sql(Shape.SCALAR, _logic(node, as_bool(left, left_type, d), as_bool(right, right_type, d)), "bool")


# --- functions ---------------------------------------------------------------------------------

@_compile.register
def compile_call(node: Call, scope: SqlScope) -> Sql:
    return _FUNCTIONS[node.name](node, scope)


def _exists(value: Sql, d: Dialect) -> str:
    if value.shape is Shape.LIST:
        return f"({d.sql('list_len', list=render(value, d))} > 0)"
    return f"({render(value, d)} IS NOT NULL)"


def _where(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    source = _compile(node.source, scope)
    inner_env = lambda_env(scope.env, infer(node.source, scope.env))
    criteria_type = infer(node.args[0], inner_env).type
    if source.shape is not Shape.LIST:
        keep = as_bool(_compile(node.args[0], scope.with_this(source, inner_env)), criteria_type, d)
        return replace(source, text=f"CASE WHEN {keep} THEN {render(source, d)} END", path=None)
    var = f"_t{scope.depth}"
    keep = as_bool(_compile(node.args[0], scope.with_this(item(var), inner_env)), criteria_type, d)
    return Sql(Shape.LIST, d.sql("list_filter", list=render(source, d), var=var, body=keep))


def _exists_call(node: Call, scope: SqlScope) -> Sql:
    source = _where(node, scope) if node.args else _compile(node.source, scope)
    return Sql(Shape.SCALAR, _exists(source, scope.dialect), "bool")


def _empty(node: Call, scope: SqlScope) -> Sql:
    return Sql(Shape.SCALAR, f"(NOT {_exists(_compile(node.source, scope), scope.dialect)})", "bool")


def _first(node: Call, scope: SqlScope) -> Sql:
    source = _compile(node.source, scope)
    return _pick(source, 0, scope.dialect) if source.shape is Shape.LIST else source


def _last(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    source = _compile(node.source, scope)
    if source.shape is not Shape.LIST:
        return source
    return Sql(Shape.ITEM, d.sql("list_last", list=render(source, d)))


def _count(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    source = _compile(node.source, scope)
    if source.shape is Shape.LIST:
        return Sql(Shape.SCALAR, d.sql("list_len", list=render(source, d)), "integer")
    return Sql(Shape.SCALAR, f"CASE WHEN {render(source, d)} IS NULL THEN 0 ELSE 1 END", "integer")


def _not(node: Call, scope: SqlScope) -> Sql:
    value = as_bool(_compile(node.source, scope), infer(node.source, scope.env).type, scope.dialect)
    return Sql(Shape.SCALAR, f"(NOT {value})", "bool")


def _iif(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    source = _compile(node.source, scope)
    inner = scope.with_this(source, argument_env(scope.env, infer(node.source, scope.env)))
    condition = as_bool(_compile(node.args[0], inner), infer(node.args[0], inner.env).type, d)
    branches = [_compile(arg, inner) for arg in node.args[1:]]
    if all(infer(arg, inner.env).single for arg in node.args[1:]):
        texts = [as_item(b, d, "iif") for b in branches] + [d.sql("json_null")]
        return Sql(Shape.ITEM, f"CASE WHEN {condition} THEN {texts[0]} ELSE {texts[1]} END")
    texts = [as_list(b, d) for b in branches] + [d.sql("list_empty")]
    return Sql(Shape.LIST, f"CASE WHEN {condition} THEN {texts[0]} ELSE {texts[1]} END")


def _text_argument(node: Call, scope: SqlScope, position: int) -> str:
    return as_scalar(_compile(node.args[position], scope), "text", scope.dialect, node.name)


def _join(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    separator = f"coalesce({_text_argument(node, scope, 0)}, '')" if node.args else "''"
    texts = as_family_list(_compile(node.source, scope), "text", d)
    return Sql(Shape.SCALAR, d.sql("list_join", list=texts, separator=separator), "text")


def _of_type_call(node: Call, scope: SqlScope) -> Sql:
    return _of_type(node.source, type_argument(node.args[0]), scope)


def _extension(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    source = _compile(node.source, scope)
    extensions = _path_step(source, "extension", True, d)
    url = _text_argument(node, scope, 0)
    keep = f"{d.sql('json_text', json='_x', path=d.literal('$.url'))} = {url}"
    return Sql(Shape.LIST, d.sql("list_filter", list=render(extensions, d), var="_x", body=keep))


def _keys(node: Call, scope: SqlScope, key_of: Callable[[str], str]) -> Sql:
    """Per-item text keys (NULLs dropped); SCALAR when the source has at most one item."""
    d = scope.dialect
    source = _compile(node.source, scope)
    if source.shape is Shape.ITEM and source.path is not None and not source.text and not source.path.steps:
        return Sql(Shape.SCALAR, key_of(source.path.base), "text")  # a plain column: no need to bind it
    if source.shape is not Shape.LIST:
        json = as_item(source, d, node.name)
        if _COLUMN.match(json):  # e.g. a hoisted member: repeating it costs nothing
            return Sql(Shape.SCALAR, key_of(json), "text")
        return Sql(Shape.SCALAR, d.sql("let", value=json, var="_k", body=key_of("_k")), "text")
    mapped = d.sql("list_map", list=render(source, d), var="_k", body=d.sql("to_json", value=key_of("_k")))
    return Sql(Shape.LIST, d.sql("list_filter", list=mapped, var="_v", body="_v IS NOT NULL"))


def _resource_key(node: Call, scope: SqlScope) -> Sql:
    """`id` read as a path, so on the resource it comes from the hoisted top-level members (one
    parse of the resource per row, shared with every other column) rather than a parse of its own."""
    d = scope.dialect
    return _keys(node, scope, lambda json: _render_path(JsonPath(json, False, (".id",)), d, "json_text"))


def _reference_key(node: Call, scope: SqlScope) -> Sql:
    """The id part of a reference (semantics.reference_key). `reference` is read once and tested
    against the `[base/]Type/id[/_history/v]` pattern; once it matches, type and id are its last
    path segments (a capturing regex costs several times more per row). urn:uuid and #contained
    references, which carry no type, are typed by `Reference.type`."""
    d = scope.dialect
    wanted = type_argument(node.args[0]) if node.args else None
    ref_re, urn_re, contained_re = (d.literal(p) for p in (semantics.REFERENCE_RE, semantics.URN_RE, semantics.CONTAINED_RE))
    versioned = f"{d.sql('path_segment', text='_r', index=-2)} = '_history'"
    ref_type, ref_id = (f"CASE WHEN {versioned} THEN {d.sql('path_segment', text='_r', index=i - 2)} "
                        f"ELSE {d.sql('path_segment', text='_r', index=i)} END" for i in (-2, -1))
    typed_ok = "true" if wanted is None else f"{ref_type} = {d.literal(wanted)}"
    other_key = (f"coalesce({d.sql('regex_group', text='_r', pattern=urn_re, group=1)}, "
                 f"{d.sql('regex_group', text='_r', pattern=contained_re, group=1)})")

    def key_of(json: str) -> str:
        other_ok = "true" if wanted is None else f"{d.sql('json_text', json=json, path=d.literal('$.type'))} = {d.literal(wanted)}"
        body = (f"CASE WHEN {d.sql('regex_match', text='_r', pattern=ref_re)} THEN CASE WHEN {typed_ok} THEN {ref_id} END "
                f"WHEN {other_ok} THEN {other_key} END")
        return d.sql("let", value=d.sql("json_text", json=json, path="'$.reference'"), var="_r", body=body)
    return _keys(node, scope, key_of)


def _written_decimal(source: Sql, text: str, d: Dialect) -> str:
    """A decimal's text as written, for a dialect whose JSON keeps only the value (Spark's VARIANT
    reads 1.0 as 1): a path from the resource through objects only is read from the stored text."""
    path = source.path
    if (not d.has("root_json_text") or source.shape is Shape.SCALAR or path is None or source.text
            or path.base != ROOT or path.base_is_list or any(step.startswith("[") for step in path.steps)):
        return text
    return f"coalesce({d.sql('root_json_text', path=d.literal(path.text()))}, {text})"


def _decimal_boundary(text: str, high: bool, d: Dialect) -> str:
    digits = d.sql("fraction_digits", text="_n")
    delta = f"0.5 * {d.sql('power10', exponent=f'-{digits}')}"
    value = f"{_cast('_n', 'decimal', d)} {'+' if high else '-'} {delta}"
    return d.sql("let", value=text, var="_n", body=d.sql("round", value=value, digits=f"{digits} + 1"))


def _part(name: str, default: str, d: Dialect) -> str:
    return f"coalesce(NULLIF({d.sql('struct_field', struct='_p', name=name)}, ''), {d.literal(default)})"


def _fraction(high: bool, d: Dialect) -> str:
    fraction = d.sql("struct_field", struct="_p", name="fraction")
    padded = d.sql("pad_right", text=fraction, width=3, fill=d.literal("9" if high else "0"))
    return f"CASE WHEN {fraction} = '' THEN {d.literal('999' if high else '000')} ELSE {padded} END"


def _time_text(high: bool, d: Dialect) -> str:
    hour, minute, second = (_part(p, v, d) for p, v in zip(("hour", "minute", "second"), ("23", "59", "59") if high else ("00", "00", "00")))
    return f"{hour} || ':' || {minute} || ':' || {second} || '.' || {_fraction(high, d)}"


def _date_time_boundary(text: str, kind: str, high: bool, d: Dialect) -> str:
    month = _part("month", "12" if high else "01", d)
    year = d.sql("struct_field", struct="_p", name="year")
    last_day = d.sql("last_day_of_month", year=year, month=month)
    day = f"coalesce(NULLIF({d.sql('struct_field', struct='_p', name='day')}, ''), {last_day if high else d.literal('01')})"
    date = f"{year} || '-' || {month} || '-' || {day}"
    if kind == "dateTime":
        zone = _part("zone", "-12:00" if high else "+14:00", d)
        date = f"{date} || 'T' || {_time_text(high, d)} || {zone}"
    return _regex_let(text, semantics.DATE_TIME_RE, semantics.DATE_TIME_PARTS, date, d)


def _regex_let(text: str, pattern: str, names: tuple[str, ...], body: str, d: Dialect) -> str:
    """Bind `_p` to the named groups of `pattern` in `text` and evaluate `body` when it matches."""
    groups = d.sql("regex_groups", text="_s", pattern=d.literal(pattern), names=", ".join(map(d.literal, names)))
    matched = d.sql("regex_match", text="_s", pattern=d.literal(pattern))
    inner = d.sql("let", value=groups, var="_p", body=body)
    return d.sql("let", value=text, var="_s", body=f"CASE WHEN {matched} THEN {inner} END")


def _boundary(high: bool) -> Callable[[Call, SqlScope], Sql]:
    def compile_boundary(node: Call, scope: SqlScope) -> Sql:
        d = scope.dialect
        static = infer(node.source, scope.env).type
        kind = semantics.boundary_kind(None, static) if static is not None else None
        if kind is None:
            raise NotCompilable("boundary of a value whose type is not known statically")
        source = _compile(node.source, scope)
        text = as_scalar(source, "text", d, node.name)
        if kind == "decimal":
            return Sql(Shape.SCALAR, _decimal_boundary(_written_decimal(source, text, d), high, d), "decimal")
        if kind == "time":
            body = _time_text(high, d)
            return Sql(Shape.SCALAR, _regex_let(text, semantics.TIME_RE, semantics.TIME_PARTS, body, d), "text")
        return Sql(Shape.SCALAR, _date_time_boundary(text, kind, high, d), "text")
    return compile_boundary


def _string_function(op: str, result: str, names: tuple[str, ...] = ("part",)) -> Callable[[Call, SqlScope], Sql]:
    """A function of one text input and text arguments (SQL NULL in, NULL out, like FHIRPath empty)."""
    def compile_string(node: Call, scope: SqlScope) -> Sql:
        d = scope.dialect
        text = as_scalar(_compile(node.source, scope), "text", d, node.name)
        args = {name: _text_argument(node, scope, i) for i, name in enumerate(names[:len(node.args)])}
        return Sql(Shape.SCALAR, d.sql(op, text=text, **args), result)
    return compile_string


def _substring(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    text = as_scalar(_compile(node.source, scope), "text", d, node.name)
    start = as_scalar(_compile(node.args[0], scope), "integer", d, node.name)
    if len(node.args) > 1:
        length = f"greatest({as_scalar(_compile(node.args[1], scope), 'integer', d, node.name)}, 0)"
        cut = d.sql("substring", text=text, start=start, length=length)
    else:
        cut = d.sql("substring_rest", text=text, start=start)
    outside = f"{start} < 0 OR {start} >= {d.sql('length', text=text)}"
    return Sql(Shape.SCALAR, f"CASE WHEN {outside} THEN NULL ELSE {cut} END", "text")


def _matches(node: Call, scope: SqlScope) -> Sql:
    d = scope.dialect
    text = as_scalar(_compile(node.source, scope), "text", d, node.name)
    return Sql(Shape.SCALAR, d.sql("regex_match", text=text, pattern=_text_argument(node, scope, 0)), "bool")


def _to_number(family: str, pattern: str) -> Callable[[Call, SqlScope], Sql]:
    def compile_number(node: Call, scope: SqlScope) -> Sql:
        d = scope.dialect
        text = as_scalar(_compile(node.source, scope), "text", d, node.name)
        ok = d.sql("regex_full_match", text=text, pattern=d.literal(pattern))
        return Sql(Shape.SCALAR, f"CASE WHEN {ok} THEN {_cast(text, family, d)} END", family)
    return compile_number


def _to_string(node: Call, scope: SqlScope) -> Sql:
    return Sql(Shape.SCALAR, as_scalar(_compile(node.source, scope), "text", scope.dialect, node.name), "text")


_FUNCTIONS: dict[str, Callable[[Call, SqlScope], Sql]] = {
    "where": _where, "exists": _exists_call, "empty": _empty, "first": _first, "last": _last,
    "count": _count, "not": _not, "iif": _iif, "join": _join, "ofType": _of_type_call,
    "extension": _extension, "getResourceKey": _resource_key, "getReferenceKey": _reference_key,
    "lowBoundary": _boundary(False), "highBoundary": _boundary(True),
    "startsWith": _string_function("starts_with", "bool"), "endsWith": _string_function("ends_with", "bool"),
    "contains": _string_function("contains", "bool"), "matches": _matches,
    "lower": _string_function("lower", "text"), "upper": _string_function("upper", "text"),
    "length": _string_function("length", "integer"), "substring": _substring,
    "indexOf": _string_function("index_of", "integer"), "replace": _string_function("replace", "text", ("old", "new")),
    "toString": _to_string, "toInteger": _to_number("integer", r"[+-]?[0-9]+"),
    "toDecimal": _to_number("decimal", r"[+-]?[0-9]+(\.[0-9]+)?"),
}

