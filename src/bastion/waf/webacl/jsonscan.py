"""A JSON reader that keeps what it understood before the first error, as AWS WAF does.

AWS documents that without ``InvalidFallbackBehavior`` it "parses and evaluates the content only
up to the first parsing failure". That case is common: a JSON body larger than the inspection
limit is cut, and the cut document is invalid. ``scan`` walks the text once and returns every
key and leaf value it read, each with its path, plus whether the whole document was valid.
"""

from __future__ import annotations

import re
from json import JSONDecoder

__all__ = ["Event", "scan"]

# (path from the root, "key" or "value", text): a key's path includes the key itself.
Event = tuple[tuple[str, ...], str, str]

_LITERAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_WS = " \t\n\r"
_DECODER = JSONDecoder()
MAX_DEPTH = 256


class _Stop(Exception):
    pass


class _Scanner:
    __slots__ = ("events", "i", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.events: list[Event] = []

    def ws(self) -> None:
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def string(self) -> str:
        try:
            text, self.i = _DECODER.raw_decode(self.s, self.i)  # a JSON string literal
        except ValueError:
            raise _Stop from None
        return str(text)

    def value(self, path: tuple[str, ...], depth: int) -> None:
        self.ws()
        if self.i >= len(self.s) or depth > MAX_DEPTH:
            raise _Stop
        c = self.s[self.i]
        if c == "{":
            self.obj(path, depth + 1)
        elif c == "[":
            self.arr(path, depth + 1)
        elif c == '"':
            self.events.append((path, "value", self.string()))
        else:
            m = _LITERAL.match(self.s, self.i)
            if m is None:
                raise _Stop
            self.i = m.end()
            self.events.append((path, "value", m.group()))

    def obj(self, path: tuple[str, ...], depth: int) -> None:
        self.i += 1
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "}":
            self.i += 1
            return
        while True:
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != '"':
                raise _Stop
            key = self.string()
            member = (*path, key)
            self.events.append((member, "key", key))
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ":":
                raise _Stop
            self.i += 1
            self.value(member, depth)
            self.ws()
            if self.i >= len(self.s):
                raise _Stop
            c = self.s[self.i]
            self.i += 1
            if c == "}":
                return
            if c != ",":
                raise _Stop

    def arr(self, path: tuple[str, ...], depth: int) -> None:
        self.i += 1
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "]":
            self.i += 1
            return
        index = 0
        while True:
            self.value((*path, str(index)), depth)
            index += 1
            self.ws()
            if self.i >= len(self.s):
                raise _Stop
            c = self.s[self.i]
            self.i += 1
            if c == "]":
                return
            if c != ",":
                raise _Stop


def scan(text: str) -> tuple[list[Event], bool]:
    """The events read, and True when ``text`` is exactly one valid JSON document."""
    sc = _Scanner(text)
    try:
        sc.value((), 0)
        sc.ws()
        ok = sc.i == len(text)
    except _Stop:
        ok = False
    return sc.events, ok
