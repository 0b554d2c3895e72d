"""ModSecurity v2's Aho-Corasick matcher (``acmp``), reproduced with its quirks.

@pm/@pmFromFile answers and the TX.0 they capture come from this automaton, and v2's differs
from a textbook one in ways a rule author can observe:

- a fail link is ``goto(parent.fail, letter)`` or the root: v2 does not walk further up the
  fail chain, so some overlapping phrases are missed (never invented);
- the scan stops at the first byte where a phrase ends; the reported text is that node's text,
  and when the hit comes from a suffix (``o_match``) it is the CURRENT node's text, which can
  be a prefix of a longer phrase rather than the phrase that matched;
- node texts keep the case of the first phrase that created the node; letters are folded with
  C ``tolower`` (ASCII only).

Scanning in Python costs a loop per byte, so ``PhraseMatcher`` first asks a C automaton
(``pyahocorasick``, textbook semantics) whether any phrase occurs at all. v2 only ever misses
matches, never invents them, so "no" is final and only values that contain a phrase pay for
the exact scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bastion.waf.seclang.transformations.case import lowercase

try:
    import ahocorasick as _ahocorasick  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _ahocorasick = None

__all__ = ["AcmpTrie", "PhraseMatcher"]


class _Node:
    __slots__ = ("children", "fail", "is_last", "o_match", "text")

    def __init__(self, text: str) -> None:
        self.children: dict[str, _Node] = {}
        self.fail: _Node | None = None
        self.o_match: _Node | None = None
        self.is_last = False
        self.text = text


class AcmpTrie:
    """The v2 automaton: build with the phrases in rule order, then ``scan``."""

    __slots__ = ("root",)

    def __init__(self, phrases: Iterable[str]) -> None:
        self.root = _Node("")
        for phrase in phrases:
            node = self.root
            for i, ch in enumerate(phrase):
                letter = lowercase(ch)
                child = node.children.get(letter)
                if child is None:
                    child = _Node(phrase[: i + 1])
                    node.children[letter] = child
                node = child
            if phrase:
                node.is_last = True
        self._connect()

    def _connect(self) -> None:
        root = self.root
        root.fail = root
        level = list(root.children.items())
        for _, child in level:
            child.fail = root
        parents = {id(child): root for _, child in level}
        while level:
            next_level: list[tuple[str, _Node]] = []
            for letter, node in level:
                parent = parents[id(node)]
                if parent is not root:
                    assert parent.fail is not None
                    node.fail = parent.fail.children.get(letter, root)
                for child_letter, child in node.children.items():
                    parents[id(child)] = node
                    next_level.append((child_letter, child))
            level = next_level
        self._other_matches(root)

    def _other_matches(self, node: _Node) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            for child in current.children.values():
                om = child.fail
                while om is not None and om is not self.root:
                    if om.is_last:
                        child.o_match = om
                        break
                    om = om.fail
                stack.append(child)

    def scan(self, text: str) -> str | None:
        """v2 ``acmp_process_quick``: the reported text of the first hit, or None."""
        root = self.root
        node = root
        for ch in lowercase(text):
            go_to = None
            while go_to is None:
                go_to = node.children.get(ch)
                if go_to is not None and go_to.is_last:
                    return go_to.text
                if node is root:
                    break
                if go_to is None:
                    assert node.fail is not None
                    node = node.fail
            if go_to is not None:
                node = go_to
            if node.o_match is not None:
                return node.text
        return None


class PhraseMatcher:
    """ASCII case-insensitive phrase search with v2's answers, prefiltered in C."""

    __slots__ = ("_prefilter", "_trie", "joinable", "min_length", "size")

    def __init__(self, phrases: Iterable[str]) -> None:
        ordered = [p for p in phrases if p]
        self._trie = AcmpTrie(ordered)
        keys = {lowercase(p) for p in ordered}
        self.size = len(keys)
        #: Whether ``may_occur`` can answer for several values joined with NUL.
        self.joinable = not any("\0" in k for k in keys)
        self.min_length = min((len(k) for k in keys), default=0)
        self._prefilter: Any = None
        if keys and _ahocorasick is not None:
            automaton = _ahocorasick.Automaton()
            for key in keys:
                automaton.add_word(key, None)
            automaton.make_automaton()
            self._prefilter = automaton

    def may_occur(self, text: str) -> bool:
        """False only when no phrase occurs anywhere in ``text`` (True without the C
        prefilter): one call answers "can any of these values match?" for the values
        joined with NUL, when no phrase contains NUL (``joinable``)."""
        if not self.size:
            return False
        if self._prefilter is None:
            return True
        for _hit in self._prefilter.iter(lowercase(text)):
            return True
        return False

    def first(self, value: str) -> str | None:
        """What v2 reports for ``value`` (the TX.0 text), or None when it does not match."""
        if not self.size or len(value) < self.min_length:
            return None
        if self._prefilter is not None:
            for _hit in self._prefilter.iter(lowercase(value)):
                break
            else:
                return None
        return self._trie.scan(value)
