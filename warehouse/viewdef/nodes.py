"""FHIRPath abstract syntax: frozen dataclasses, no evaluation logic.

Both engines (the Python reference evaluator and the SQL compiler) dispatch on these node classes.
Every invocation has an explicit `source`; an invocation at the start of an expression has
`This()` as its source, so `name.given` is `Member(Member(This(), "name"), "given")`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Node", "Literal", "EmptyLiteral", "Variable", "This", "Member", "Call", "Index",
           "Unary", "Binary", "TypeOp"]


@dataclass(frozen=True)
class Node:
    """Base class of every FHIRPath syntax node."""


@dataclass(frozen=True)
class Literal(Node):
    """A literal value; `type` is its FHIR type: string, integer, decimal, boolean, date, dateTime, time."""
    value: object
    type: str


@dataclass(frozen=True)
class EmptyLiteral(Node):
    """`{}`: the empty collection."""


@dataclass(frozen=True)
class Variable(Node):
    """`%name`: a view constant or an environment variable such as `%rowIndex`."""
    name: str


@dataclass(frozen=True)
class This(Node):
    """`$this`, and the implicit focus of an expression's first invocation."""


@dataclass(frozen=True)
class Member(Node):
    """Navigation to a child element: `source.name`."""
    source: Node
    name: str


@dataclass(frozen=True)
class Call(Node):
    """A function invocation: `source.name(args...)`."""
    source: Node
    name: str
    args: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Index(Node):
    """The indexer: `source[index]` (0-based)."""
    source: Node
    index: Node


@dataclass(frozen=True)
class Unary(Node):
    """Polarity: `-x` or `+x`."""
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    """An infix operator: arithmetic, comparison, equality, boolean logic, `&`, `|`."""
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class TypeOp(Node):
    """`operand is Type` / `operand as Type`."""
    op: str
    operand: Node
    type_name: str
