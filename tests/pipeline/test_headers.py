"""Headers answers the same whether a lookup scans the raw pairs or goes through the index."""

from __future__ import annotations

import pytest

from bastion.pipeline import Headers

RAW = [(b"host", b"example.com"), (b"x-multi", b"one"), (b"content-type", b"text/plain"),
       (b"x-multi", b"two"), (b"x-latin", "caf\u00e9".encode("latin-1"))]
NAMES = [b"Host", b"X-Multi", b"Content-Type", b"X-MULTI", b"X-Latin"]
LOOKUPS = ["host", "HOST", "X-Multi", "x-latin", "missing", "content-type", "caf\u00e9",
           "\u2603-not-latin-1", ""]


def _headers(fields: int) -> Headers:
    padding = [(f"x-pad-{i}".encode(), b"v") for i in range(fields - len(RAW))]
    raw = RAW + padding
    return Headers.from_asgi(raw, NAMES + [k for k, _ in padding])


@pytest.mark.parametrize("fields", [len(RAW), 40])  # short (scanned) and long (indexed)
@pytest.mark.parametrize("name", LOOKUPS)
def test_lookups_agree_with_the_decoded_items(fields: int, name: str) -> None:
    h = _headers(fields)
    expected = [v for k, v in h.items() if k.lower() == name.lower()]
    assert h.get(name) == (expected[0] if expected else None)
    assert h.get(name, "dflt") == (expected[0] if expected else "dflt")
    assert (name in h) == bool(expected)
    assert h.get_all(name) == expected


def test_scan_then_index_give_the_same_answers() -> None:
    h = _headers(len(RAW))
    before = [h.get(n) for n in LOOKUPS]
    assert h.get_all("x-multi") == ["one", "two"]  # builds the index
    assert [h.get(n) for n in LOOKUPS] == before
