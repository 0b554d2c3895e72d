from __future__ import annotations

import pytest

from bastion.clock import FrozenClock
from bastion.waf.seclang.collections import MemoryStore, Record
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.results import Interruption
from bastion.waf.seclang.transaction import Transaction
from bastion.waf.seclang.waf import WAF

from .conftest import make_waf


def run(waf: WAF, uri: str = "/", *, method: str = "GET", headers: list[tuple[str, str]] | None
        = None, body: bytes = b"", ip: str = "192.0.2.1") -> tuple[Transaction,
                                                                   Interruption | None]:
    tx = waf.new_transaction()
    tx.process_connection(ip, 1234)
    tx.process_uri(method, uri, "HTTP/1.1")
    for k, v in headers or [("Host", "example.com")]:
        tx.add_request_header(k, v)
    it = tx.process_request_headers()
    if it is None:
        it = tx.process_request_body(body)
    if it is None:
        it = tx.process_response_headers(200, [("Content-Type", "text/html")])
    if it is None:
        it = tx.process_response_body(b"<html>ok</html>")
    tx.process_logging()
    return tx, it


def ids(tx: Transaction) -> list[int]:
    return [m.id for m in tx.matched]


def test_deny_is_a_returned_interruption(prims: Primitives) -> None:
    waf = make_waf(prims, 'SecRule ARGS "@rx evil" "id:1,phase:1,deny,status:406,msg:\'bad\'"')
    tx, it = run(waf, "/?a=evil")
    assert it == Interruption(1, "deny", 406)
    assert tx.matched[0].msg == "bad" and tx.matched[0].matched_var_name == "ARGS:a"
    _, it = run(waf, "/?a=good")
    assert it is None


def test_detection_only_logs_but_never_disrupts(prims: Primitives) -> None:
    waf = make_waf(prims, 'SecRuleEngine DetectionOnly\n'
                          'SecRule ARGS "@rx evil" "id:1,phase:1,deny"\n'
                          'SecRule ARGS "@rx evil" "id:2,phase:2,deny"')
    tx, it = run(waf, "/?a=evil")
    assert it is None and ids(tx) == [1, 2]


def test_block_uses_the_default_disruptive_action(prims: Primitives) -> None:
    text = ('SecDefaultAction "phase:2,log,auditlog,{}"\n'
            'SecRule ARGS "@rx x" "id:1,phase:2,block"\n'
            'SecRule ARGS "@rx x" "id:2,phase:2,block"')
    tx, it = run(make_waf(prims, text.format("pass")), "/?a=x")
    assert it is None and ids(tx) == [1, 2]
    tx, it = run(make_waf(prims, text.format("deny,status:403")), "/?a=x")
    assert it is not None and it.rule_id == 1 and ids(tx) == [1]


def test_chain_actions_run_per_link_and_fire_only_on_full_match(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule ARGS "@rx a" "id:1,phase:1,pass,setvar:tx.starter=+1,msg:'%{MATCHED_VAR_NAME}',chain"
    SecRule REQUEST_METHOD "@streq POST" "setvar:tx.link=1"
SecRule TX:starter "@eq 2" "id:2,phase:1,pass,log,msg:'starter ran twice'"
SecRule &TX:link "@eq 0" "id:3,phase:1,pass,msg:'link did not run'"
""")
    tx, _ = run(waf, "/?x=a&y=aa")
    assert ids(tx) == [2, 3]
    tx, _ = run(waf, "/?x=a&y=aa", method="POST")
    assert ids(tx)[0] == 1 and tx.matched[0].msg == "REQUEST_METHOD"


def test_skip_after_markers_in_every_phase(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule REQUEST_URI "@rx skip" "id:1,phase:1,pass,nolog,skipAfter:END"
SecRule REQUEST_URI "@rx ." "id:2,phase:1,pass"
SecMarker END
SecRule REQUEST_URI "@rx ." "id:3,phase:1,pass"
SecRule REQUEST_URI "@rx skip" "id:4,phase:2,pass,nolog,skipAfter:END"
SecRule REQUEST_URI "@rx ." "id:5,phase:2,pass"
""")
    tx, _ = run(waf, "/skip")
    assert ids(tx) == [3]
    tx, _ = run(waf, "/go")
    assert ids(tx) == [2, 3, 5]


def test_multimatch_and_transformation_cache(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule ARGS "@rx ^<a>$" "id:1,phase:1,pass,t:none,t:urlDecode,t:lowercase"
SecRule ARGS "@rx ^%3CA%3E$" "id:2,phase:1,pass,t:none,t:urlDecode,t:lowercase,multiMatch"
SecRule ARGS "@rx ^%3CA%3E$" "id:3,phase:1,pass,t:none,t:urlDecode,t:lowercase"
SecRule ARGS "@rx ^<A>$" "id:4,phase:1,pass,t:none,t:urlDecode,t:lowercase,multiMatch"
""")
    tx, _ = run(waf, "/?q=%253CA%253E")
    assert ids(tx) == [1, 2, 4]


def test_setvar_forms_and_macros(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.a=5,setvar:tx.a=+3,setvar:tx.a=-1,\
setvar:tx.b=%{tx.a}x,setvar:tx.c=1,setvar:!tx.c,setvar:'tx.n_%{request_headers.host}=+1',\
setvar:tx.unset=+%{tx.nothing}"
SecRule TX:a "@eq 7" "id:2,phase:1,pass,msg:'a=%{tx.a} b=%{TX.B} rule=%{rule.id}'"
SecRule &TX:c "@eq 0" "id:3,phase:1,pass"
SecRule TX:n_example.com "@eq 1" "id:4,phase:1,pass"
SecRule TX:unset "@eq 0" "id:5,phase:1,pass,logdata:'%{tx.missing}|%{MATCHED_VAR}'"
""")
    tx, _ = run(waf)
    assert ids(tx) == [2, 3, 4, 5]
    assert tx.matched[0].msg == "a=7 b=7x rule=2"
    assert tx.matched[3].logdata == "|0"


def test_captures_fill_tx_and_are_used_by_links(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule REQUEST_HEADERS:X-Test "@rx ^(\\w+)-(\\d+)$" "id:1,phase:1,pass,capture,\
logdata:'%{TX.0}/%{tx.1}/%{tx.2}',setvar:'tx.hdr_%{tx.1}=%{tx.2}',chain"
    SecRule TX:1 "@streq abc" "t:none"
SecRule TX:hdr_abc "@eq 42" "id:2,phase:1,pass"
""")
    tx, _ = run(waf, headers=[("Host", "h"), ("X-Test", "abc-42")])
    assert ids(tx) == [1, 2] and tx.matched[0].logdata == "abc-42/abc/42"


def test_static_and_runtime_exclusions(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule REQUEST_URI "@beginsWith /admin" "id:10,phase:1,pass,nolog,\
ctl:ruleRemoveTargetById=100;ARGS:token,ctl:ruleRemoveById=101,ctl:ruleRemoveByTag=skipme,\
ctl:ruleRemoveTargetByTag=t2;ARGS_NAMES"
SecRule ARGS|!ARGS:/^safe/ "@rx bad" "id:100,phase:2,pass"
SecRule ARGS "@rx bad" "id:101,phase:2,pass"
SecRule ARGS "@rx bad" "id:102,phase:2,pass,tag:'skipme'"
SecRule ARGS_NAMES "@rx bad" "id:103,phase:2,pass,tag:'t2'"
""")
    tx, _ = run(waf, "/x?token=bad&safe1=bad&bad=1")
    assert ids(tx) == [100, 101, 101, 102, 102, 103]  # one log per matched value
    assert tx.matched[0].matched_var_name == "ARGS:token"
    tx, _ = run(waf, "/admin?token=bad&safe1=bad")
    assert ids(tx) == []
    tx, _ = run(waf, "/admin?other=bad&bad=1")
    assert ids(tx) == [100]


def test_ctl_rule_engine_off_and_request_body_processor(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:X-Off "@eq 1" "id:1,phase:1,pass,nolog,ctl:ruleEngine=Off"
SecRule REQUEST_HEADERS:Content-Type "@rx ^text/plain" \
    "id:2,phase:1,pass,nolog,ctl:requestBodyProcessor=URLENCODED"
SecRule ARGS_POST:a "@streq b" "id:3,phase:2,deny"
""")
    tx, it = run(waf, method="POST", body=b"a=b",
                 headers=[("Host", "h"), ("Content-Type", "text/plain")])
    assert it is not None and it.rule_id == 3
    tx, it = run(waf, method="POST", body=b"a=b",
                 headers=[("Host", "h"), ("Content-Type", "text/plain"), ("X-Off", "1")])
    assert it is None and ids(tx) == []


def test_count_and_regex_keys_are_case_insensitive(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule &REQUEST_HEADERS:x-thing "@eq 2" "id:1,phase:1,pass"
SecRule &ARGS "@eq 3" "id:2,phase:1,pass"
SecRule REQUEST_HEADERS:/^X-T/ "@rx two" "id:3,phase:1,pass"
SecRule &TX:nothing "@eq 0" "id:4,phase:1,pass"
""")
    tx, _ = run(waf, "/?a=1&a=2&B=3",
                headers=[("Host", "h"), ("X-Thing", "one"), ("x-THING", "two")])
    assert ids(tx) == [1, 2, 3, 4]


def test_negated_operator_needs_a_value(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule ARGS:missing "!@rx x" "id:1,phase:1,pass"
SecRule REQUEST_HEADERS:Host "!@rx ^h$" "id:2,phase:1,pass"
SecRule REQUEST_HEADERS:Host "!@rx ^other$" "id:3,phase:1,pass"
""")
    tx, _ = run(waf, headers=[("Host", "h")])
    assert ids(tx) == [3]


def test_persistent_ip_collection_with_ttl(prims: Primitives) -> None:
    clock = FrozenClock()
    store = MemoryStore(clock)
    waf = make_waf(prims, """
SecCollectionTimeout 100
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr},setvar:ip.hits=+1,\
expirevar:ip.hits=30"
SecRule IP:hits "@ge 3" "id:2,phase:1,pass,msg:'hits %{ip.hits}'"
""", clock=clock, store=store)
    for _ in range(2):
        tx, _ = run(waf)
        assert ids(tx) == []
    tx, _ = run(waf)
    assert ids(tx) == [2] and tx.matched[0].msg == "hits 3"
    tx, _ = run(waf, ip="192.0.2.99")
    assert ids(tx) == []
    clock.advance(31)  # the variable expired, the record is still there
    tx, _ = run(waf)
    assert ids(tx) == []
    assert store.load("IP", "192.0.2.1") is not None
    clock.advance(101)  # the record expired
    assert store.load("IP", "192.0.2.1") is None


def test_phases_run_in_order_and_response_variables(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecResponseBodyAccess On
SecRule RESPONSE_STATUS "@eq 200" "id:3,phase:3,pass"
SecRule RESPONSE_BODY "@contains ok" "id:4,phase:4,pass"
SecRule REQUEST_METHOD "@streq GET" "id:5,phase:5,pass"
SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass"
SecRule REQUEST_METHOD "@streq GET" "id:2,phase:2,pass"
""")
    tx, _ = run(waf)
    assert ids(tx) == [1, 2, 3, 4, 5]


def test_allow_skips_the_rest_of_the_request(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule REMOTE_ADDR "@ipMatch 10.0.0.0/8" "id:1,phase:1,allow,nolog"
SecRule REQUEST_URI "@rx ." "id:2,phase:1,deny"
SecRule REQUEST_URI "@rx ." "id:3,phase:2,deny"
""")
    _, it = run(waf, ip="10.1.2.3")
    assert it is None
    _, it = run(waf, ip="192.0.2.1")
    assert it is not None and it.rule_id == 2


def test_request_body_limit_rejects(prims: Primitives) -> None:
    waf = make_waf(prims, "SecRequestBodyAccess On\nSecRequestBodyNoFilesLimit 10\n")
    _, it = run(waf, method="POST", body=b"a=" + b"x" * 20,
                headers=[("Host", "h"), ("Content-Type", "application/x-www-form-urlencoded")])
    assert it == Interruption(0, "deny", 413)


def test_variables_of_the_request_line(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule REQUEST_FILENAME "@streq /a b/c.php" "id:1,phase:1,pass"
SecRule REQUEST_BASENAME "@streq c.php" "id:2,phase:1,pass"
SecRule QUERY_STRING "@streq x=1+2&y=%41" "id:3,phase:1,pass"
SecRule ARGS_GET:x "@streq 1 2" "id:4,phase:1,pass"
SecRule ARGS_GET_NAMES "@streq y" "id:5,phase:1,pass"
SecRule REQUEST_LINE "@beginsWith GET /a%20b/" "id:6,phase:1,pass"
SecRule REQUEST_COOKIES:s "@streq 1" "id:7,phase:1,pass"
SecRule REQUEST_COOKIES_NAMES "@streq t" "id:8,phase:1,pass"
""")
    tx, _ = run(waf, "/a%20b/c.php?x=1+2&y=%41",
                headers=[("Host", "h"), ("Cookie", "s=1; t=2")])
    assert ids(tx) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_secret_values_are_masked_and_values_truncated(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule ARGS "@rx ^x" "id:1,phase:1,pass,logdata:'got %{MATCHED_VAR}'"
""")
    tx, _ = run(waf, "/?password=xsecret123&q=x" + "y" * 1000)
    pw, q = tx.matched
    assert pw.matched_var_name == "ARGS:password"
    assert "secret123" not in pw.matched_var_value + pw.logdata
    assert pw.matched_var_value == "[masked 10 bytes]"
    assert len(q.matched_var_value) == waf.settings.max_value_log
    assert '[id "1"]' in q.log_line()


def test_response_body_streaming_and_limit(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecResponseBodyAccess On
SecResponseBodyLimit 10
SecRule RESPONSE_BODY "@streq 0123456789" "id:1,phase:4,pass"
""")
    tx = waf.new_transaction()
    tx.process_uri("GET", "/", "HTTP/1.1")
    tx.process_request_headers()
    tx.process_request_body()
    tx.process_response_headers(200, [("Content-Type", "text/html; charset=utf-8")])
    assert tx.response_body_wanted()
    tx.append_response_body(b"01234")
    tx.append_response_body(b"56789-and-more")
    tx.process_response_body()
    assert ids(tx) == [1]
    tx2 = waf.new_transaction()
    tx2.process_response_headers(200, [("Content-Type", "image/png")])
    assert not tx2.response_body_wanted()


class _CountingStore(MemoryStore):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.saves = 0

    def save(self, collection: str, key: str, record: Record, ttl: float) -> None:
        self.saves += 1
        super().save(collection, key, record, ttl)


@pytest.mark.parametrize(("uri", "saves"), [
    ("/", 0),  # initcol alone: only bookkeeping changed, nothing is stored
    ("/?same=1", 0),  # a setvar that leaves every value as it was
    ("/?hit=1", 1),
])
def test_a_persistent_collection_is_stored_only_when_a_rule_changed_it(
        prims: Primitives, uri: str, saves: int) -> None:
    clock = FrozenClock()
    store = _CountingStore(clock)
    store.save("IP", "192.0.2.1", Record({"seen": "1"}), 100)
    store.saves = 0
    waf = make_waf(prims, """
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr}"
SecRule ARGS:same "@rx ." "id:2,phase:1,pass,nolog,setvar:ip.seen=1"
SecRule ARGS:hit "@rx ." "id:3,phase:1,pass,nolog,setvar:ip.seen=+1"
""", clock=clock, store=store)
    run(waf, uri)
    assert store.saves == saves


@pytest.mark.parametrize(("uri", "saves"), [
    ("/", 0),  # a new record nothing wrote to
    ("/?same=1", 0),  # a setvar that writes a bookkeeping field with the value it has
    ("/?hit=1", 1),
])
def test_a_new_persistent_record_is_stored_only_when_a_rule_changed_it(
        prims: Primitives, uri: str, saves: int) -> None:
    clock = FrozenClock()
    store = _CountingStore(clock)
    waf = make_waf(prims, """
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr}"
SecRule ARGS:same "@rx ." "id:2,phase:1,pass,nolog,setvar:ip.is_new=1"
SecRule ARGS:hit "@rx ." "id:3,phase:1,pass,nolog,setvar:ip.seen=+1"
SecRule IP:KEY "@streq 192.0.2.1" "id:4,phase:2,pass,log"
""", clock=clock, store=store)
    tx, _ = run(waf, uri)
    assert ids(tx) == [4] and store.saves == saves
    stored = store.load("IP", "192.0.2.1")
    assert (stored.values.get("seen") if stored is not None else None) == \
        ("1" if saves else None)


def test_unique_ids_are_unique_and_a_forked_worker_draws_its_own_prefix(
        prims: Primitives) -> None:
    import os

    waf = make_waf(prims, 'SecRule UNIQUE_ID "@rx ^[0-9a-f]{24}$" "id:1,phase:1,pass,log"')
    ids_seen = {waf.new_transaction().unique_id for _ in range(1000)}
    assert len(ids_seen) == 1000
    tx, _ = run(waf)
    assert ids(tx) == [1]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave without running any cleanup
        os.write(write, waf.new_transaction().unique_id.encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 24 and child[:12] != tx.unique_id[:12]


def test_a_unique_id_once_read_stays_and_a_given_one_is_kept(prims: Primitives) -> None:
    waf = make_waf(prims, 'SecRule UNIQUE_ID "@streq given" "id:1,phase:1,pass,log"')
    tx = waf.new_transaction()
    assert tx.unique_id == tx.unique_id
    given = waf.new_transaction("given")
    given.process_uri("GET", "/", "HTTP/1.1")
    given.process_request_headers()
    assert given.unique_id == "given" and ids(given) == [1]


class _LoadCountingStore(MemoryStore):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.loads: list[str] = []

    def load(self, collection: str, key: str) -> Record | None:
        self.loads.append(collection)
        return super().load(collection, key)


def test_a_collection_is_loaded_only_when_a_rule_uses_it(prims: Primitives) -> None:
    clock = FrozenClock()
    store = _LoadCountingStore(clock)
    store.save("IP", "192.0.2.1", Record({"hits": "4"}), 100)
    waf = make_waf(prims, """
SecAction "id:1,phase:1,pass,nolog,initcol:global=global,initcol:ip=%{remote_addr}"
SecRule IP:hits "@ge 3" "id:2,phase:1,pass,log,msg:'hits %{ip.hits} new %{ip.is_new}'"
""", clock=clock, store=store)
    tx, _ = run(waf)
    assert ids(tx) == [2] and tx.matched[0].msg == "hits 4 new "
    assert store.loads == ["IP"]  # GLOBAL was initialised but never read: never loaded
