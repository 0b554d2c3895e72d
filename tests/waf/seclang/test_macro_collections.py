from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@given(text=st.text(alphabet="ab%{}.:xTX", max_size=30))
@settings(max_examples=300, deadline=None)
def test_a_bound_template_renders_what_render_does(text: str) -> None:
    vals = {("TX", "a"): "1", ("TX", "b"): "", ("X", None): "x"}

    def resolve(name: str, key: str | None) -> str | None:
        return vals.get((name, key))

    template = compile_template(text)
    bound = template.bind(lambda name, key: lambda ctx: resolve(name, key))
    assert bound(None) == template.render(resolve)


def test_macros_read_the_transaction_as_the_generic_resolver_does() -> None:
    from bastion.waf.seclang import WAF, Snippet

    waf = WAF.build([Snippet('SecAction "id:1,phase:1,pass,nolog,setvar:tx.a=A"')])
    tx = waf.new_transaction()
    tx.process_connection("192.0.2.7", 5555)
    tx.process_uri("GET", "/p?q=1", "HTTP/1.1")
    tx.add_request_header("Host", "example")
    tx.process_request_headers()
    text = ("%{tx.a}|%{TX.missing}|%{remote_addr}|%{request_headers.host}|%{REQUEST_URI}|"
            "%{matched_var}|%{tx}")
    assert tx.expand(text) == "A||192.0.2.7|example|/p?q=1||"
    assert tx.expand(text) == compile_template(text).render(tx._resolve_macro)
    # a collection initcol gave a variable's name is what the macro reads (as v2 resolves it)
    tx.init_collection("REMOTE_ADDR", "k")
    assert tx.expand("%{remote_addr.key}") == "k"


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



@given(keys=st.lists(st.text(max_size=12), min_size=1, max_size=4),
       now=st.floats(min_value=0, max_value=4e9), timeout=st.integers(1, 86_400))
@settings(max_examples=100, deadline=None)
def test_a_new_record_holds_its_bookkeeping_fields_in_initcols_order(
        keys: list[str], now: float, timeout: int) -> None:
    made = [VarMap.new_record("IP", key, now, timeout) for key in keys]
    for key, m in zip(keys, made, strict=True):
        stamp = str(int(now))
        assert m.name == "IP" and m.items() == [
            ("CREATE_TIME", stamp), ("IS_NEW", "1"), ("KEY", key), ("TIMEOUT", str(timeout)),
            ("LAST_UPDATE_TIME", stamp), ("UPDATE_COUNTER", "1")]
    made[0].set("counter", "1")   # records made in the same second share nothing
    assert all(m.get("counter") is None for m in made[1:])
    assert VarMap.new_record("IP", "x", now, timeout).get("counter") is None


def test_a_loaded_record_is_a_copy_and_a_missing_one_none() -> None:
    clock = FrozenClock()
    store = MemoryStore(clock)
    assert store.load("IP", "nobody") is None
    store.save("IP", "a", Record({"x": "1"}), ttl=10)
    loaded = store.load("IP", "a")
    assert loaded == Record({"x": "1"})
    assert loaded is not None
    loaded.values["x"] = "2"   # a copy: the stored record is not changed through it
    assert store.load("IP", "a") == Record({"x": "1"})


_KEY_PATTERNS = ["^header_name_", "paramcounter_.*", "MULTIPART_HEADERS_CONTENT_TYPES_*",
                 r"LEAKAGE\/ERRORS", "ab?c", "a|b", r"^\d+x", "x{2}", "^(?:x)", "-a_b:c"]


@pytest.mark.parametrize("pattern", _KEY_PATTERNS)
@given(key=st.text(alphabet="abcxHEADER_NAME-:/\\1+", max_size=20))
@settings(max_examples=150, deadline=None)
def test_a_key_regex_never_matches_a_key_without_its_required_literal(pattern: str,
                                                                     key: str) -> None:
    from bastion.waf.seclang.variables import required_literal

    rx = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    if rx.search(key) is not None:
        assert required_literal(pattern) in key.lower()
    if rx.search(key + "header_name_x") is not None:
        assert required_literal(pattern) in (key + "header_name_x").lower()


def test_required_literals_of_crs_key_patterns() -> None:
    from bastion.waf.seclang.variables import required_literal

    assert required_literal("^header_name_") == "header_name_"
    assert required_literal("MULTIPART_HEADERS_CONTENT_TYPES_*") == \
        "multipart_headers_content_types"
    assert required_literal(r"LEAKAGE\/ERRORS") == "leakage/errors"
    assert required_literal("a|b") == required_literal(r"^\d") == ""
