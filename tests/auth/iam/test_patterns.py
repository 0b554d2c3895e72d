"""The wildcard matcher: both strategies agree with a reference; no blow-up on many stars."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.auth.iam._patterns import Glob

ALPHABET = "ab/:*?"


def reference(pattern: str, value: str, ignore_case: bool) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


@settings(max_examples=500, deadline=None)
@given(pattern=st.text(ALPHABET + "AB", max_size=10), value=st.text("abAB/:", max_size=12),
       ignore_case=st.booleans())
def test_matches_reference(pattern: str, value: str, ignore_case: bool) -> None:
    assert Glob([(pattern, False)], ignore_case).match(value) == reference(pattern, value,
                                                                           ignore_case)


@settings(max_examples=200, deadline=None)
@given(text=st.text(ALPHABET, max_size=10), value=st.text(ALPHABET, max_size=10))
def test_literal_pieces_never_act_as_wildcards(text: str, value: str) -> None:
    assert Glob([(text, True)], False).match(value) == (text == value)


def test_many_stars_against_a_long_value_is_fast() -> None:
    pattern = "*a" * 12 + "*b"
    value = "a" * 4000
    start = time.perf_counter()
    assert not Glob([(pattern, False)], False).match(value)
    assert time.perf_counter() - start < 2.0
