"""No request can make the engine hang or blow up: random headers and bodies through the
whole CRS at paranoia 4 finish quickly, never raise, and keep every output bounded."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.waf.seclang.waf import WAF

CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=B",
    "application/json", "application/xml", "text/plain", "multipart/form-data",
]
latin = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(
    uri=st.one_of(latin, st.text(max_size=100)),
    method=st.sampled_from(["GET", "POST", "PUT", "X"]),
    headers=st.lists(st.tuples(st.from_regex(r"[A-Za-z-]{1,20}", fullmatch=True),
                               st.one_of(latin, st.text(max_size=100))), max_size=8),
    ctype=st.sampled_from(CONTENT_TYPES),
    body=st.one_of(st.binary(max_size=4000), latin.map(lambda s: s.encode("latin-1")),
                   st.sampled_from([b'{"a":' * 200, b"<a>" * 300, b"--B\r\n" * 100,
                                    b"a=%" * 500, b"\x00" * 3000])),
)
def test_random_requests_are_bounded(crs_test_waf: WAF, uri: str, method: str,
                                     headers: list[tuple[str, str]], ctype: str,
                                     body: bytes) -> None:
    t0 = time.perf_counter()
    tx = crs_test_waf.new_transaction()
    tx.process_connection("198.51.100.4", 1)
    tx.process_uri(method, "/" + uri, "HTTP/1.1")
    tx.add_request_header("Host", "localhost")
    tx.add_request_header("Content-Type", ctype)
    for k, v in headers:
        tx.add_request_header(k, v)
    tx.process_request_headers()
    tx.process_request_body(body)
    tx.process_response_headers(200, [("Content-Type", "text/html")])
    tx.process_response_body(body)
    tx.process_logging()
    assert time.perf_counter() - t0 < 1.0
    for m in tx.matched:
        assert len(m.matched_var_value) <= crs_test_waf.settings.max_value_log
