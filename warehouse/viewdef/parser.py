"""A small FHIRPath tokenizer and precedence-climbing parser producing `nodes` ASTs.

Covers the grammar the SQL on FHIR shareable profile needs: literals (string, number, boolean,
date/time, `{}`), `%constants`, `$this`, member navigation, function calls, indexers, unary
polarity and every infix operator of FHIRPath N1 with its precedence. Quantity literals and
`$index`/`$total` are rejected with a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from warehouse.viewdef.errors import ViewDefinitionError
from warehouse.viewdef.nodes import (Binary, Call, EmptyLiteral, Index, Literal, Member, Node, This,
                                     TypeOp, Unary, Variable)

__all__ = ["parse", "tokenize", "Token"]

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@T?\d{2}[-:\d.T+Z]*)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<delimited>`(?:[^`\\]|\\.)*`)
  | (?P<variable>%(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'))
  | (?P<special>\$[A-Za-z]+)
  | (?P<identifier>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|!~|[-+*/&|=~<>.,()\[\]{}])
""", re.VERBOSE | re.DOTALL)

_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# Binding power of each infix operator (higher binds tighter), per the FHIRPath precedence table.
_INFIX = {
    "implies": 1, "or": 2, "xor": 2, "and": 3, "in": 4, "contains": 4,
    "=": 5, "~": 5, "!=": 5, "!~": 5, "<": 6, ">": 6, "<=": 6, ">=": 6,
    "|": 7, "is": 8, "as": 8, "+": 9, "-": 9, "&": 9, "*": 10, "/": 10, "div": 10, "mod": 10,
}
_UNARY_POWER = 11
_KEYWORD_OPS = {"and", "or", "xor", "implies", "in", "contains", "is", "as", "div", "mod"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def _unescape(body: str) -> str:
    """Resolve FHIRPath string escapes (`\\'`, `\\n`, `\\uXXXX`, ...)."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
        elif body[i + 1] == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; whitespace and comments are dropped."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ViewDefinitionError(f"FHIRPath syntax error at {pos} in {text!r}")
        if match.lastgroup != "ws":
            tokens.append(Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "", pos))
    return tokens


def _date_literal(text: str) -> Literal:
    body = text[1:]
    if body.startswith("T"):
        return Literal(body[1:], "time")
    if "T" in body:
        return Literal(body.rstrip("T"), "dateTime")
    return Literal(body, "date")


def _number_literal(text: str) -> Literal:
    return Literal(float(text), "decimal") if "." in text else Literal(int(text), "integer")


class _Parser:
    """Precedence climbing over the token list; one instance per expression."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.advance()
        if token.text != text or token.kind in ("string", "delimited"):
            self.fail(f"expected {text!r}", token)
        return token

    def fail(self, message: str, token: Token) -> None:
        found = token.text or "end of expression"
        raise ViewDefinitionError(f"FHIRPath syntax error in {self.text!r}: {message} at {token.pos} (found {found!r})")

    def parse(self) -> Node:
        node = self.expression(0)
        if self.peek().kind != "eof":
            self.fail("unexpected token", self.peek())
        return node

    def infix_op(self) -> str | None:
        token = self.peek()
        if token.kind == "op" and token.text in _INFIX:
            return token.text
        if token.kind == "identifier" and token.text in _KEYWORD_OPS:
            return token.text
        return None

    def expression(self, min_power: int) -> Node:
        left = self.prefix()
        while (op := self.infix_op()) is not None and _INFIX[op] > min_power:
            self.advance()
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.expression(_INFIX[op]))
        return left

    def prefix(self) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self.advance()
            return Unary(token.text, self.expression(_UNARY_POWER))
        return self.postfix(self.term())

    def postfix(self, node: Node) -> Node:
        while True:
            token = self.peek()
            if token.text == "." and token.kind == "op":
                self.advance()
                node = self.invocation(node)
            elif token.text == "[" and token.kind == "op":
                self.advance()
                index = self.expression(0)
                self.expect("]")
                node = Index(node, index)
            else:
                return node

    def term(self) -> Node:
        token = self.advance()
        kind, text = token.kind, token.text
        if kind == "string":
            return Literal(_unescape(text[1:-1]), "string")
        if kind == "number":
            if self.peek().kind in ("string",) or (self.peek().kind == "identifier" and self.peek().text not in _KEYWORD_OPS):
                self.fail("quantity literals are not supported", self.peek())
            return _number_literal(text)
        if kind == "datetime":
            return _date_literal(text)
        if kind == "variable":
            name = text[1:]
            return Variable(_unescape(name[1:-1]) if name[0] in "`'" else name)
        if kind == "special":
            if text == "$this":
                return This()
            self.fail(f"{text} is not supported", token)
        if kind == "op" and text == "(":
            node = self.expression(0)
            self.expect(")")
            return node
        if kind == "op" and text == "{":
            self.expect("}")
            return EmptyLiteral()
        if kind == "identifier" and text in ("true", "false"):
            return Literal(text == "true", "boolean")
        if kind in ("identifier", "delimited"):
            self.i -= 1
            return self.invocation(This())
        self.fail("expected an expression", token)

    def identifier(self) -> str:
        token = self.advance()
        if token.kind == "identifier":
            return token.text
        if token.kind == "delimited":
            return _unescape(token.text[1:-1])
        self.fail("expected an identifier", token)

    def invocation(self, source: Node) -> Node:
        name = self.identifier()
        if not (self.peek().kind == "op" and self.peek().text == "("):
            return Member(source, name)
        self.advance()
        args: list[Node] = []
        if self.peek().text != ")" or self.peek().kind != "op":
            args.append(self.expression(0))
            while self.peek().kind == "op" and self.peek().text == ",":
                self.advance()
                args.append(self.expression(0))
        self.expect(")")
        return Call(source, name, tuple(args))

    def type_specifier(self) -> str:
        name = self.identifier()
        while self.peek().kind == "op" and self.peek().text == ".":
            self.advance()
            name = self.identifier()  # `FHIR.Quantity` -> `Quantity`
        return name


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """Parse one FHIRPath expression; raises `ViewDefinitionError` on a syntax error."""
    if not isinstance(text, str) or not text.strip():
        raise ViewDefinitionError(f"FHIRPath expression must be a non-empty string, got {text!r}")
    return _Parser(text).parse()
