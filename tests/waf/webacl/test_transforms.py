from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from bastion.waf.webacl.transforms import TRANSFORMS, apply_chain, compile_chain

VECTORS = [
    ("NONE", b"a%20B", b"a%20B"),
    ("COMPRESS_WHITE_SPACE", b"a \t\n\r\f\v\xa0 b", b"a b"),
    ("HTML_ENTITY_DECODE", b"&lt;script&gt;&#x41;&#66;&quot;&amp;&nbsp;", b'<script>AB"&\xa0'),
    ("HTML_ENTITY_DECODE", b"&#x41&#66x", b"ABx"),
    ("LOWERCASE", b"SeLeCt", b"select"),
    ("UPPERCASE", b"SeLeCt", b"SELECT"),
    ("CMD_LINE", b'C:\\"W^IN" /c  ,echo;  (x)', b"c:win/c echo(x)"),
    ("CMD_LINE_WIN", b'p^o"wer"sh^ell', b"powershell"),
    ("CMD_LINE_UNIX", b"c'a't /e\\tc/pa\"ss\"wd", b"cat/etc/passwd"),
    ("CMD_LINE_UNIX", b"cat${IFS}/etc", b"cat/etc"),
    ("URL_DECODE", b"%27%20or+1%3D1%zz%4", b"' or 1=1%zz%4"),
    ("URL_DECODE_UNI", b"%u0027%uff1cscript%3E", b"'<script>"),
    ("BASE64_DECODE", b"PHNjcmlwdD4=", b"<script>"),
    ("BASE64_DECODE", b"PHNjcmlwdD4*junk", b"<script>"),
    ("BASE64_DECODE_EXT", b"PHN.jcm-lwd*D4", b"<script>"),
    ("HEX_DECODE", b"3c7363726970743e", b"<script>"),
    ("HEX_DECODE", b"zz", b"zz"),
    ("MD5", b"abc", hashlib.md5(b"abc").digest()),
    ("SHA256", b"abc", hashlib.sha256(b"abc").digest()),
    ("REPLACE_COMMENTS", b"un/**/ion sel/*x*/ect /* open", b"un ion sel ect  "),
    ("REMOVE_COMMENTS_CHAR", b"a/*b*/c--d#e", b"abcde"),
    ("ESCAPE_SEQ_DECODE", b"\\x41\\n\\101\\q", b"A\nAq"),
    ("SQL_HEX_DECODE", b"select 0x414243", b"select ABC"),
    ("CSS_DECODE", b"\\3c script\\3e \\\"x", b'<script>"x'),
    ("JS_DECODE", b"\\u003cscript\\x3e\\74\\n", b"<script><\n"),
    ("JS_DECODE_EXT", b"\\u{3c}script\\u003e", b"<script>"),
    ("NORMALIZE_PATH", b"/a//b/./c/../d/", b"/a/b/d/"),
    ("NORMALIZE_PATH", b"/../../etc/passwd", b"/etc/passwd"),
    ("NORMALIZE_PATH_WIN", b"\\a\\..\\b\\c", b"/b/c"),
    ("REMOVE_NULLS", b"a\x00b\x00", b"ab"),
    ("REPLACE_NULLS", b"a\x00b", b"a b"),
    ("UTF8_TO_UNICODE", "é<".encode(), b"%u00e9<"),
    ("REMOVE_WHITESPACE", b" a b\tc\n", b"abc"),
    ("TRIM", b" \t a b \n", b"a b"),
    ("TRIM_LEFT", b"  a ", b"a "),
    ("TRIM_RIGHT", b"  a ", b"  a"),
]


@pytest.mark.parametrize(("name", "data", "want"), VECTORS)
def test_transformation(name: str, data: bytes, want: bytes) -> None:
    assert TRANSFORMS[name](data) == want


def test_every_type_in_the_wafv2_model_is_implemented_and_covered() -> None:
    import botocore

    root = Path(botocore.__file__).parent / "data" / "wafv2"
    model = json.loads(gzip.open(next(root.glob("*/service-2.json.gz"))).read())
    enum = set(model["shapes"]["TextTransformationType"]["enum"])
    assert enum == set(TRANSFORMS)
    assert enum == {v[0] for v in VECTORS}


def test_chain_applies_in_priority_order_not_list_order() -> None:
    chain = compile_chain([(5, "LOWERCASE"), (1, "URL_DECODE"), (3, "NONE")])
    assert chain == ("URL_DECODE", "LOWERCASE")
    assert apply_chain(chain, b"%53ELECT") == b"select"
    # the other order gives a different answer: base64 then lowercase vs lowercase then base64
    assert apply_chain(compile_chain([(0, "BASE64_DECODE"), (1, "LOWERCASE")]), b"UEhQ") == b"php"
    assert apply_chain(compile_chain([(0, "LOWERCASE"), (1, "BASE64_DECODE")]), b"UEhQ") != b"php"
