"""Proximity in queries: `A NEAR/n B` and `A ONEAR/n B`, as monitoring tools write them.

    `refugee NEAR/5 border`        both within 5 words of each other, in either order
    `Loekasjenko ONEAR/3 grens`    the first before the second, at most 3 words between
    `Loekasjenko NEAR/3f grens`    the same (Brandwatch writes the ordered form this way)
    `(refugee OR migrant) NEAR/5 "Polish border" AND NOT football`

n counts the words between the two sides (`NEAR/0` is next to each other), removed stop
words included. Either side is a word, a "phrase", a group of them joined by OR, or
another NEAR. A query without NEAR takes today's path unchanged (`search.text_query`).

A query with NEAR is parsed here into a tree: AND (or nothing: words next to each other
must all match), OR, NOT/-, groups, with the usual precedence (NOT, then NEAR, then AND,
then OR). Each part without NEAR is handed back verbatim to the caller's query-string
query, so it keeps Lucene's meaning exactly (fields, wildcards, `"a b"~n`, ranges). Each
NEAR becomes one `intervals` query per text field: intervals analyse each side with that
field's own analyzer (Dutch stemming finds *vluchtelingen* for `vluchteling` in
`text.nl.body`), which span queries cannot do without asking `_analyze` for every term and
every language; both were checked to match the same articles on the embedded node, in a
search and in the percolator. A field takes one query, so the fields are joined by a
`dis_max`, as the query-string query joins them.

A query that does not parse raises `QuerySyntaxError` with the 1-based character position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.errors import ConfigError

__all__ = ["QuerySyntaxError", "proximity_query", "syntax_problem", "uses_proximity"]

_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"?')  # closed or not: what `uses_proximity` skips
_CLOSED_PHRASE = re.compile(r'"(?:\\.|[^"\\])*"')
_RANGE_END = re.compile(r"[\]}]")
_PROXIMITY = re.compile(r"(?:^|[\s()])O?NEAR/")
_NEAR = re.compile(r"^(O?)NEAR/(\d*)([A-Za-z]*)$")
_PHRASE_SUFFIX = re.compile(r"(~\d*(?:\.\d+)?)?(\^\d+(?:\.\d+)?)?")
_SPECIAL = re.compile(r"[:*?~^/\[\]{}\\]")
_OPERATORS = {"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR", "NOT": "NOT", "!": "NOT"}
MAX_WORDS_APART = 100  # a larger NEAR is a typo, not a proximity


class QuerySyntaxError(ConfigError):
    """A query that does not parse; `position` is the 1-based character it was found at."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(message, position)

    def __str__(self) -> str:
        return f"query syntax error at character {self.position}: {self.message}"


def uses_proximity(query: str) -> bool:
    """Whether `query` has a NEAR/ONEAR operator outside quotes (and so needs this parser)."""
    return bool(_PROXIMITY.search(_QUOTED.sub(" ", query)))


def syntax_problem(query: str) -> str | None:
    """What is wrong with a proximity query, for a rule's validation; None if nothing is
    (or if it has no NEAR: Elasticsearch judges those)."""
    if not uses_proximity(query):
        return None
    try:
        proximity_query(query, {"field": 1.0}, lambda text: {})  # parsing is the check
    except QuerySyntaxError as exc:
        return str(exc)
    return None


def proximity_query(
    query: str, fields: Mapping[str, float], plain: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """`query` (with NEAR) as Elasticsearch query DSL: each NEAR an `intervals` query over
    each of `fields` (name -> boost), each part without NEAR `plain(its text)`."""
    tree = _Parser(query).parse()
    return _Translator(query, fields, plain).query(tree)


# -- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) AND OR NOT NEAR + PHRASE TERM END (`-` and `!` are NOT)
    text: str
    start: int  # 0-based offsets into the query
    end: int
    words_apart: int = 0  # NEAR only
    ordered: bool = False  # NEAR only


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i, i + 1))
            i += 1
        elif char in "+-!" and i + 1 < len(query) and not query[i + 1].isspace():
            tokens.append(_Token("NOT" if char in "-!" else "+", char, i, i + 1))
            i += 1
        elif char == '"':
            tokens.append(_phrase(query, i))
            i = tokens[-1].end
        else:
            end = _term_end(query, i)
            if query[end - 1] == ":" and query[end : end + 1] == '"':
                end = _phrase(query, end).end  # field:"a phrase" is one word
            tokens.append(_word(query[i:end], i, end))
            i = end
    tokens.append(_Token("END", "", len(query), len(query)))
    return tokens


def _phrase(query: str, start: int) -> _Token:
    match = _CLOSED_PHRASE.match(query, start)
    if match is None:
        raise QuerySyntaxError('this " is never closed', start + 1)
    suffix = _PHRASE_SUFFIX.match(query, match.end())
    end = suffix.end() if suffix else match.end()
    return _Token("PHRASE", query[start:end], start, end)


def _term_end(query: str, start: int) -> int:
    """Where a word ends: at a space or a parenthesis, past escapes and `[a TO b]` ranges."""
    i = start
    while i < len(query) and not query[i].isspace() and query[i] not in '()"':
        if query[i] == "\\":
            i += 1
        elif query[i] in "[{":
            close = _RANGE_END.search(query, i)
            i = close.start() if close else len(query) - 1
        i += 1
    return min(i, len(query))


def _word(text: str, start: int, end: int) -> _Token:
    if text in _OPERATORS:
        return _Token(_OPERATORS[text], text, start, end)
    near = _NEAR.match(text)
    if not near and not text.startswith(("NEAR/", "ONEAR/")):
        return _Token("TERM", text, start, end)
    if not near or not near.group(2):
        raise QuerySyntaxError(f"{text} needs a number of words, as in NEAR/5", start + 1)
    ordered_by, words, unit = near.groups()
    if unit.lower() not in ("", "f") or (ordered_by and unit):
        what = "sentences" if unit.lower() == "s" else f"'{unit}'"
        raise QuerySyntaxError(
            f"{text}: only a number of words is supported, not {what}", start + 1
        )
    if int(words) > MAX_WORDS_APART:
        raise QuerySyntaxError(f"{text}: at most NEAR/{MAX_WORDS_APART}", start + 1)
    return _Token("NEAR", text, start, end, int(words), bool(ordered_by or unit))


# -- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    kind: str  # OR AND NOT NEAR GROUP PHRASE TERM
    start: int
    end: int
    children: tuple[_Node, ...] = ()
    token: _Token | None = None  # NEAR, PHRASE, TERM; the `field:` of a GROUP
    boosted: bool = False  # a GROUP with ^

    @property
    def has_near(self) -> bool:
        return self.kind == "NEAR" or any(child.has_near for child in self.children)


def _joined(kind: str, parts: list[_Node]) -> _Node:
    return parts[0] if len(parts) == 1 else _Node(kind, parts[0].start, parts[-1].end, tuple(parts))


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary (AND? unary)*;
    unary := (NOT|-|!) unary | near; near := primary (NEAR primary)*;
    primary := ( or ) | +primary | PHRASE | TERM [( or )]."""

    def __init__(self, query: str) -> None:
        self.tokens = _tokens(query)
        self.at = 0

    def parse(self) -> _Node:
        node = self._or()
        token = self._peek()
        if token.kind == ")":
            raise QuerySyntaxError("this ) has no ( before it", token.start + 1)
        if token.kind != "END":
            raise QuerySyntaxError(f"unexpected {token.text}", token.start + 1)
        return node

    def _peek(self) -> _Token:
        return self.tokens[self.at]

    def _take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _or(self) -> _Node:
        parts = [self._and()]
        while self._peek().kind == "OR":
            self._take()
            parts.append(self._and())
        return _joined("OR", parts)

    def _and(self) -> _Node:
        parts = [self._unary()]
        while self._peek().kind not in ("OR", ")", "END"):
            if self._peek().kind == "AND":
                self._take()
            parts.append(self._unary())
        return _joined("AND", parts)

    def _unary(self) -> _Node:
        if self._peek().kind == "NOT":
            token = self._take()
            operand = self._unary()
            return _Node("NOT", token.start, operand.end, (operand,))
        return self._near()

    def _near(self) -> _Node:
        node = self._primary()
        while self._peek().kind == "NEAR":
            near = self._take()
            right = self._primary(after=near)
            node = _Node("NEAR", node.start, right.end, (node, right), near)
        return node

    def _primary(self, after: _Token | None = None) -> _Node:
        token = self._take()
        if token.kind == "+":  # required: what every part of an AND is already
            return self._primary(after)
        if token.kind == "(":
            return self._group(token)
        if token.kind == "PHRASE":
            return _Node("PHRASE", token.start, token.end, token=token)
        if token.kind == "TERM":
            if token.text.endswith(":") and self._peek().kind == "(":
                group = self._group(self._take())  # field:(...) keeps the query-string meaning
                return _Node("GROUP", token.start, group.end, (group,), token, group.boosted)
            return _Node("TERM", token.start, token.end, token=token)
        raise QuerySyntaxError(self._missing(token, after), token.start + 1)

    def _group(self, opening: _Token) -> _Node:
        if self._peek().kind == ")":
            raise QuerySyntaxError("empty ( )", opening.start + 1)
        inner = self._or()
        closing = self._take()
        if closing.kind != ")":
            raise QuerySyntaxError("this ( is never closed", opening.start + 1)
        suffix = self._peek()
        boosted = suffix.kind == "TERM" and suffix.text[:1] == "^" and suffix.start == closing.end
        if boosted:
            self._take()  # `(a b)^2`
            closing = suffix
        return _Node("GROUP", opening.start, closing.end, (inner,), boosted=boosted)

    @staticmethod
    def _missing(token: _Token, after: _Token | None) -> str:
        found = "the end of the query" if token.kind == "END" else repr(token.text)
        if after is not None:
            return f"{after.text} needs a word, phrase or group on its right, found {found}"
        return f"expected a word, phrase or group, found {found}"


# -- Elasticsearch query DSL -----------------------------------------------------------------


class _Translator:
    def __init__(
        self, query: str, fields: Mapping[str, float], plain: Callable[[str], dict[str, Any]]
    ) -> None:
        self.source = query
        self.fields = fields
        self.plain = plain

    def query(self, node: _Node) -> dict[str, Any]:
        if not node.has_near:
            return self.plain(self.source[node.start : node.end])
        if node.kind == "NEAR":
            return self._near(node)
        if node.kind == "GROUP":
            return self._group(node)
        if node.kind == "NOT":
            return {"bool": {"must_not": [self.query(node.children[0])]}}
        if node.kind == "OR":
            should = [self.query(child) for child in node.children]
            return {"bool": {"should": should, "minimum_should_match": 1}}
        must = [self.query(c) for c in node.children if c.kind != "NOT"]
        must_not = [self.query(c.children[0]) for c in node.children if c.kind == "NOT"]
        return {"bool": {"must": must, "must_not": must_not}}

    def _group(self, node: _Node) -> dict[str, Any]:
        if node.token is not None:  # field:(... NEAR ...)
            raise QuerySyntaxError(
                f"NEAR inside {node.token.text}( ) is not supported: NEAR searches the text fields",
                node.start + 1,
            )
        if node.boosted:
            raise QuerySyntaxError("a boost (^) on a group with NEAR is not supported", node.end)
        return self.query(node.children[0])

    def _near(self, node: _Node) -> dict[str, Any]:
        rule = self._interval(node)
        per_field = [
            {"intervals": {name: rule | ({"boost": boost} if boost != 1 else {})}}
            for name, boost in self.fields.items()
        ]
        return {"dis_max": {"queries": per_field}}

    def _interval(self, node: _Node) -> dict[str, Any]:
        """The intervals rule of one side of a NEAR (or of the NEAR itself)."""
        if node.kind == "NEAR":
            assert node.token is not None
            sides = [self._interval(child) for child in node.children]
            return {"all_of": {"intervals": sides, "max_gaps": node.token.words_apart,
                               "ordered": node.token.ordered}}  # fmt: skip
        if node.kind == "GROUP":
            if node.token is not None or node.boosted:
                raise QuerySyntaxError(
                    "a field or a boost is not supported beside NEAR", node.start + 1
                )
            return self._interval(node.children[0])
        if node.kind == "OR":
            return {"any_of": {"intervals": [self._interval(c) for c in node.children]}}
        if node.kind in ("PHRASE", "TERM"):
            return self._words(node)
        operator = "NOT" if node.kind == "NOT" else "AND"
        raise QuerySyntaxError(
            f"{operator} cannot be a side of NEAR (only words, phrases, OR and NEAR): "
            "write it outside, as in (a NEAR/5 b) AND NOT c",
            node.start + 1,
        )

    def _words(self, node: _Node) -> dict[str, Any]:
        """A word or phrase: its words next to each other, in order, as each field's
        analyzer splits and stems them."""
        assert node.token is not None
        text = node.token.text
        if node.kind == "PHRASE":
            if not text.endswith('"'):
                raise QuerySyntaxError(
                    f'{text}: "..."~n or ^ is not supported beside NEAR; write the phrase '
                    "as a NEAR of its words",
                    node.start + 1,
                )
            text = text[1:-1].replace('\\"', '"')
        elif _SPECIAL.search(text):
            raise QuerySyntaxError(
                f"{text!r} beside NEAR: fields, wildcards, fuzzy ~, boosts and regular "
                "expressions are not supported there (only plain words and phrases)",
                node.start + 1,
            )
        if not text.strip():
            raise QuerySyntaxError("an empty phrase beside NEAR", node.start + 1)
        return {"match": {"query": text, "max_gaps": 0, "ordered": True}}
