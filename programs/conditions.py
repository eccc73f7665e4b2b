"""The condition language of CONDITION steps, parsed by a small recursive-descent parser (never `eval`).

    knowledge_context_available AND personality_enhanced AND user_engagement_score > 0.8
    answer.mood == "tired" OR NOT (day >= 7)
    answer.goal contains "sleep"

Grammar (keywords in any case):

    expression := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | comparison
    comparison := value (("==" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "contains") value)?
    value      := number | string | "true" | "false" | "null" | variable | "(" expression ")"
    variable   := name ("." name)*          e.g. answer.goal

Variables come from a mapping; dotted names look into nested mappings. A variable that is not
there is `null`, and a comparison with `null` other than `==`/`!=` is false — so a condition over
an unanswered question is false rather than an error. `contains` is case-insensitive on text and
membership on lists. Errors say what was expected and point at the position (0-based).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<operator>==|!=|<=|>=|=|<|>)
  | (?P<paren>[()])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "contains", "true", "false", "null"}


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated; `position` is where (0-based)."""

    def __init__(self, message: str, position: int, source: str) -> None:
        self.message = message
        self.position = position
        self.source = source
        super().__init__(f"{message} at position {position}: {source[:position]}⟨here⟩{source[position:]}")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token."""

    kind: str  # number, string, operator, paren, name, keyword, end
    text: str
    position: int


# The syntax tree: small frozen nodes.
@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, boolean or null."""

    value: Any


@dataclass(frozen=True, slots=True)
class Variable:
    """A (possibly dotted) variable name."""

    name: str
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation."""

    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp:
    """AND / OR over two or more operands (short-circuiting)."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    """A comparison of two values."""

    op: str
    left: Node
    right: Node


Node = Literal | Variable | Not | BoolOp | Compare


def tokenize(source: str) -> list[Token]:
    """The tokens of a condition, ending with an `end` token."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise ConditionError(f"unexpected character {source[position]!r}", position, source)
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        if kind != "space":
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, expected: str) -> ConditionError:
        token = self.current
        found = "the end" if token.kind == "end" else repr(token.text)
        return ConditionError(f"expected {expected}, found {found}", token.position, self.source)

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise self.error("a condition")
        node = self.or_()
        if self.current.kind != "end":
            raise self.error("AND, OR or the end of the condition")
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.current.kind == "keyword" and self.current.text == "or":
            self.take()
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_(self) -> Node:
        operands = [self.not_()]
        while self.current.kind == "keyword" and self.current.text == "and":
            self.take()
            operands.append(self.not_())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def not_(self) -> Node:
        if self.current.kind == "keyword" and self.current.text == "not":
            self.take()
            return Not(self.not_())
        return self.comparison()

    def comparison(self) -> Node:
        left = self.value()
        token = self.current
        if token.kind == "operator" or (token.kind == "keyword" and token.text == "contains"):
            self.take()
            op = "==" if token.text == "=" else token.text
            return Compare(op, left, self.value())
        return left

    def value(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.take()
            return Literal(float(token.text) if "." in token.text else int(token.text))
        if token.kind == "string":
            self.take()
            return Literal(_unquote(token.text))
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.take()
            return Literal({"true": True, "false": False, "null": None}[token.text])
        if token.kind == "name":
            self.take()
            return Variable(token.text, token.position)
        if token.kind == "paren" and token.text == "(":
            self.take()
            node = self.or_()
            if not (self.current.kind == "paren" and self.current.text == ")"):
                raise self.error("')'")
            self.take()
            return node
        raise self.error("a value (number, \"text\", true, false, a variable or '(')")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition, ready to evaluate many times."""

    source: str
    tree: Node

    @property
    def variables(self) -> list[str]:
        """The variable names it reads, in order of appearance."""
        found: list[str] = []
        _collect(self.tree, found)
        return list(dict.fromkeys(found))

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        """The condition's truth for these variables."""
        return _truthy(_evaluate(self.tree, variables))

    def missing(self, variables: Mapping[str, Any]) -> list[str]:
        """The variables it reads that the mapping does not have (they count as null)."""
        return [name for name in self.variables if _lookup(variables, name) is _MISSING]


def parse_condition(source: str) -> Condition:
    """Parse a condition; raises `ConditionError` with the position of the problem."""
    if len(source) > 2000:
        raise ConditionError("condition too long (2000 characters at most)", 2000, source[:2000])
    return Condition(source, _Parser(source).parse())


_MISSING = object()


def _lookup(variables: Mapping[str, Any], name: str) -> Any:
    if name in variables:
        return variables[name]
    value: Any = variables
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _collect(node: Node, found: list[str]) -> None:
    if isinstance(node, Variable):
        found.append(node.name)
    elif isinstance(node, Not):
        _collect(node.operand, found)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            _collect(operand, found)
    elif isinstance(node, Compare):
        _collect(node.left, found)
        _collect(node.right, found)


def _evaluate(node: Node, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        value = _lookup(variables, node.name)
        return None if value is _MISSING else value
    if isinstance(node, Not):
        return not _truthy(_evaluate(node.operand, variables))
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(_truthy(_evaluate(operand, variables)) for operand in node.operands)
        return any(_truthy(_evaluate(operand, variables)) for operand in node.operands)
    return _compare(node.op, _evaluate(node.left, variables), _evaluate(node.right, variables))


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "contains":
        if isinstance(left, str) and right is not None:
            return str(right).lower() in left.lower()
        if isinstance(left, list | tuple | set | frozenset):
            return right in left
        return False
    left, right = _coerce(left, right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False  # comparing text with a number: neither order holds


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    """Numbers written as text (answers typed in chat) compare as numbers; text compares case-blind."""
    if isinstance(left, str) and isinstance(right, int | float) and not isinstance(right, bool):
        left = _number(left, left)
    elif isinstance(right, str) and isinstance(left, int | float) and not isinstance(left, bool):
        right = _number(right, right)
    elif isinstance(left, str) and isinstance(right, str):
        return left.strip().lower(), right.strip().lower()
    return left, right


def _number(text: str, default: Any) -> Any:
    try:
        return float(text.strip())
    except ValueError:
        return default


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0")
    return bool(value)
