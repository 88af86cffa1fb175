"""ViewDefinition JSON -> a validated tree of frozen dataclasses, shared by both engines.

Validation covers what the spec makes an error before any data is read: missing resource or
select, bad structure, column names that repeat or are not database-friendly, unionAll branches
whose columns differ, malformed or undefined constants, FHIRPath syntax errors, unknown functions,
and `where` paths that are statically not boolean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import pyarrow as pa

from warehouse.viewdef import fhir_schema
from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.inference import TypeEnv, TypeInfo, infer
from warehouse.viewdef.nodes import Node
from warehouse.viewdef.parser import parse

__all__ = ["Constant", "Column", "Iteration", "Select", "View", "parse_view", "output_schema",
           "column_family"]

_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SELECT_KEYS = {"column", "select", "unionAll", "forEach", "forEachOrNull", "repeat"}
_ITERATION_KEYS = ("forEach", "forEachOrNull", "repeat")
_ARROW = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}


@dataclass(frozen=True)
class Constant:
    name: str
    type: str
    value: Any


@dataclass(frozen=True)
class Column:
    name: str
    path: Node
    source: str
    type: str
    collection: bool
    inferred: TypeInfo


@dataclass(frozen=True)
class Iteration:
    """forEach / forEachOrNull (one path) or repeat (one or more paths), with their source text."""
    kind: str
    paths: tuple[Node, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Select:
    """One selection structure; `env` types expressions evaluated on its focus."""
    columns: tuple[Column, ...]
    selects: tuple[Select, ...]
    union_all: tuple[Select, ...]
    iteration: Iteration | None
    env: TypeEnv

    def column_names(self) -> tuple[str, ...]:
        """Output column names in spec order: own columns, nested selects, then unionAll."""
        names = [c.name for c in self.columns]
        for child in self.selects:
            names.extend(child.column_names())
        if self.union_all:
            names.extend(self.union_all[0].column_names())
        return tuple(names)

    def all_columns(self) -> tuple[Column, ...]:
        cols = list(self.columns)
        for child in self.selects:
            cols.extend(child.all_columns())
        if self.union_all:
            cols.extend(self.union_all[0].all_columns())
        return tuple(cols)


@dataclass(frozen=True)
class View:
    resource: str
    constants: tuple[Constant, ...]
    where: tuple[Node, ...]
    root: Select
    where_sources: tuple[str, ...] = ()

    @property
    def env(self) -> TypeEnv:
        return self.root.env

    def constant_values(self) -> dict[str, Any]:
        return {c.name: c.value for c in self.constants}


def _fail(message: str) -> NoReturn:
    raise ViewDefinitionError(message)


def _parse_constant(raw: Any) -> Constant:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        _fail(f"constant needs a name: {raw!r}")
    values = [k for k in raw if k.startswith("value") and len(k) > 5]
    if len(values) != 1:
        _fail(f"constant %{raw['name']} needs exactly one value[x]")
    key = values[0]
    type_name = key[5].lower() + key[6:]
    if not fhir_schema.is_primitive(type_name):
        _fail(f"constant %{raw['name']}: {key} is not a primitive type")
    value = raw[key]
    if fhir_schema.family(type_name) == "decimal":
        value = float(value)
    return Constant(raw["name"], type_name, value)


def _expression(raw: Any, what: str) -> Node:
    if not isinstance(raw, str):
        _fail(f"{what} must be a FHIRPath string, got {raw!r}")
    return parse(raw)


def _parse_column(raw: Any, env: TypeEnv) -> Column:
    if not isinstance(raw, dict):
        _fail(f"column must be an object: {raw!r}")
    name, path = raw.get("name"), _expression(raw.get("path"), "column path")
    if not isinstance(name, str) or not _COLUMN_NAME.match(name):
        _fail(f"column name {name!r} is not a valid database name")
    collection = raw.get("collection", False)
    if not isinstance(collection, bool):
        _fail(f"column {name}: collection must be true or false")
    inferred = infer(path, env)
    type_name = raw.get("type") or inferred.type or "string"
    if not isinstance(type_name, str):
        _fail(f"column {name}: type must be a string")
    return Column(name, path, raw["path"], type_name, collection, inferred)


def _iteration(raw: dict) -> Iteration | None:
    present = [k for k in _ITERATION_KEYS if k in raw]
    if len(present) > 1:
        _fail(f"a select may have only one of {', '.join(present)}")
    if not present:
        return None
    kind = present[0]
    if kind == "repeat":
        paths = raw["repeat"]
        if not isinstance(paths, list) or not paths:
            _fail("repeat must be a non-empty list of FHIRPath strings")
        return Iteration(kind, tuple(_expression(p, "repeat path") for p in paths), tuple(paths))
    return Iteration(kind, (_expression(raw[kind], kind),), (raw[kind],))


def _focus_env(iteration: Iteration | None, env: TypeEnv) -> TypeEnv:
    """The environment inside a select: forEach/repeat move the focus to one item of the path."""
    if iteration is None:
        return env
    first = infer(iteration.paths[0], env).type
    if iteration.kind == "repeat":
        inner = replace(env, this=TypeInfo(first, True), at_root=False)
        if any(infer(p, env).type != first or infer(p, inner).type != first for p in iteration.paths):
            first = None
    return replace(env, this=TypeInfo(first, True), at_root=False)


def _parse_select(raw: Any, env: TypeEnv) -> Select:
    if not isinstance(raw, dict) or not raw or set(raw) - _SELECT_KEYS - {"description", "id", "extension"}:
        _fail(f"invalid select structure: {raw!r}")
    iteration = _iteration(raw)
    inner = _focus_env(iteration, env)
    columns = tuple(_parse_column(c, inner) for c in _list(raw, "column"))
    selects = tuple(_parse_select(s, inner) for s in _list(raw, "select"))
    union_all = tuple(_parse_select(s, inner) for s in _list(raw, "unionAll"))
    if union_all and len({branch.column_names() for branch in union_all}) != 1:
        _fail("unionAll branches must have the same columns in the same order")
    return Select(columns, selects, union_all, iteration, inner)


def _list(raw: dict, key: str) -> list:
    value = raw.get(key, [])
    if not isinstance(value, list):
        _fail(f"{key} must be a list")
    return value


def _check_unique(select: Select) -> None:
    names = select.column_names()
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        _fail(f"column names defined more than once: {', '.join(duplicates)}")


def _check_where(path: Node, env: TypeEnv) -> Node:
    inferred = infer(path, env)
    if inferred.type is not None and inferred.type != "boolean":
        _fail(f"where path must be boolean, it is {inferred.type}")
    return path


def parse_view(raw: Any) -> View:
    """Validate a ViewDefinition (a JSON object) and return its typed tree."""
    if not isinstance(raw, dict):
        _fail("a ViewDefinition must be a JSON object")
    resource = raw.get("resource")
    if not isinstance(resource, str) or not resource:
        _fail("a ViewDefinition needs a resource type")
    select = raw.get("select")
    if not isinstance(select, list) or not select:
        _fail("a ViewDefinition needs at least one select")
    constants = tuple(_parse_constant(c) for c in _list(raw, "constant"))
    env = TypeEnv(resource, TypeInfo(resource, True), tuple((c.name, c.type) for c in constants))
    root = Select((), tuple(_parse_select(s, env) for s in select), (), None, env)
    _check_unique(root)
    where, sources = [], []
    for clause in _list(raw, "where"):
        if not isinstance(clause, dict):
            _fail("where entries must be objects with a path")
        where.append(_check_where(_expression(clause.get("path"), "where path"), env))
        sources.append(clause["path"])
    return View(resource, constants, tuple(where), root, tuple(sources))


def column_family(column: Column) -> str:
    """Value family of a column's cells: bool, integer, decimal or text."""
    arrow = fhir_schema.column_arrow_type(column.type)
    return {"bool": "bool", "int64": "integer", "float64": "decimal"}.get(arrow, "text")


def output_schema(view: View) -> pa.Schema:
    """The Arrow schema of a view's result: column types from `type` (collections as lists)."""
    fields = []
    for column in view.root.all_columns():
        arrow = _ARROW[fhir_schema.column_arrow_type(column.type)]
        fields.append(pa.field(column.name, pa.list_(arrow) if column.collection else arrow))
    return pa.schema(fields)
