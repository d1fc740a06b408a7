"""Tokenizer for Airtable formulas."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from .errors import FormulaError


class Kind(Enum):
    NUMBER = auto()
    STRING = auto()
    FIELD = auto()  # {Field Name}
    IDENT = auto()  # bare word: function name, TRUE/FALSE or single-word field name
    OP = auto()
    LPAREN = auto()
    RPAREN = auto()
    COMMA = auto()
    END = auto()


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    pos: int


# Longest operators first so "<=" wins over "<".
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "&")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
_PUNCT = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def _is_ident_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class _Lexer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char.isspace():
                self.pos += 1
            elif char in "\"'":
                self._string(char)
            elif char == "{":
                self._field()
            elif char.isdigit() or (char == "." and self._peek(1).isdigit()):
                self._number()
            elif _is_ident_char(char):
                self._ident()
            elif char in _PUNCT:
                self.tokens.append(Token(_PUNCT[char], char, self.pos))
                self.pos += 1
            else:
                self._operator()
        self.tokens.append(Token(Kind.END, "", self.pos))
        return self.tokens

    def _peek(self, ahead: int) -> str:
        index = self.pos + ahead
        return self.src[index] if index < len(self.src) else ""

    def _string(self, quote: str) -> None:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "\\" and self.pos + 1 < len(self.src):
                nxt = self.src[self.pos + 1]
                # Unknown escapes keep their backslash so regex classes like \d survive.
                chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                self.pos += 2
            elif char == quote:
                self.pos += 1
                self.tokens.append(Token(Kind.STRING, "".join(chars), start))
                return
            else:
                chars.append(char)
                self.pos += 1
        raise FormulaError(f"Unterminated string starting at position {start}")

    def _field(self) -> None:
        start = self.pos
        end = self.src.find("}", start + 1)
        if end < 0:
            raise FormulaError(f"Unterminated field reference starting at position {start}")
        name = self.src[start + 1 : end]
        if not name.strip():
            raise FormulaError(f"Empty field reference at position {start}")
        self.tokens.append(Token(Kind.FIELD, name, start))
        self.pos = end + 1

    def _number(self) -> None:
        start = self.pos
        while self._peek(0).isdigit():
            self.pos += 1
        if self._peek(0) == "." and self._peek(1).isdigit():
            self.pos += 1
            while self._peek(0).isdigit():
                self.pos += 1
        if _is_ident_char(self._peek(0)):
            raise FormulaError(f"Invalid number at position {start}")
        self.tokens.append(Token(Kind.NUMBER, self.src[start : self.pos], start))

    def _ident(self) -> None:
        start = self.pos
        while self.pos < len(self.src) and _is_ident_char(self.src[self.pos]):
            self.pos += 1
        self.tokens.append(Token(Kind.IDENT, self.src[start : self.pos], start))

    def _operator(self) -> None:
        for op in _OPERATORS:
            if self.src.startswith(op, self.pos):
                self.tokens.append(Token(Kind.OP, op, self.pos))
                self.pos += len(op)
                return
        raise FormulaError(f"Invalid character {self.src[self.pos]!r} at position {self.pos}")


def tokenize(source: str) -> list[Token]:
    return _Lexer(source).run()
