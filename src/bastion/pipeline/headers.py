"""An ordered, case-preserving, case-insensitively searchable header list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

__all__ = ["Headers"]

# Up to this many fields, a lookup scans the raw pairs instead of building the index.
_SCAN_MAX = 24
_KEYS: dict[str, bytes] = {}  # lookup name -> lower-case latin-1 bytes (names are few)
_KEYS_MAX = 1024


def _raw_key(name: str) -> bytes | None:
    """``name`` as an ASGI header name (lower-case bytes); None if it cannot be one."""
    key = _KEYS.get(name)
    if key is None:
        try:
            key = name.lower().encode("latin-1")
        except UnicodeEncodeError:
            return None
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[name] = key
    return key


class Headers:
    """Immutable view over ``(name, value)`` pairs as the client sent them.

    Names keep their case (API Gateway passes them to handlers as sent); lookups ignore case.
    Built from the server's raw bytes, nothing is decoded until someone looks: the proxy path
    forwards the bytes as they came. A lookup in a short raw list compares bytes and decodes
    only the value it returns (cheaper than decoding every header into an index); the
    lower-cased index is built on the first lookup in a long list, or on ``get_all``.
    """

    __slots__ = ("_index", "_items", "_names", "_pairs", "_raw")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] | None = tuple(items)
        self._raw: Sequence[tuple[bytes, bytes]] | None = None
        self._names: Sequence[bytes] | None = None
        self._index: dict[str, list[str]] | None = None
        self._pairs: tuple[tuple[bytes, bytes, bytes], ...] | None = None

    @classmethod
    def from_asgi(cls, raw: Sequence[tuple[bytes, bytes]],
                  names: Sequence[bytes] | None = None) -> Headers:
        """``raw``: ASGI pairs (lower-case names); ``names``: the same names as sent."""
        h = cls.__new__(cls)
        h._items = None
        h._raw = raw
        h._names = names if names is not None and len(names) == len(raw) else None
        h._index = None
        h._pairs = None
        return h

    def _idx(self) -> dict[str, list[str]]:
        idx = self._index
        if idx is None:
            idx = {}
            raw = self._raw
            if raw is not None:  # ASGI names are lower-case already
                for bname, bvalue in raw:
                    idx.setdefault(bname.decode("latin-1"), []).append(bvalue.decode("latin-1"))
            else:
                for name, value in self.items():
                    idx.setdefault(name.lower(), []).append(value)
            self._index = idx
        return idx

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        raw = self._raw
        if self._index is None and raw is not None and len(raw) <= _SCAN_MAX:
            key = _raw_key(name)
            if key is not None:
                for k, v in raw:
                    if k == key:
                        return v.decode("latin-1")
            return default
        vals = self._idx().get(name.lower())
        return vals[0] if vals else default

    def get_all(self, name: str) -> list[str]:
        return list(self._idx().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        raw = self._raw
        if self._index is None and raw is not None and len(raw) <= _SCAN_MAX:
            key = _raw_key(name)
            return key is not None and any(k == key for k, _ in raw)
        return name.lower() in self._idx()

    def items(self) -> tuple[tuple[str, str], ...]:
        items = self._items
        if items is None:
            raw = self._raw
            assert raw is not None
            names = self._names or [k for k, _ in raw]
            items = self._items = tuple((n.decode("latin-1"), v.decode("latin-1"))
                                        for n, (_, v) in zip(names, raw, strict=True))
        return items

    def raw_pairs(self) -> tuple[tuple[bytes, bytes, bytes], ...]:
        """``(lower-case name, name as sent, value)`` as bytes, for forwarding and logging
        (built once: the proxy and the log capture both take them)."""
        pairs = self._pairs
        if pairs is None:
            raw = self._raw
            if raw is None:
                pairs = tuple((k.lower().encode("latin-1"), k.encode("latin-1"),
                               v.encode("latin-1")) for k, v in self.items())
            else:
                names = self._names or [k for k, _ in raw]
                pairs = tuple((k, n, v) for n, (k, v) in zip(names, raw, strict=True))
            self._pairs = pairs
        return pairs

    def names(self) -> list[str]:
        return [k for k, _ in self.items()]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        raw = self._raw
        return len(raw) if raw is not None else len(self.items())

    def __repr__(self) -> str:
        return f"Headers({len(self)} fields)"
