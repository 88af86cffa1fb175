"""The reference evaluator: a ViewDefinition applied to resources one at a time, in Python.

It follows the spec's processing algorithm literally (foci, one row of columns, cartesian
products of nested selects, unionAll concatenation, forEachOrNull's single row, repeat's
depth-first traversal) and is the engine the compiled SQL is checked against. The FHIRPath engine
is pluggable (`PathBuilder`) so the benchmark can run the same algorithm on fhirpathpy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from warehouse.viewdef import semantics
from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.model import Column, Select, View, column_family, output_schema, parse_view
from warehouse.viewdef.nodes import Node
from warehouse.viewdef.pyeval import Fn, Scope, build, strict_bool

__all__ = ["evaluate", "evaluate_view", "plan_view", "RowsFn", "PathBuilder", "native_builder"]

# (focus item, row index, resource) -> rows as tuples in the select's column order.
RowsFn = Callable[[Any, int, dict], list[tuple]]
# (parsed path, its source text, scope) -> fn(this, (resource, row_index)) -> list
PathBuilder = Callable[[Node, str, Scope], Fn]


def native_builder(node: Node, text: str, scope: Scope) -> Fn:
    return build(node, scope)


def _cell(column: Column, path: Fn) -> Callable[[list, int, dict], Any]:
    """One column's value for a focus collection (one item, or none in forEachOrNull's null row)."""
    family = column_family(column)

    def cell(focus: list, index: int, resource: dict) -> Any:
        values = path(focus, (resource, index))
        if column.collection:
            return [semantics.to_family(v, family) for v in values]
        if len(values) > 1:
            raise ViewDefinitionError(f"column {column.name} ({column.source}) returned {len(values)} values; "
                                      "set collection: true to keep them all")
        return semantics.to_family(values[0], family) if values else None
    return cell


def _product(parts: list[RowsFn]) -> RowsFn:
    def rows(item: Any, index: int, resource: dict) -> list[tuple]:
        produced = [part(item, index, resource) for part in parts]
        return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*produced)]
    return rows


@dataclass(frozen=True)
class _Compiler:
    """Builds the row functions of a view's select tree with one FHIRPath engine."""
    builder: PathBuilder
    constants: dict

    def scope(self, select: Select) -> Scope:
        return Scope(select.env, self.constants)

    def path(self, node: Node, text: str, scope: Scope) -> Fn:
        return self.builder(node, text, scope)

    def columns(self, select: Select) -> list[Callable[[list, int, dict], Any]]:
        scope = self.scope(select)
        return [_cell(c, self.path(c.path, c.source, scope)) for c in select.columns]

    def foci(self, select: Select, parent: Scope) -> Callable[[Any, int, dict], list[tuple[Any, int]]]:
        """(item, row index) pairs a select iterates over, from its parent's focus item."""
        iteration = select.iteration
        if iteration is None:
            return lambda item, index, resource: [(item, index)]
        paths = [self.path(n, t, parent) for n, t in zip(iteration.paths, iteration.sources)]
        if iteration.kind != "repeat":
            return lambda item, index, resource: list(
                (v, i) for i, v in enumerate(paths[0]([item], (resource, index))))
        inner = [self.path(n, t, self.scope(select)) for n, t in zip(iteration.paths, iteration.sources)]

        def repeat(item: Any, index: int, resource: dict) -> list[tuple[Any, int]]:
            found: list[Any] = []

            def walk(node: Any, steps: list[Fn]) -> None:
                for step in steps:
                    for child in step([node], (resource, index)):
                        if isinstance(child, dict):
                            found.append(child)
                            walk(child, inner)
            walk(item, paths)
            return list((v, i) for i, v in enumerate(found))
        return repeat

    def select(self, select: Select, parent: Scope) -> RowsFn:
        """Rows of one selection structure, per focus item of its parent."""
        cells = self.columns(select)
        parts: list[RowsFn] = []
        if cells:
            parts.append(lambda item, index, resource: [tuple(c([item], index, resource) for c in cells)])
        parts += [self.select(child, self.scope(select)) for child in select.selects]
        if select.union_all:
            branches = [self.select(b, self.scope(select)) for b in select.union_all]
            parts.append(lambda item, index, resource: [r for b in branches for r in b(item, index, resource)])
        body, foci = _product(parts), self.foci(select, parent)
        or_null = select.iteration is not None and select.iteration.kind == "forEachOrNull"
        nested_nulls = tuple(None for _ in select.column_names()[len(select.columns):])

        def rows(item: Any, index: int, resource: dict) -> list[tuple]:
            focus = foci(item, index, resource)
            if not focus and or_null:
                # forEachOrNull over nothing: own columns see an empty focus and %rowIndex 0
                # (so `%rowIndex` is 0 and paths are null); nested selects' columns are null.
                return [tuple(c([], 0, resource) for c in cells) + nested_nulls]
            return [row for value, position in focus for row in body(value, position, resource)]
        return rows


@dataclass(frozen=True)
class Plan:
    """A view ready to run on resources: resource type, where tests and the row function."""
    view: View
    where: tuple[Fn, ...]
    rows: RowsFn

    def run(self, resource: dict) -> list[tuple]:
        ctx = (resource, 0)
        if all(strict_bool(test([resource], ctx)) for test in self.where):
            return self.rows(resource, 0, resource)
        return []


def plan_view(view: View, builder: PathBuilder = native_builder) -> Plan:
    compiler = _Compiler(builder, view.constant_values())
    scope = compiler.scope(view.root)
    where = tuple(compiler.path(n, t, scope) for n, t in zip(view.where, view.where_sources))
    return Plan(view, where, compiler.select(view.root, scope))


def evaluate_view(view: View, resources: Iterable[dict], builder: PathBuilder = native_builder) -> pa.Table:
    plan = plan_view(view, builder)
    rows: list[tuple] = []
    for resource in resources:
        if isinstance(resource, dict) and resource.get("resourceType") == view.resource:
            rows.extend(plan.run(resource))
    schema = output_schema(view)
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    return pa.table([pa.array(list(col), type=field.type) for col, field in zip(columns, schema)], schema=schema)


def evaluate(view: dict, resources: Iterable[dict]) -> pa.Table:
    """Evaluate a ViewDefinition (a JSON object) over FHIR resources (JSON objects) in Python."""
    return evaluate_view(parse_view(view), resources)
