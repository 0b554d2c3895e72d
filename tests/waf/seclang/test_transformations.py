"""Transformations beyond the unit vectors: registry, byte-range safety, v2 quirks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.waf.seclang import transformations
from bastion.waf.seclang.transformations.unicode_map import UnicodeMapError, load_unicode_map
from bastion.waf.seclang.transformations.url import make_url_decode_uni
from tests.waf.seclang import reference_ports
from tests.waf.seclang.reference_utf8 import reference_utf8_to_unicode

CRS_AND_V2 = [
    "lowercase", "urlDecode", "urlDecodeUni", "htmlEntityDecode", "jsDecode", "cssDecode",
    "cmdLine", "compressWhitespace", "removeWhitespace", "removeNulls", "replaceNulls",
    "replaceComments", "removeComments", "removeCommentsChar", "normalisePath", "normalizePath",
    "normalisePathWin", "normalizePathWin", "utf8toUnicode", "hexEncode", "hexDecode",
    "base64Decode", "base64DecodeExt", "base64Encode", "sqlHexDecode", "escapeSeqDecode",
    "length", "md5", "sha1", "trim", "trimLeft", "trimRight", "uppercase", "parityEven7bit",
    "parityOdd7bit", "parityZero7bit", "urlEncode",
]

BYTES = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=64)


def test_registry() -> None:
    assert set(CRS_AND_V2) <= set(transformations.names())
    assert "none" not in {n.lower() for n in transformations.names()}
    assert transformations.get("URLDECODEUNI") is transformations.get("urlDecodeUni")
    with pytest.raises(KeyError):
        transformations.get("none")


@pytest.mark.parametrize("name", CRS_AND_V2)
@settings(max_examples=25, deadline=None)
@given(value=BYTES)
def test_outputs_stay_bytes(name: str, value: str) -> None:
    out = transformations.get(name)(value)
    assert isinstance(out, str)
    assert all(ord(c) <= 0xFF for c in out)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("lowercase", "\xc9A", "\xc9a"),  # ASCII-only, like C tolower
        ("uppercase", "\xe9a", "\xe9A"),
        ("urlDecodeUni", "%uff01%u0041%u4e01", "!A\x01"),  # low byte when unmapped
        ("urlDecodeUni", "%u00c0%u00a0%u3002%u2215", "A .\x15"),  # Debian's 20127 map
        ("htmlEntityDecode", "&#x100;&#99999999999999999999;", "\x00\xff"),
        ("utf8toUnicode", "a\x00\xc3", "a"),  # NUL and a truncated lead byte are dropped
        ("utf8toUnicode", "\xc0\x80", "%u0000\xc0"),  # overlong: %u text then the lead byte
        ("sqlHexDecode", "0x414243 0x4", "ABC 0x4"),
        ("sqlHexDecode", "a\x000x41", "a"),
        ("removeComments", "a/*x*/b--c", "ab"),
        ("removeComments", "a/*x*/", "a\x00"),  # v2 copies the C string's NUL terminator
        ("base64Decode", "VGVzdA==junk", "Test"),
        ("base64DecodeExt", "VG Vz\ndA", "Test"),
        ("cmdLine", "C^OMMAND /C DIR\x00rest", "command/c dir"),
        ("normalizePath", "/a/./b/../../../etc//passwd", "/etc/passwd"),
        ("sha1", "", "\xda9\xa3\xee^kK\r2U\xbf\xef\x95`\x18\x90\xaf\xd8\x07\t"),
    ],
)
def test_v2_quirks(name: str, value: str, expected: str) -> None:
    assert transformations.get(name)(value) == expected


def test_url_decode_uni_unicode_map() -> None:
    decode = make_url_decode_uni({0x00C0: 0x41})
    assert decode("%u00c0%u00c1") == "A\xc1"


def test_unicode_map_file(tmp_path: Path) -> None:
    mapping = tmp_path / "unicode.mapping"
    mapping.write_text(
        "(MAC - Roman)\n\n1252  (ANSI - Latin I)\n00c0:41 ff01:21\n\n"
        "20127  (US-ASCII)\n00c0:41 00e9:65 ff01:21\n\n20261  (T.61)\n00c0:58\n"
    )
    table = load_unicode_map(mapping, 20127)
    assert table[0x00C0] == 0x41 and table[0x00E9] == 0x65 and table[0x3002] == 0x2E
    decode = make_url_decode_uni(table)
    assert decode("%u00c0%u00e9%u00e8%u3002%uff01") == "Ae\xe8.!"
    with pytest.raises(UnicodeMapError):
        load_unicode_map(tmp_path / "missing", 20127)


UTF8ISH = st.text(
    alphabet=st.sampled_from([chr(c) for c in range(0x80, 0x100)] + ["\x00", "A", " "]),
    max_size=12,
)


@settings(max_examples=800, deadline=None)
@given(value=UTF8ISH)
def test_utf8_to_unicode_matches_reference_port(value: str) -> None:
    assert transformations.get("utf8toUnicode")(value) == reference_utf8_to_unicode(value)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=12))
def test_utf8_to_unicode_fast_path_matches_reference_port(text: str) -> None:
    value = text.encode("utf-8", "surrogatepass").decode("latin-1")
    assert transformations.get("utf8toUnicode")(value) == reference_utf8_to_unicode(value)


SPECIALS = st.text(
    alphabet=st.sampled_from(list("%uUfF0123456789aAbBxXgG&#;:ltqonsp\\/*-!<>+^\"', \t\n\r\x0b\x0c")
                             + ["\x00", "\xa0", "\xff", "\xe9"]),
    max_size=24,
)
ORACLES = {
    "urlDecode": reference_ports.url_decode,
    "htmlEntityDecode": reference_ports.html_entity_decode,
    "jsDecode": reference_ports.js_decode,
    "cssDecode": reference_ports.css_decode,
    "escapeSeqDecode": reference_ports.escape_seq_decode,
    "replaceComments": reference_ports.replace_comments,
    "removeCommentsChar": reference_ports.remove_comments_char,
    "cmdLine": reference_ports.cmd_line,
    "compressWhitespace": reference_ports.compress_whitespace,
    "sqlHexDecode": reference_ports.sql_hex_decode,
}


@pytest.mark.parametrize("name", sorted(ORACLES))
@settings(max_examples=300, deadline=None)
@given(value=SPECIALS)
def test_fast_versions_match_line_by_line_ports(name: str, value: str) -> None:
    assert transformations.get(name)(value) == ORACLES[name](value)


@settings(max_examples=300, deadline=None)
@given(value=SPECIALS)
def test_url_decode_uni_matches_port_without_map(value: str) -> None:
    assert make_url_decode_uni(None)(value) == reference_ports.url_decode_uni(value)
