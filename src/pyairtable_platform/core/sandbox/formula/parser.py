"""Precedence-climbing parser producing an immutable AST.

Binding, loosest first: comparisons (``= != < <= > >=``), ``&``, ``+ -``, ``* /``,
unary minus. Binary operators are left-associative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import FormulaError
from .lexer import Kind, Token, tokenize


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # upper-cased
    args: tuple[Node, ...]
    pos: int


Node = Literal | FieldRef | Unary | Binary | Call

_PRECEDENCE = {
    "=": 1, "!=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1,
    "&": 2,
    "+": 3, "-": 3,
    "*": 4, "/": 4,
}  # fmt: skip
_UNARY_PRECEDENCE = 5
# Evaluation recurses once per tree level; keep well inside Python's recursion limit.
MAX_DEPTH = 150


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _expect(self, kind: Kind, what: str) -> Token:
        if self.current.kind is not kind:
            raise self._unexpected(f"expected {what}")
        return self._advance()

    def _unexpected(self, hint: str) -> FormulaError:
        token = self.current
        found = "end of formula" if token.kind is Kind.END else repr(token.text)
        return FormulaError(f"Invalid formula: unexpected {found} at position {token.pos}, {hint}")

    def parse(self) -> Node:
        if self.current.kind is Kind.END:
            raise FormulaError("Invalid formula: the formula is empty")
        node = self._expression(1)
        if self.tokens[self.index].kind is not Kind.END:
            raise self._unexpected("expected an operator or the end of the formula")
        return node

    def _expression(self, min_precedence: int) -> Node:
        left = self._unary()
        while self.current.kind is Kind.OP:
            precedence = _PRECEDENCE[self.current.text]
            if precedence < min_precedence:
                break
            op = self._advance().text
            right = self._expression(precedence + 1)
            left = Binary(op, left, right)
        return left

    def _unary(self) -> Node:
        if self.current.kind is Kind.OP and self.current.text in "-+":
            op = self._advance().text
            operand = self._expression(_UNARY_PRECEDENCE)
            return operand if op == "+" else Unary("-", operand)
        return self._primary()

    def _primary(self) -> Node:
        token = self.current
        if token.kind is Kind.NUMBER:
            self._advance()
            text = token.text
            return Literal(float(text) if "." in text else int(text))
        if token.kind is Kind.STRING:
            self._advance()
            return Literal(token.text)
        if token.kind is Kind.FIELD:
            self._advance()
            return FieldRef(token.text)
        if token.kind is Kind.LPAREN:
            self._advance()
            inner = self._expression(1)
            self._expect(Kind.RPAREN, "')'")
            return inner
        if token.kind is Kind.IDENT:
            return self._identifier()
        raise self._unexpected("expected a value")

    def _identifier(self) -> Node:
        token = self._advance()
        if self.current.kind is Kind.LPAREN:
            self._advance()
            return Call(token.text.upper(), self._arguments(), token.pos)
        upper = token.text.upper()
        if upper in ("TRUE", "FALSE"):
            return Literal(upper == "TRUE")
        return FieldRef(token.text)

    def _arguments(self) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.current.kind is Kind.RPAREN:
            self._advance()
            return ()
        while True:
            args.append(self._expression(1))
            if self.current.kind is Kind.COMMA:
                self._advance()
                continue
            self._expect(Kind.RPAREN, "',' or ')'")
            return tuple(args)


def parse(source: str) -> Node:
    try:
        tree = _Parser(tokenize(source)).parse()
    except RecursionError:
        raise FormulaError("Invalid formula: the formula is nested too deeply") from None
    if depth(tree) > MAX_DEPTH:
        raise FormulaError("Invalid formula: the formula is nested too deeply")
    return tree


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def depth(tree: Node) -> int:
    """Height of the tree, computed without recursion (long operator chains are deep)."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in _children(node))
    return deepest


def _walk(tree: Node) -> list[Node]:
    """Every node, parents before children, left to right."""
    found: list[Node] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(_children(node)))
    return found


def field_names(tree: Node) -> frozenset[str]:
    """All field names referenced anywhere in the tree."""
    return frozenset(node.name for node in _walk(tree) if isinstance(node, FieldRef))


def calls(tree: Node) -> list[Call]:
    """All function calls in the tree, outermost first."""
    return [node for node in _walk(tree) if isinstance(node, Call)]
