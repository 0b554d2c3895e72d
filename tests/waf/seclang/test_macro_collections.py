from __future__ import annotations

from bastion.clock import FrozenClock
from bastion.waf.seclang.collections import MemoryStore, MultiMap, Record, VarMap
from bastion.waf.seclang.macro import compile_template, expand


def test_macro_templates() -> None:
    vals = {("TX", "a"): "1", ("MATCHED_VAR", None): "m", ("REQUEST_HEADERS", "Host"): "h"}

    def resolve(name: str, key: str | None) -> str | None:
        return vals.get((name, key))

    assert expand("x=%{tx.a} %{MATCHED_VAR} %{request_headers.Host}", resolve) == "x=1 m h"
    assert expand("%{tx.missing}|%{unclosed", resolve) == "|%{unclosed"
    assert expand("no macros", resolve) == "no macros"
    assert not compile_template("plain").has_macros


def test_maps_are_case_insensitive_and_ordered() -> None:
    m = MultiMap()
    m.add("A", "1")
    m.add("a", "2")
    m.add("B", "3")
    assert m.get("A") == ["1", "2"] and m.get_items("b") == [("B", "3")]
    m.set("a", "9")
    assert m.items() == [("B", "3"), ("a", "9")]
    v = VarMap("TX")
    v.set("Score", "5")
    assert v.get("SCORE") == "5" and v.items() == [("Score", "5")]


def test_memory_store_ttl_and_bound() -> None:
    clock = FrozenClock()
    store = MemoryStore(clock, max_records=2)
    store.save("IP", "a", Record({"x": "1"}), ttl=10)
    store.save("IP", "b", Record({"x": "2"}), ttl=100)
    store.save("IP", "c", Record({"x": "3"}), ttl=100)  # evicts the oldest
    assert store.load("IP", "a") is None
    assert store.load("ip", "c") == Record({"x": "3"})
    clock.advance(101)
    assert store.load("IP", "b") is None and store.load("IP", "c") is None
    rec = Record({"k": "v", "old": "x"}, {"old": clock.time() - 1})
    m = VarMap.from_record("IP", rec, clock.time())
    assert m.get("k") == "v" and m.get("old") is None
