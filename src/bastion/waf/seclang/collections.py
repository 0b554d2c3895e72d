"""Collections: per-transaction maps (TX, ARGS...) and persistent IP/GLOBAL records.

Keys are case-insensitive everywhere (ModSecurity v2 keeps them in APR tables); values keep
their case. Persistent collections sit behind a two-method ``CollectionStore`` so the state layer
can put Redis behind them; ``MemoryStore`` is the in-process TTL implementation on a ``Clock``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from bastion.clock import Clock

__all__ = ["CollectionStore", "MemoryStore", "MultiMap", "Record", "VarMap"]


_NO_ITEMS: list[tuple[str, str]] = []


class MultiMap:
    """An ordered multi-map with case-insensitive keys (ARGS, headers, cookies, files)."""

    __slots__ = ("_index", "_items")

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[tuple[str, str]]] = {}

    def add(self, key: str, value: str) -> None:
        item = (key, value)
        self._items.append(item)
        low = key.lower()
        same = self._index.get(low)
        if same is None:
            self._index[low] = [item]
        else:
            same.append(item)

    def set(self, key: str, value: str) -> None:
        low = key.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != low]
        self._items.append((key, value))
        self._index[low] = [(key, value)]

    def get(self, key: str) -> list[str]:
        return [v for _, v in self._index.get(key.lower(), ())]

    def get_items(self, key: str) -> list[tuple[str, str]]:
        """(original key, value) pairs for ``key`` (case-insensitive)."""
        return self._index.get(key.lower(), [])

    def lowered(self, lowered_key: str) -> list[tuple[str, str]]:
        """``get_items`` of a key already in lower case (not copied: read, never change)."""
        return self._index.get(lowered_key, _NO_ITEMS)

    def count(self, lowered_key: str) -> int:
        """How many values ``lowered_key`` (already lower case) has."""
        return len(self._index.get(lowered_key, ()))

    def first(self, key: str) -> str | None:
        vals = self.get(key)
        return vals[0] if vals else None

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The (key, value) pairs in order, not copied: read, never change."""
        return self._items

    def clear(self) -> None:
        self._items.clear()
        self._index.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)


class VarMap:
    """A single-valued case-insensitive map with per-key expiry (TX, IP, GLOBAL)."""

    __slots__ = ("_data", "_expires", "name", "written")

    def __init__(self, name: str) -> None:
        self.name = name
        self._data: dict[str, tuple[str, str]] = {}
        self._expires: dict[str, float] = {}
        #: When a set, every key (lower case) written since: the engine replays a TX-only
        #: rule's load-time result while none of the keys it reads was written.
        self.written: set[str] | None = None

    def get(self, key: str) -> str | None:
        item = self._data.get(key.lower())
        return item[1] if item is not None else None

    def get_item(self, key: str) -> tuple[str, str] | None:
        """(original key, value) for ``key`` (case-insensitive)."""
        return self._data.get(key.lower())

    def set(self, key: str, value: str) -> None:
        low = key.lower()
        self._data[low] = (key, value)
        if self.written is not None:
            self.written.add(low)

    def put(self, items: Iterable[tuple[str, tuple[str, str]]]) -> None:
        """``set`` each (lower-case key, (key, value)) item, in order, except those the map
        already holds exactly (they stay unwritten)."""
        data = self._data
        written = self.written
        for low, item in items:
            if data.get(low) != item:
                data[low] = item
                if written is not None:
                    written.add(low)

    def delete(self, key: str) -> None:
        low = key.lower()
        self._data.pop(low, None)
        self._expires.pop(low, None)
        if self.written is not None:
            self.written.add(low)

    def discard(self, lowered_keys: Iterable[str]) -> None:
        """Delete the keys (already lower case) that exist."""
        data = self._data
        for low in lowered_keys:
            if low in data:
                self.delete(low)

    def expire(self, key: str, at: float) -> None:
        low = key.lower()
        if low in self._data:
            self._expires[low] = at
            if self.written is not None:
                self.written.add(low)

    def items(self) -> list[tuple[str, str]]:
        return list(self._data.values())

    def lowered_items(self) -> Iterable[tuple[str, tuple[str, str]]]:
        """(lower-case key, (original key, value)) pairs, without copying."""
        return self._data.items()

    @classmethod
    def of(cls, name: str, items: Iterable[tuple[str, str]]) -> VarMap:
        """A map holding ``items`` ((key, value) pairs, keys distinct ignoring case)."""
        m = cls(name)
        m._data = {k.lower(): (k, v) for k, v in items}
        return m

    @classmethod
    def new_record(cls, name: str, key: str, now: float, timeout: int) -> VarMap:
        """A persistent collection's record as ``initcol`` makes it when the store has none:
        its bookkeeping fields only. Built from a per-second template (one per client and
        request otherwise, for the IP collection)."""
        sec = int(now)
        template = _NEW_RECORDS.get((name, sec, timeout))
        if template is None:
            if len(_NEW_RECORDS) >= 64:
                _NEW_RECORDS.clear()
            stamp = str(sec)
            template = _NEW_RECORDS[(name, sec, timeout)] = {k.lower(): (k, v) for k, v in (
                ("CREATE_TIME", stamp), ("IS_NEW", "1"), ("KEY", ""), ("TIMEOUT", str(timeout)),
                ("LAST_UPDATE_TIME", stamp), ("UPDATE_COUNTER", "1"))}
        m = cls(name)
        m._data = data = template.copy()
        data["key"] = ("KEY", key)   # in the template's place: the order stays
        return m

    def copy(self) -> VarMap:
        """An independent copy (the specialised TX snapshot each transaction starts from)."""
        m = VarMap(self.name)
        m._data = self._data.copy()
        m._expires = self._expires.copy()
        return m

    def __len__(self) -> int:
        return len(self._data)

    def to_record(self) -> Record:
        return Record({k: v for k, v in self._data.values()},
                      {self._data[k][0]: t for k, t in self._expires.items() if k in self._data})

    @classmethod
    def from_record(cls, name: str, record: Record, now: float) -> VarMap:
        m = cls(name)
        for k, v in record.values.items():
            at = record.expires.get(k)
            if at is not None and at <= now:
                continue
            m.set(k, v)
            if at is not None:
                m.expire(k, at)
        return m


#: (collection, second, timeout) -> a new record's items (``VarMap.new_record``)
_NEW_RECORDS: dict[tuple[str, int, int], dict[str, tuple[str, str]]] = {}


@dataclass(slots=True)
class Record:
    """A persistent collection's variables and the wall time each one expires at."""

    values: dict[str, str] = field(default_factory=dict)
    expires: dict[str, float] = field(default_factory=dict)


class CollectionStore(Protocol):
    """Persistent collections (``initcol``) keyed by collection name and record key."""

    def load(self, collection: str, key: str) -> Record | None: ...

    def save(self, collection: str, key: str, record: Record, ttl: float) -> None: ...


class MemoryStore:
    """In-process store; a record disappears ``ttl`` seconds after its last save."""

    def __init__(self, clock: Clock, max_records: int = 100_000) -> None:
        self._clock = clock
        self._max = max_records
        self._data: dict[tuple[str, str], tuple[Record, float]] = {}
        self._lock = threading.Lock()

    def load(self, collection: str, key: str) -> Record | None:
        if (collection.lower(), key) not in self._data:   # the usual answer, without the lock
            return None
        now = self._clock.time()
        with self._lock:
            item = self._data.get((collection.lower(), key))
            if item is None:
                return None
            record, until = item
            if until <= now:
                del self._data[(collection.lower(), key)]
                return None
            return Record(dict(record.values), dict(record.expires))

    def save(self, collection: str, key: str, record: Record, ttl: float) -> None:
        now = self._clock.time()
        with self._lock:
            if len(self._data) >= self._max:
                self._evict(now)
            self._data[(collection.lower(), key)] = (
                Record(dict(record.values), dict(record.expires)), now + ttl)

    def _evict(self, now: float) -> None:
        for k in [k for k, (_, until) in self._data.items() if until <= now]:
            del self._data[k]
        while len(self._data) >= self._max:
            del self._data[next(iter(self._data))]
