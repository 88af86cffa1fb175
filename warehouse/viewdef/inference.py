"""Static typing of FHIRPath expressions, shared by both engines.

`infer(node, env)` says what FHIR type an expression yields and whether it has at most one item.
It also enforces the static rules: unknown functions, wrong argument counts and undefined
constants raise `ViewDefinitionError` before any data is read. Both engines ask this module, so the
reference evaluator and the SQL compiler resolve members, choice types and comparisons alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache, singledispatch
from pathlib import Path

import yaml

from warehouse.viewdef import fhir_schema
from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.nodes import (Binary, Call, EmptyLiteral, Index, Literal, Member, Node, This,
                                     TypeOp, Unary, Variable)

__all__ = ["TypeInfo", "TypeEnv", "FunctionSpec", "FUNCTIONS", "infer", "type_argument",
           "lambda_env", "argument_env", "is_root_type_name", "member_keys", "OfTypePlan", "of_type_plan",
           "compare_family", "COMPARISONS", "ARITHMETIC", "LOGIC"]

COMPARISONS = frozenset({"=", "!=", "~", "!~", "<", ">", "<=", ">="})
ARITHMETIC = frozenset({"+", "-", "*", "/", "div", "mod"})
LOGIC = frozenset({"and", "or", "xor", "implies"})


@dataclass(frozen=True)
class TypeInfo:
    type: str | None
    single: bool


@dataclass(frozen=True)
class TypeEnv:
    """What an expression is evaluated against: the view's resource type, the focus, the constants."""
    resource: str
    this: TypeInfo
    constants: tuple[tuple[str, str], ...] = ()
    at_root: bool = True

    def constant_type(self, name: str) -> str:
        for constant, type_name in self.constants:
            if constant == name:
                return type_name
        if name in ("resource", "rootResource"):
            return self.resource
        if name == "rowIndex":
            return "integer"
        raise ViewDefinitionError(f"undefined constant %{name}")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int
    result: str
    single: bool | str
    is_lambda: bool = False
    has_type_argument: bool = False
    focus_arguments: bool = False


def _load_functions() -> dict[str, FunctionSpec]:
    raw = yaml.safe_load(Path(__file__).with_name("functions.yaml").read_text())
    return {name: FunctionSpec(name, spec["args"][0], spec["args"][1], spec["result"], spec["single"],
                               spec.get("lambda", False), spec.get("type_argument", False),
                               spec.get("focus_arguments", False))
            for name, spec in raw.items()}


FUNCTIONS: dict[str, FunctionSpec] = _load_functions()


def lambda_env(env: TypeEnv, source: TypeInfo) -> TypeEnv:
    """The environment of a per-item argument (`where(...)` criteria): $this is one source item."""
    return replace(env, this=TypeInfo(source.type, True), at_root=False)


def argument_env(env: TypeEnv, source: TypeInfo) -> TypeEnv:
    """The environment of `iif` arguments: $this is the whole input collection."""
    return env if source == env.this else replace(env, this=source, at_root=False)


def type_argument(node: Node) -> str:
    """The type named by a function argument such as `ofType(Quantity)`."""
    if isinstance(node, Member) and isinstance(node.source, (This, Member)):
        return node.name
    raise ViewDefinitionError(f"expected a type name, got {node!r}")


def is_root_type_name(node: Member, env: TypeEnv) -> bool:
    """`Patient.name`: a leading resource type name selects the root resource itself."""
    return isinstance(node.source, This) and env.at_root and node.name == env.resource


@lru_cache(maxsize=8192)
def infer(node: Node, env: TypeEnv) -> TypeInfo:
    """Static type and cardinality of `node` evaluated in `env`."""
    return _infer(node, env)


@singledispatch
def _infer(node: Node, env: TypeEnv) -> TypeInfo:
    raise ViewDefinitionError(f"unsupported FHIRPath construct {type(node).__name__}")


@_infer.register
def infer_literal(node: Literal, env: TypeEnv) -> TypeInfo:
    return TypeInfo(node.type, True)


@_infer.register
def infer_empty_literal(node: EmptyLiteral, env: TypeEnv) -> TypeInfo:
    return TypeInfo(None, True)


@_infer.register
def infer_variable(node: Variable, env: TypeEnv) -> TypeInfo:
    return TypeInfo(env.constant_type(node.name), True)


@_infer.register
def infer_this(node: This, env: TypeEnv) -> TypeInfo:
    return env.this


@_infer.register
def infer_member(node: Member, env: TypeEnv) -> TypeInfo:
    if is_root_type_name(node, env):
        return TypeInfo(env.resource, True)
    source = infer(node.source, env)
    element = fhir_schema.element(source.type, node.name)
    if element is None:
        return TypeInfo(None, False)
    return TypeInfo(element.type, source.single and not element.is_list)


@_infer.register
def infer_index(node: Index, env: TypeEnv) -> TypeInfo:
    _require_integer(infer(node.index, env), "indexer")
    return TypeInfo(infer(node.source, env).type, True)


@_infer.register
def infer_unary(node: Unary, env: TypeEnv) -> TypeInfo:
    return infer(node.operand, env)


@_infer.register
def infer_type_op(node: TypeOp, env: TypeEnv) -> TypeInfo:
    operand = infer(node.operand, env)
    if node.op == "is":
        return TypeInfo("boolean", True)
    return TypeInfo(node.type_name, operand.single)


@_infer.register
def infer_binary(node: Binary, env: TypeEnv) -> TypeInfo:
    left, right = infer(node.left, env), infer(node.right, env)
    if node.op in COMPARISONS or node.op in LOGIC or node.op in ("in", "contains"):
        return TypeInfo("boolean", True)
    if node.op == "&":
        return TypeInfo("string", True)
    if node.op == "|":
        return TypeInfo(left.type if left.type == right.type else None, False)
    return TypeInfo(_arithmetic_type(node.op, left.type, right.type), True)


def _arithmetic_type(op: str, left: str | None, right: str | None) -> str | None:
    families = {fhir_schema.family(left), fhir_schema.family(right)}
    if op == "+" and "text" in families:
        return "string"
    if op == "div" or (op == "mod" and families == {"integer"}):
        return "integer"
    if families == {"integer"} and op != "/":
        return "integer"
    if families & {"date", "dateTime", "time"}:
        raise ViewDefinitionError("date/time arithmetic is not supported")
    return "decimal"


def _require_integer(info: TypeInfo, what: str) -> None:
    if info.type is not None and fhir_schema.family(info.type) != "integer":
        raise ViewDefinitionError(f"{what} needs an integer, got {info.type}")


@_infer.register
def infer_call(node: Call, env: TypeEnv) -> TypeInfo:
    spec = FUNCTIONS.get(node.name)
    if spec is None:
        raise ViewDefinitionError(f"unknown FHIRPath function {node.name}()")
    if not spec.min_args <= len(node.args) <= spec.max_args:
        raise ViewDefinitionError(f"{node.name}() takes {spec.min_args}..{spec.max_args} arguments, got {len(node.args)}")
    source = infer(node.source, env)
    _check_arguments(node, spec, source, env)
    return TypeInfo(_result_type(node, spec, source, env), _result_single(node, spec, source, env))


def _check_arguments(node: Call, spec: FunctionSpec, source: TypeInfo, env: TypeEnv) -> None:
    """Type-check every argument (so undefined constants or functions inside them fail early)."""
    for position, arg in enumerate(node.args):
        if position == 0 and spec.has_type_argument:
            type_argument(arg)
        elif position == 0 and spec.is_lambda:
            infer(arg, lambda_env(env, source))
        elif spec.focus_arguments:
            infer(arg, argument_env(env, source))
        else:
            infer(arg, env)


def _result_type(node: Call, spec: FunctionSpec, source: TypeInfo, env: TypeEnv) -> str | None:
    if spec.result == "input":
        return source.type
    if spec.result == "type_argument":
        return type_argument(node.args[0])
    if spec.result == "branches":
        branches = {infer(arg, argument_env(env, source)).type for arg in node.args[1:]}
        return branches.pop() if len(branches) == 1 else None
    return spec.result


def _result_single(node: Call, spec: FunctionSpec, source: TypeInfo, env: TypeEnv) -> bool:
    if spec.single == "input":
        return source.single
    if spec.single == "branches":
        return all(infer(arg, argument_env(env, source)).single for arg in node.args[1:])
    return bool(spec.single)


def member_keys(node: Member, env: TypeEnv) -> tuple[str, ...]:
    """JSON keys a member step reads: the element itself, or every key of a choice element."""
    element = fhir_schema.element(infer(node.source, env).type, node.name)
    if element is not None and element.is_choice:
        return tuple(key for _, key in element.choices)
    return (node.name,)


@dataclass(frozen=True)
class OfTypePlan:
    """How `ofType(T)` resolves, decided once from static types.

    kind: `choice` (read `key` from `base`), `unknown_member` (read `plain` from `base`, keep the
    values of family T, plus `key`), `identity`, `empty`, or `filter` (keep values of family T).
    """
    kind: str
    type_name: str
    base: Node | None = None
    key: str | None = None
    plain: str | None = None


def _static_match(static: str, wanted: str) -> bool:
    static_family, wanted_family = fhir_schema.family(static), fhir_schema.family(wanted)
    return static == wanted or (static_family is not None and static_family == wanted_family)


def of_type_plan(source: Node, type_name: str, env: TypeEnv) -> OfTypePlan:
    """Resolve `source.ofType(type_name)`; choice elements become a direct key read."""
    if isinstance(source, Member) and not is_root_type_name(source, env):
        element = fhir_schema.element(infer(source.source, env).type, source.name)
        if element is not None and element.is_choice:
            key = dict(element.choices).get(type_name)
            return OfTypePlan("choice", type_name, source.source, key) if key else OfTypePlan("empty", type_name)
        if element is None:
            return OfTypePlan("unknown_member", type_name, source.source,
                              fhir_schema.choice_key(source.name, type_name), source.name)
    static = infer(source, env).type
    if static is None:
        return OfTypePlan("filter", type_name)
    return OfTypePlan("identity" if _static_match(static, type_name) else "empty", type_name)


def compare_family(left: str | None, right: str | None) -> str:
    """The family two operands are compared in: number, bool, text, or json (both unknown)."""
    families = {fhir_schema.family(left), fhir_schema.family(right)} - {None}
    if families & {"integer", "decimal"}:
        return "number"
    if "bool" in families:
        return "bool"
    if families:
        return "text"
    return "json"
