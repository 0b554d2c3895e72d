from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.waf.seclang import bodies
from bastion.waf.seclang.registry import Primitives

from .conftest import make_waf
from .test_engine import ids, run


def test_urlencoded_decoding_keeps_bad_escapes() -> None:
    pairs, bad = bodies.parse_urlencoded("a=1+2&b=%41%zz&c&=v&&d=%")
    assert pairs == [("a", "1 2"), ("b", "A%zz"), ("c", ""), ("", "v"), ("d", "%")]
    assert bad
    with pytest.raises(bodies.BodyError):
        bodies.parse_urlencoded("a=1&" * 5, max_args=3)


def test_json_names_follow_modsecurity_v2() -> None:
    doc = '{"a": {"b": 1, "c": [true, null, "x"]}, "d": "\\u00e9", "e": [[1]]}'
    assert bodies.parse_json(doc) == [
        ("a.b", "1"), ("a.c.c", "true"), ("a.c.c", ""), ("a.c.c", "x"),
        ("d", "\xc3\xa9"), ("e.e.e", "1")]
    assert bodies.parse_json("[1, 2]") == [("array.array", "1"), ("array.array", "2")]
    assert bodies.parse_json('{"a": [1, {"b": 2}], "c": 3}') == [
        ("a.a", "1"), ("a.a.b", "2"), ("c", "3")]
    assert bodies.parse_json("5") == [("", "5")]
    with pytest.raises(bodies.BodyError):
        bodies.parse_json("{bad")
    with pytest.raises(bodies.BodyError):
        bodies.parse_json("[" * 100 + "]" * 100, max_depth=10)


def test_xml_root_text_and_attributes() -> None:
    doc = bodies.parse_xml('<?xml version="1.0"?><r a="1"><x b="2">hi</x> there</r>')
    assert doc.text == "hi there" and doc.attributes == ["1", "2"]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"""


@pytest.mark.parametrize("doc", [BOMB, EXTERNAL])
def test_xml_entities_are_refused(doc: str) -> None:
    with pytest.raises(bodies.BodyError):
        bodies.parse_xml(doc)


def test_multipart_strict_flags() -> None:
    ct = "multipart/form-data; boundary=XyZ"
    good = ('--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
            '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="x.php"\r\n'
            'Content-Type: text/plain\r\n\r\n<?php\r\n--XyZ--\r\n')
    r = bodies.parse_multipart(good, ct)
    assert r.args == [("a", "1")] and r.files == [("f", "x.php")]
    assert r.part_headers[-1] == ("f", "Content-Type: text/plain")
    assert r.error is None and not r.flags["STRICT_ERROR"]
    lf = good.replace("\r\n", "\n")
    r = bodies.parse_multipart(lf, ct)
    assert r.flags["LF_LINE"] and r.flags["STRICT_ERROR"] and r.args == [("a", "1")]
    r = bodies.parse_multipart("junk\r\n" + good + "more", ct)
    assert r.flags["DATA_BEFORE"] and r.flags["DATA_AFTER"]
    r = bodies.parse_multipart(good, 'multipart/form-data; boundary="XyZ"')
    assert r.flags["BOUNDARY_QUOTED"] and r.args == [("a", "1")]
    r = bodies.parse_multipart(good.replace('name="a"', "name=a'"), ct)
    assert r.flags["INVALID_QUOTING"]
    r = bodies.parse_multipart(good[: good.rindex("--XyZ--")], ct)
    assert r.error is not None and r.flags["STRICT_ERROR"]
    r = bodies.parse_multipart(good, "multipart/form-data; boundary=a; boundary=b")
    assert r.error is not None
    r = bodies.parse_multipart(good, ct, max_files=0)
    assert r.flags["FILE_LIMIT_EXCEEDED"] and r.flags["STRICT_ERROR"] and r.files == []


def test_body_processors_through_the_engine(prims: Primitives) -> None:
    waf = make_waf(prims, r"""
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\+|/)|text/)xml" \
     "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "application/json" \
     "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,pass,msg:'%{reqbody_error_msg}'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,pass"
SecRule ARGS:user.name "@streq bob" "id:1,phase:2,pass"
SecRule XML:/* "@contains hello" "id:2,phase:2,pass"
SecRule XML://@* "@streq evil" "id:3,phase:2,pass"
SecRule REQUEST_BODY "@contains hello" "id:4,phase:2,pass"
SecRule FILES "@endsWith .php" "id:5,phase:2,pass"
SecRule ARGS_POST:a "@streq 1" "id:6,phase:2,pass"
""")
    def post(ct: str, body: bytes) -> list[int]:
        tx, _ = run(waf, method="POST", body=body,
                    headers=[("Host", "h"), ("Content-Type", ct)])
        return ids(tx)

    assert post("application/json", b'{"user": {"name": "bob"}}') == [1]
    assert post("application/xml", b'<a k="evil">hello</a>') == [2, 3]
    assert post("application/xml", BOMB.encode()) == [200002]
    assert post("application/xml", EXTERNAL.encode()) == [200002]
    assert post("application/json", b"{nope") == [200002]
    assert post("application/x-www-form-urlencoded", b"a=1&b=hello") == [4, 6]
    mp = (b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
          b'--B\r\nContent-Disposition: form-data; name="f"; filename="s.php"\r\n\r\nx\r\n'
          b"--B--\r\n")
    assert post("multipart/form-data; boundary=B", mp) == [5, 6]
    assert post("multipart/form-data; boundary=B", mp.replace(b"\r\n", b"\n")) == [
        200003, 5, 6]


def _reference_json_args(doc: object) -> list[tuple[str, str]]:
    """ModSecurity v2's JSON argument names, written plainly (one call per node)."""
    out: list[tuple[str, str]] = []

    def scalar(v: object) -> str:
        if v is True:
            return "true"
        if v is False:
            return "false"
        if v is None:
            return ""
        if isinstance(v, str):
            return v.encode("utf-8", errors="surrogateescape").decode("latin-1")
        return json.dumps(v)

    def walk(node: object, prefix: str | None, key: str | None) -> None:
        if isinstance(node, dict):
            new_prefix = prefix if key is None else (f"{prefix}.{key}" if prefix else key)
            for k, v in node.items():
                walk(v, new_prefix, scalar(k))
        elif isinstance(node, list):
            if key is None and prefix is None:
                new_prefix, new_key = "array", "array"
            else:
                new_prefix = f"{prefix}.{key}" if prefix else (key or "")
                new_key = key or "array"
            for v in node:
                walk(v, new_prefix, new_key)
        else:
            out.append((f"{prefix}.{key}" if prefix else (key or ""), scalar(node)))

    walk(doc, None, None)
    return out


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@given(doc=_JSON)
@settings(max_examples=300, deadline=None)
def test_json_arguments_match_a_plain_walk(doc: object) -> None:
    text = json.dumps(doc, ensure_ascii=False).encode("utf-8").decode("latin-1")
    assert bodies.parse_json(text) == _reference_json_args(doc)


def test_a_request_leaves_no_garbage_only_the_cycle_collector_can_free(
        prims: Primitives) -> None:
    """Reference cycles made per request (a recursive closure in the JSON walk did) are freed
    only by the cyclic collector: young collections then ran every few hundred requests
    and paused the server for milliseconds each (bench.waf's POST p99)."""
    import gc

    waf = make_waf(prims, """
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
    "id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule ARGS "@rx evil" "id:2,phase:2,deny,status:403"
""")
    body = json.dumps({"a": {"b": [1, 2.5, {"c": "x"}]}, "tags": [f"t{i}" for i in range(20)]})
    headers = [("Host", "x"), ("Content-Type", "application/json")]
    run(waf, "/", method="POST", headers=headers, body=body.encode())   # warm caches
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(20):
            tx, it = run(waf, "/?q=1", method="POST", headers=headers, body=body.encode())
            assert it is None and len(tx.args_post) == 23
        del tx
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
