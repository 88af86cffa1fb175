"""The reference FHIRPath engine: an AST is turned once into nested Python closures.

`build(node, scope)` returns `fn(this, ctx) -> list`: `this` is the focus collection (a list of
JSON values) and `ctx` is `(resource, row_index)`. Static decisions (choice keys, comparison
families, boundary kinds) are taken at build time from `inference`, so per-resource evaluation is
plain list work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import singledispatch
from typing import Any

from warehouse.viewdef import semantics
from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.inference import (ARITHMETIC, COMPARISONS, TypeEnv, argument_env,
                                         compare_family, infer, is_root_type_name, lambda_env,
                                         member_keys, of_type_plan, type_argument)
from warehouse.viewdef.nodes import (Binary, Call, EmptyLiteral, Index, Literal, Member, Node, This,
                                     TypeOp, Unary, Variable)

__all__ = ["Scope", "Fn", "build", "as_bool", "strict_bool"]

Fn = Callable[[list, tuple], list]


@dataclass(frozen=True)
class Scope:
    env: TypeEnv
    constants: Mapping[str, Any]

    def inner(self, source: Node) -> Scope:
        """Scope of a per-item argument (where/exists criteria)."""
        return replace(self, env=lambda_env(self.env, infer(source, self.env)))


def build(node: Node, scope: Scope) -> Fn:
    infer(node, scope.env)  # static checks first: unknown functions, constants, arity
    return _build(node, scope)


def as_bool(values: list) -> bool | None:
    """FHIRPath singleton evaluation of a collection as a boolean."""
    if not values:
        return None
    if len(values) > 1:
        raise ViewDefinitionError("expected a single boolean, got a collection")
    value = values[0]
    return value if isinstance(value, bool) else True


def strict_bool(values: list) -> bool:
    """A view `where` path: must be empty or one boolean; empty counts as false."""
    if not values:
        return False
    if len(values) > 1 or not isinstance(values[0], bool):
        raise ViewDefinitionError(f"where path must return a boolean, got {len(values)} value(s) of type "
                                  f"{', '.join(sorted({semantics.json_family(v) for v in values}))}")
    return values[0]


def _single(values: list, what: str) -> Any:
    if len(values) > 1:
        raise ViewDefinitionError(f"{what} expects a single value, got {len(values)}")
    return values[0] if values else None


@singledispatch
def _build(node: Node, scope: Scope) -> Fn:
    raise ViewDefinitionError(f"unsupported FHIRPath construct {type(node).__name__}")


@_build.register
def build_literal(node: Literal, scope: Scope) -> Fn:
    value = [node.value]
    return lambda this, ctx: value


@_build.register
def build_empty_literal(node: EmptyLiteral, scope: Scope) -> Fn:
    return lambda this, ctx: []


@_build.register
def build_variable(node: Variable, scope: Scope) -> Fn:
    if node.name in scope.constants:
        value = [scope.constants[node.name]]
        return lambda this, ctx: value
    if node.name == "rowIndex":
        return lambda this, ctx: [ctx[1]]
    return lambda this, ctx: [ctx[0]]  # %resource, %rootResource (validated by infer)


@_build.register
def build_this(node: This, scope: Scope) -> Fn:
    return lambda this, ctx: this


def _navigate(source: Fn, keys: tuple[str, ...]) -> Fn:
    def navigate(this: list, ctx: tuple) -> list:
        out: list = []
        for item in source(this, ctx):
            if isinstance(item, dict):
                for key in keys:
                    value = item.get(key)
                    if value is None:
                        continue
                    if isinstance(value, list):
                        out.extend(v for v in value if v is not None)
                    else:
                        out.append(value)
        return out
    return navigate


@_build.register
def build_member(node: Member, scope: Scope) -> Fn:
    if is_root_type_name(node, scope.env):
        name = node.name
        return lambda this, ctx: [i for i in this if isinstance(i, dict) and i.get("resourceType") == name]
    return _navigate(_build(node.source, scope), member_keys(node, scope.env))


@_build.register
def build_index(node: Index, scope: Scope) -> Fn:
    source, index = _build(node.source, scope), _build(node.index, scope)

    def indexer(this: list, ctx: tuple) -> list:
        values, position = source(this, ctx), _single(index(this, ctx), "indexer")
        return [values[position]] if position is not None and 0 <= position < len(values) else []
    return indexer


@_build.register
def build_unary(node: Unary, scope: Scope) -> Fn:
    operand = _build(node.operand, scope)
    sign = -1 if node.op == "-" else 1

    def polarity(this: list, ctx: tuple) -> list:
        value = _single(operand(this, ctx), "polarity")
        return [sign * value] if semantics.json_family(value) in ("integer", "decimal") else []
    return polarity


# --- ofType / is / as -------------------------------------------------------------------------

def _of_type(source_node: Node, type_name: str, scope: Scope) -> Fn:
    plan = of_type_plan(source_node, type_name, scope.env)
    if plan.kind == "empty":
        return lambda this, ctx: []
    if plan.kind == "choice":
        return _navigate(_build(plan.base, scope), (plan.key,))
    if plan.kind == "identity":
        return _build(source_node, scope)
    if plan.kind == "unknown_member":
        base = _build(plan.base, scope)
        plain, typed = _navigate(base, (plan.plain,)), _navigate(base, (plan.key,))
        return lambda this, ctx: [v for v in plain(this, ctx) if semantics.matches_family(v, type_name)] + typed(this, ctx)
    source = _build(source_node, scope)
    return lambda this, ctx: [v for v in source(this, ctx) if semantics.matches_family(v, type_name)]


@_build.register
def build_type_op(node: TypeOp, scope: Scope) -> Fn:
    typed = _of_type(node.operand, node.type_name, scope)
    if node.op == "as":
        return typed
    operand = _build(node.operand, scope)
    return lambda this, ctx: [] if not operand(this, ctx) else [bool(typed(this, ctx))]


# --- operators ---------------------------------------------------------------------------------

def _converter(family: str) -> Callable[[Any], Any]:
    if family == "json":
        return semantics.to_text
    target = {"number": "decimal"}.get(family, family)
    return lambda v: semantics.to_family(v, target)


def _equal(family: str, op: str) -> Callable[[list, list], list]:
    convert = _converter(family)
    fold = (lambda v: " ".join(str(v).lower().split())) if op in ("~", "!~") else (lambda v: v)

    equivalence = op in ("~", "!~")

    def equal(left: list, right: list) -> list:
        if not left or not right:
            return [(not left and not right) == (op == "~")] if equivalence else []
        a, b = list(map(convert, left)), list(map(convert, right))
        if len(a) == 1 and len(b) == 1 and (a[0] is None or b[0] is None) and not equivalence:
            return []  # a value that does not convert compares as empty, like SQL NULL
        same = len(a) == len(b) and all(x == y if x is None or y is None else fold(x) == fold(y) for x, y in zip(a, b))
        return [same if op in ("=", "~") else not same]
    return equal


_ORDER = {"<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def _order(family: str, op: str) -> Callable[[list, list], list]:
    compare = _ORDER[op]

    def order(left: list, right: list) -> list:
        a, b = _single(left, op), _single(right, op)
        if a is None or b is None:
            return []
        if family == "json":
            both_numbers = all(semantics.json_family(v) in ("integer", "decimal") for v in (a, b))
            family_now = "number" if both_numbers else "text"
        else:
            family_now = family
        a, b = _converter(family_now)(a), _converter(family_now)(b)
        return [] if a is None or b is None else [compare(a, b)]
    return order


def _logic(op: str) -> Callable[[list, list], list]:
    def logic(left: list, right: list) -> list:
        a, b = as_bool(left), as_bool(right)
        if op == "and":
            result = False if (a is False or b is False) else (None if a is None or b is None else True)
        elif op == "or":
            result = True if (a is True or b is True) else (None if a is None or b is None else False)
        elif op == "xor":
            result = None if a is None or b is None else a != b
        else:  # implies
            result = True if (a is False or b is True) else (None if a is None or b is None else False)
        return [] if result is None else [result]
    return logic


def _arithmetic(op: str, result_type: str | None) -> Callable[[list, list], list]:
    def arithmetic(left: list, right: list) -> list:
        a, b = _single(left, op), _single(right, op)
        if a is None or b is None:
            return []
        if result_type == "string":
            return [semantics.to_text(a) + semantics.to_text(b)]
        a, b = semantics.to_family(a, "decimal"), semantics.to_family(b, "decimal")
        if a is None or b is None:
            return []
        value = _apply_arithmetic(op, a, b)
        if value is None:
            return []
        return [int(value) if result_type == "integer" else float(value)]
    return arithmetic


def _apply_arithmetic(op: str, a: float, b: float) -> float | None:
    if op in ("/", "div", "mod") and b == 0:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "div":
        return math.trunc(a / b)
    return math.fmod(a, b)


def _concatenate(left: list, right: list) -> list:
    return ["".join(semantics.to_text(_single(v, "&")) if v else "" for v in (left, right))]


def _union(left: list, right: list) -> list:
    seen, out = set(), []
    for value in left + right:
        key = semantics.to_text(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _membership(op: str) -> Callable[[list, list], list]:
    def membership(left: list, right: list) -> list:
        item, collection = (left, right) if op == "in" else (right, left)
        value = _single(item, op)
        if value is None:
            return []
        return [semantics.to_text(value) in {semantics.to_text(v) for v in collection}]
    return membership


def _operator(node: Binary, scope: Scope) -> Callable[[list, list], list]:
    if node.op in COMPARISONS:
        family = compare_family(infer(node.left, scope.env).type, infer(node.right, scope.env).type)
        return _equal(family, node.op) if node.op in ("=", "!=", "~", "!~") else _order(family, node.op)
    if node.op in ARITHMETIC:
        return _arithmetic(node.op, infer(node, scope.env).type)
    if node.op == "&":
        return _concatenate
    if node.op == "|":
        return _union
    if node.op in ("in", "contains"):
        return _membership(node.op)
    return _logic(node.op)


@_build.register
def build_binary(node: Binary, scope: Scope) -> Fn:
    left, right, operator = _build(node.left, scope), _build(node.right, scope), _operator(node, scope)
    return lambda this, ctx: operator(left(this, ctx), right(this, ctx))


# --- functions ---------------------------------------------------------------------------------

@_build.register
def build_call(node: Call, scope: Scope) -> Fn:
    return _FUNCTIONS[node.name](node, scope)


def _where(node: Call, scope: Scope) -> Fn:
    source, criteria = _build(node.source, scope), _build(node.args[0], scope.inner(node.source))
    return lambda this, ctx: [v for v in source(this, ctx) if as_bool(criteria([v], ctx))]


def _exists(node: Call, scope: Scope) -> Fn:
    source = _where(node, scope) if node.args else _build(node.source, scope)
    return lambda this, ctx: [bool(source(this, ctx))]


def _empty(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    return lambda this, ctx: [not source(this, ctx)]


def _first(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    return lambda this, ctx: source(this, ctx)[:1]


def _last(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    return lambda this, ctx: source(this, ctx)[-1:]


def _count(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    return lambda this, ctx: [len(source(this, ctx))]


def _not(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)

    def negate(this: list, ctx: tuple) -> list:
        value = as_bool(source(this, ctx))
        return [] if value is None else [not value]
    return negate


def _iif(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    inner = replace(scope, env=argument_env(scope.env, infer(node.source, scope.env)))
    criterion, *branches = (_build(arg, inner) for arg in node.args)
    otherwise = branches[1] if len(branches) > 1 else (lambda this, ctx: [])

    def iif(this: list, ctx: tuple) -> list:
        focus = source(this, ctx)
        return (branches[0] if as_bool(criterion(focus, ctx)) else otherwise)(focus, ctx)
    return iif


def _text_argument(node: Call, scope: Scope, position: int, default: str | None = None) -> Fn:
    if position >= len(node.args):
        return lambda this, ctx: default
    arg = _build(node.args[position], scope)
    return lambda this, ctx: (lambda v: None if v is None else semantics.to_text(v))(_single(arg(this, ctx), node.name))


def _join(node: Call, scope: Scope) -> Fn:
    source, separator = _build(node.source, scope), _text_argument(node, scope, 0, "")
    return lambda this, ctx: [(separator(this, ctx) or "").join(semantics.to_text(v) for v in source(this, ctx))]


def _of_type_call(node: Call, scope: Scope) -> Fn:
    return _of_type(node.source, type_argument(node.args[0]), scope)


def _extension(node: Call, scope: Scope) -> Fn:
    extensions = _navigate(_build(node.source, scope), ("extension",))
    url = _text_argument(node, scope, 0)

    def extension(this: list, ctx: tuple) -> list:
        wanted = url(this, ctx)
        return [e for e in extensions(this, ctx) if isinstance(e, dict) and e.get("url") == wanted]
    return extension


def _resource_key(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    return lambda this, ctx: [semantics.to_text(v["id"]) for v in source(this, ctx) if isinstance(v, dict) and v.get("id") is not None]


def _reference_key(node: Call, scope: Scope) -> Fn:
    source = _build(node.source, scope)
    wanted = type_argument(node.args[0]) if node.args else None

    def keys(this: list, ctx: tuple) -> list:
        found = (semantics.reference_key(v, wanted) for v in source(this, ctx))
        return [k for k in found if k is not None]
    return keys


def _boundary(high: bool) -> Callable[[Call, Scope], Fn]:
    def make(node: Call, scope: Scope) -> Fn:
        source, static = _build(node.source, scope), infer(node.source, scope.env).type

        def boundary(this: list, ctx: tuple) -> list:
            value = _single(source(this, ctx), "boundary")
            kind = semantics.boundary_kind(value, static)
            if kind == "decimal":
                result = semantics.decimal_boundary(value, high)
            elif kind in ("date", "dateTime"):
                result = semantics.date_time_boundary(value, kind, high)
            elif kind == "time":
                result = semantics.time_boundary(value, high)
            else:
                result = None
            return [] if result is None else [result]
        return boundary
    return make


def _string_function(apply: Callable[..., Any], arity: int = 0) -> Callable[[Call, Scope], Fn]:
    """A function of one text input and `arity` arguments; empty input or arguments give empty."""
    def make(node: Call, scope: Scope) -> Fn:
        source = _build(node.source, scope)
        args = [_build(arg, scope) for arg in node.args]

        def call(this: list, ctx: tuple) -> list:
            value = _single(source(this, ctx), node.name)
            values = [_single(arg(this, ctx), node.name) for arg in args]
            if value is None or any(v is None for v in values[:arity]):
                return []
            result = apply(semantics.to_text(value), *values)
            return [] if result is None else [result]
        return call
    return make


def _substring(text: str, start: int, length: int | None = None) -> str | None:
    if start < 0 or start >= len(text):
        return None
    return text[start:] if length is None else text[start:start + max(length, 0)]


def _to_number(text: str, family: str = "decimal") -> Any:
    """FHIRPath toInteger/toDecimal of a text: None when it is not a number of that kind."""
    pattern = r"[+-]?[0-9]+" if family == "integer" else r"[+-]?[0-9]+(\.[0-9]+)?"
    if re.fullmatch(pattern, text) is None:
        return None
    return int(text) if family == "integer" else float(text)


_FUNCTIONS: dict[str, Callable[[Call, Scope], Fn]] = {
    "where": _where, "exists": _exists, "empty": _empty, "first": _first, "last": _last,
    "count": _count, "not": _not, "iif": _iif, "join": _join, "ofType": _of_type_call,
    "extension": _extension, "getResourceKey": _resource_key, "getReferenceKey": _reference_key,
    "lowBoundary": _boundary(False), "highBoundary": _boundary(True),
    "startsWith": _string_function(lambda s, p: s.startswith(semantics.to_text(p)), 1),
    "endsWith": _string_function(lambda s, p: s.endswith(semantics.to_text(p)), 1),
    "contains": _string_function(lambda s, p: semantics.to_text(p) in s, 1),
    "matches": _string_function(lambda s, p: re.search(semantics.to_text(p), s) is not None, 1),
    "lower": _string_function(str.lower), "upper": _string_function(str.upper),
    "length": _string_function(len),
    "substring": _string_function(_substring, 1),
    "indexOf": _string_function(lambda s, p: s.find(semantics.to_text(p)), 1),
    "replace": _string_function(lambda s, a, b: s.replace(semantics.to_text(a), semantics.to_text(b)), 2),
    "toString": _string_function(lambda s: s),
    "toInteger": _string_function(lambda s: _to_number(s, "integer")),
    "toDecimal": _string_function(_to_number),
}
