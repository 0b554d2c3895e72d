"""The request's two log lines rendered in C on the request path, when the C part is built.

Full logging in Python costs the bare proxy about a fifth of its throughput: a capture tuple,
a queue entry, the writer thread's drain and two encoders, each touching values the proxying
has long evicted from the CPU's caches. ``bastion.observe._lines`` (``_lines.c``, built by
``pip install`` where a C compiler is available) reads the exchange once and appends the
access line and the WAF line to two buffers; the writer thread takes them whole
(``LogWriter.add_source``).

It renders the usual request only and returns False for anything else (an authorizer
context, WAF match details, text that is not plain latin-1/Unicode, an access-log variable it
does not compute), and the Python path renders that request as before. Both paths produce the
same bytes: ``tests/observe/test_native_lines.py`` compares them over generated exchanges.
``BASTION_NATIVE_LOGS=0`` turns the C path off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol

from bastion.observe.accesslog import AccessLogFormatter, escape_code
from bastion.observe.capture import webacl_arn
from bastion.observe.logfilter import LoggingFilter
from bastion.observe.metrics import GatewayMetrics
from bastion.observe.wafencode import WafLineEncoder

__all__ = ["LINES", "LINES_AND_METRICS", "VARIABLES", "LineSource", "available",
           "native_lines"]

# what ``Lines.render`` did: nothing (0: the Python path must), the lines, or metrics too
LINES, LINES_AND_METRICS = 1, 2

_c: ModuleType | None
try:
    from bastion.observe import _lines as _c
except ImportError:   # built without a C compiler: the Python renderer does everything
    _c = None
Lines: Any = _c.Lines if _c is not None else None
VARIABLE_COUNT: int = _c.VARIABLE_COUNT if _c is not None else 0

# the access-log variables the C part computes, by its codes (``_lines.c``, enum V_*)
VARIABLES: Mapping[str, int] = {
    "requestId": 1, "extendedRequestId": 1, "identity.sourceIp": 2, "identity.userAgent": 3,
    "identity.caller": 4, "identity.user": 5, "identity.userArn": 6, "identity.accountId": 7,
    "identity.apiKeyId": 8, "requestTime": 9, "requestTimeEpoch": 10, "httpMethod": 11,
    "resourcePath": 12, "path": 13, "status": 14, "protocol": 15, "responseLength": 16,
    "stage": 17, "domainName": 18, "apiId": 19, "error.message": 20,
    "error.responseType": 21, "integrationLatency": 22, "responseLatency": 23,
    "authorizer.principalId": 24, "waf.status": 25, "waf.latency": 26,
    "wafResponseCode": 27, "webaclArn": 28, "authorizer.latency": 29,
    "integration.latency": 30, "accountId": 31, "domainPrefix": 32,
    "error.messageString": 33,
}
_NONE = 0   # a variable the gateway does not fill: always "-"

# bytes the buffers may hold before lines are dropped (and counted), and the point at which
# the writer thread is woken early rather than at its next interval
MAX_BYTES = 64 * 1024 * 1024
WAKE_BYTES = 1024 * 1024


class LineSource(Protocol):
    """What ``LogWriter`` drains besides its queue: lines already rendered, in bulk."""

    def take(self) -> list[tuple[int, int, bytes, int]]:
        """``(output index, day since the epoch, lines, line count)``, oldest first."""

    def close(self) -> None:
        """Refuse further lines: the writer has stopped."""

    def stats(self) -> tuple[int, int, int, int, int, int]:
        """``(lines rendered, access lines dropped, WAF lines dropped, WAF lines filtered,
        lines that failed to render, lines buffered)``."""


def available() -> bool:
    """Whether the C part is built and not turned off (``BASTION_NATIVE_LOGS=0``)."""
    return Lines is not None and os.environ.get("BASTION_NATIVE_LOGS", "1") != "0"


def _codes(access: AccessLogFormatter, getters: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The C codes of the template's variables, or None when one is not computed in C
    (``authorizer.claims.x`` and the like: the Python path renders those templates)."""
    codes = []
    for key, path in access.parts():
        code = VARIABLES.get(key)
        if code is None:
            if key in getters or (len(path) > 1 and path[0] in getters):
                return None
            code = _NONE
        codes.append(code)
    return tuple(codes)


def native_lines(*, access: AccessLogFormatter | None, waf: WafLineEncoder | None,
                 getters: Mapping[str, Any], stage: str, api_id: str, account_id: str,
                 region: str, waf_filter: LoggingFilter | None,
                 wake: Callable[[], None] | None,
                 metrics: GatewayMetrics | None = None) -> Any | None:
    """A ``Lines`` renderer for this configuration (lines, metrics or both), or None when
    the C part is missing or does not cover the access-log template. ``getters``: the
    Python ``$context`` getters (``capture.access_getters``), to tell unfilled variables from
    uncomputed ones.
    ``metrics``: count the usual request's metrics too (``render`` returns 2 for those),
    into the same series ``GatewayMetrics.observe`` updates."""
    if not available() or (access is None and waf is None and metrics is None):
        return None
    assert VARIABLE_COUNT == max(VARIABLES.values()) + 1, "_lines.c and VARIABLES disagree"
    codes: tuple[int, ...] | None = None
    literals: tuple[bytes, ...] = ()
    escape = 0
    if access is not None:
        codes = _codes(access, getters)
        if codes is None:
            return None
        literals = tuple(s.encode() for s in access.literals())
        escape = escape_code(access)
    red = waf.redactor if waf is not None else None
    return Lines(
        access_vars=codes, literals=literals, escape=escape, waf=waf is not None,
        allow_mid=waf.allow_prefix() if waf is not None else b"",
        plan=waf.plan if waf is not None else _no_plan,
        secret_headers=frozenset(n.encode() for n in red.secret_headers if n.isascii())
        if red is not None else frozenset(),
        max_value_length=red.max_value_length if red is not None else 0,
        redact_uri=bool(red and red.uri_path), redact_method=bool(red and red.method),
        query=red.query if red is not None else str,
        keeps=waf_filter.keeps if waf_filter is not None else None,
        stage=stage, api_id=api_id, account_id=account_id,
        webacl_arn=webacl_arn(region, account_id, api_id),
        max_bytes=MAX_BYTES, wake_bytes=WAKE_BYTES, wake=wake,
        metrics=metrics.native() if metrics is not None else None)


def _no_plan(fields: Any, status: Any) -> None:
    return None
