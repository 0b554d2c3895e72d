"""CRS persistent collections (``initcol:ip=...``) in the shared state backend.

The rule loop is synchronous and the state backend (Redis) is async, so this store keeps a
bounded local mirror that ``load`` answers from, and queues what ``save`` changed; the gateway
awaits ``flush()`` after ``process_logging``. Like ModSecurity v2 when it persists a
collection, a numeric variable that changed is written as a delta (``hincr``) so concurrent
processes add up instead of overwriting each other; other changes are last-writer-wins. After a
flush the mirror is refreshed from the backend, so the next request of that client in this
process sees what every process wrote (the first request a process sees from a new client
starts from an empty record: eventual consistency, which is what CRS's IP counters need).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bastion.clock import Clock
from bastion.state.policy import Feature, GuardedStorage
from bastion.waf.seclang.collections import MemoryStore, Record

__all__ = ["StateCollectionStore"]

_INT = re.compile(r"-?\d+")
_EXPIRE = "__expire_"
#: Built-in numeric variables that are set, not counted.
_FIXED = frozenset({"KEY", "TIMEOUT", "CREATE_TIME", "LAST_UPDATE_TIME", "IS_NEW"})


@dataclass(slots=True)
class _Change:
    collection: str
    key: str
    record: Record
    original: Record | None
    ttl: float


class StateCollectionStore:
    """A ``CollectionStore`` over ``bastion.state`` (``Feature.COLLECTION``)."""

    def __init__(self, state: GuardedStorage, clock: Clock, *, prefix: str = "crs:col:",
                 max_local: int = 100_000, max_pending: int = 10_000) -> None:
        self._state = state
        self._local = MemoryStore(clock, max_local)
        self._prefix = prefix
        self._pending: list[_Change] = []
        self._max_pending = max_pending
        #: What each record looked like when loaded, until it is saved (deltas need it).
        self._loaded: dict[tuple[str, str], Record | None] = {}
        self._max_loaded = max_local

    def _key(self, collection: str, key: str) -> str:
        return f"{self._prefix}{collection.lower()}:{key}"

    # -- CollectionStore (sync, called by the rule loop) -----------------------------------
    def load(self, collection: str, key: str) -> Record | None:
        rec = self._local.load(collection, key)
        if rec is not None:   # (no record: ``save`` finds no original either way)
            if len(self._loaded) >= self._max_loaded:
                # records loaded but never saved (nothing changed them) would pile up forever
                self._loaded.clear()
            self._loaded[(collection.lower(), key)] = rec
        return rec

    def save(self, collection: str, key: str, record: Record, ttl: float) -> None:
        self._local.save(collection, key, record, ttl)
        if len(self._pending) < self._max_pending:
            original = self._loaded.pop((collection.lower(), key), None)
            self._pending.append(_Change(collection, key, record, original, ttl))

    # -- async side ----------------------------------------------------------------------
    async def prefetch(self, collection: str, key: str) -> None:
        """Warm the mirror for a record the gateway expects (e.g. ``GLOBAL``/``global``)."""
        fields = await self._state.hget_all(Feature.COLLECTION, self._key(collection, key))
        if fields:
            self._local.save(collection, key, _decode(fields), ttl=float(_ttl(fields)))

    async def flush(self) -> int:
        """Write every queued change to the backend; returns how many records were written."""
        pending, self._pending = self._pending, []
        for ch in pending:
            await self._write(ch)
        return len(pending)

    async def _write(self, ch: _Change) -> None:
        k = self._key(ch.collection, ch.key)
        before = ch.original.values if ch.original is not None else {}
        sets: dict[str, bytes] = {}
        for name, value in ch.record.values.items():
            old = before.get(name)
            if old == value:
                continue
            if old is not None and _INT.fullmatch(old) and _INT.fullmatch(value):
                await self._state.hincr(Feature.COLLECTION, k, name, int(value) - int(old),
                                        ch.ttl)
            elif old is None and _INT.fullmatch(value) and name.upper() not in _FIXED:
                await self._state.hincr(Feature.COLLECTION, k, name, int(value), ch.ttl)
            else:
                sets[name] = value.encode("latin-1")
        for name, at in ch.record.expires.items():
            sets[_EXPIRE + name] = repr(at).encode()
        sets["__ttl"] = str(int(ch.ttl)).encode()
        await self._state.hset(Feature.COLLECTION, k, sets, ch.ttl)
        for name in before:
            if name not in ch.record.values:
                await self._state.hdel(Feature.COLLECTION, k, name)
        fields = await self._state.hget_all(Feature.COLLECTION, k)
        if fields:
            self._local.save(ch.collection, ch.key, _decode(fields), ch.ttl)


def _ttl(fields: dict[str, bytes]) -> int:
    raw = fields.get("__ttl", b"3600").decode("latin-1")
    return int(raw) if raw.isdigit() else 3600


def _decode(fields: dict[str, bytes]) -> Record:
    rec = Record()
    for name, raw in fields.items():
        if name == "__ttl":
            continue
        if name.startswith(_EXPIRE):
            try:
                rec.expires[name[len(_EXPIRE):]] = float(raw.decode("latin-1"))
            except ValueError:
                continue
        else:
            rec.values[name] = raw.decode("latin-1")
    return rec
