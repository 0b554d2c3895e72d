"""What the LOGGING phase keeps of a request, and how the writer thread turns it into log lines.

Full logging used to cost about 60 us of CPU per request (a context dict, a WAF record dict
with its redacted header list, two queue entries), as much as the proxying itself. Now the
request path only takes ``capture(ex, ...)``: one flat tuple of references to values the
exchange already holds (never the request or response body, so a full queue holds no bodies),
and the writer thread renders it with ``RequestRenderer``: the access line through a template
bound to getters over the tuple (only the variables the template uses are computed) and the WAF
line through ``WafLineEncoder`` (pre-serialised header fragments, one ``orjson.dumps``).

The values are those the gateway logged before, one definition each: ``ACCESS_GETTERS`` is the
``$context`` table (``context(c)`` builds the whole dict, for tests and for anyone who wants it)
and ``waf_line`` builds the ``bastion`` object.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from bastion.observe.accesslog import AccessLogFormatter, clf_time
from bastion.observe.logfilter import LoggingFilter
from bastion.observe.metrics import GatewayMetrics
from bastion.observe.wafencode import WafLineEncoder
from bastion.observe.waflog import WafLogBuilder
from bastion.pipeline import Exchange, Headers

__all__ = ["Captured", "RequestRenderer", "access_getters", "capture", "context",
           "observe_values", "webacl_arn"]

log = logging.getLogger("bastion.observe")

Captured = tuple[Any, ...]

# field positions in a Captured tuple
(T_WALL, T_TOTAL, STATUS, RESOURCE, REQUEST_ID, METHOD, RAW_PATH, QUERY, HEADERS, CLIENT_IP,
 HTTP_VERSION, SCHEME, BODY_SIZE, T_INTEGRATION, T_WAF, T_AUTH, WHY, PRINCIPAL, AUTHORIZER,
 IDENTITY, LABELS, TRACE, WAF_LOG, RESPONSE_BYTES, AUTHORIZER_NAME, CACHE) = range(26)

# A header as captured: (lower-case name, name as sent, value), bytes as they came off the wire
# (str only for a Headers object built from text that latin-1 cannot encode).
HeaderTriple = tuple[Any, Any, Any]


def _triples(headers: Headers) -> tuple[HeaderTriple, ...]:
    try:
        return tuple(headers.raw_pairs())
    except UnicodeEncodeError:
        return tuple((n.lower(), n, v) for n, v in headers.items())


def capture(ex: Exchange, status: int, total: float, integration_s: float, waf_s: float,
            auth_s: float, waf_log: dict[str, Any] | None, *,
            with_trace: bool = True) -> Captured:
    """The request path's whole share of logging: values, no formatting.

    Only immutable scalars and tuples of them in the common case, so the garbage collector
    untracks the tuple at its first pass: captures wait in the queue without adding to the
    collector's work (holding the exchange's lists, dicts and objects did, measurably).
    """
    req = ex.request
    route = ex.route
    why = ex.interruption
    return (ex.started_at, total, status, route.resource_path if route is not None else None,
            ex.request_id, req.method, req.raw_path, req.query_string, _triples(req.headers),
            req.client_ip, req.http_version, req.scheme, len(req.body), integration_s, waf_s,
            auth_s, (why.reason, why.response_type, why.message) if why is not None else None,
            ex.principal, ex.authorizer, ex.identity or None,
            tuple(ex.labels) if ex.labels else (),
            tuple((t.stage, t.event) for t in ex.trace[:50]) if ex.trace and with_trace
            else (),
            waf_log, ex.response_bytes, route.route.authorizer if route is not None else None,
            ex.notes.get("cache") if ex.notes else None)


def observe(metrics: GatewayMetrics, c: Captured) -> None:
    """The request's metrics, from its capture (the writer thread calls this in batches)."""
    observe_values(metrics, c[RESOURCE], c[METHOD], c[STATUS], c[T_TOTAL], c[T_INTEGRATION],
                   c[T_WAF], c[AUTHORIZER_NAME], c[T_AUTH], c[WAF_LOG], c[LABELS], c[CACHE])


def observe_values(metrics: GatewayMetrics, resource: str | None, method: str, status: int,
                   total: float, integration_s: float, waf_s: float, authorizer: str | None,
                   auth_s: float, waf_log: Mapping[str, Any] | None, labels: Sequence[str],
                   cache: str | None) -> None:
    """``observe`` from the values themselves: metrics without logs need no capture."""
    if waf_log:
        action = str(waf_log.get("action", "ALLOW"))
        rule = str(waf_log.get("terminating_rule_id", "Default_Action"))
        counted: Sequence[str] = [str(r.get("ruleId")) for r in waf_log.get("non_terminating", ())]
    else:
        action, rule, counted = "ALLOW", "Default_Action", ()
    metrics.observe(
        resource if resource is not None else "UNMATCHED", method, status, action,
        total, integration_s if resource is not None else None, waf_s or None,
        authorizer, auth_s or None, rule, counted, labels,
        None if cache is None else cache == "hit")


def _text(value: Any) -> str:
    return value if type(value) is str else value.decode("latin-1")


def _header(c: Captured, name: str, bname: bytes) -> str | None:
    """First value of header ``name`` (lower case), like ``Headers.get``."""
    for low, _, value in c[HEADERS]:
        if low == bname or low == name:
            return _text(value)
    return None


class _ClfTime:
    """``clf_time`` with a one-second memo: consecutive requests share their second."""

    __slots__ = ("_sec", "_text")

    def __init__(self) -> None:
        self._sec = -1
        self._text = ""

    def __call__(self, wall: float) -> str:
        sec = int(wall)
        if sec != self._sec:
            self._text = clf_time(sec)
            self._sec = sec
        return self._text


def webacl_arn(region: str, account_id: str, api_id: str) -> str:
    """The web ACL ARN of ``$context.webaclArn``, the one the WAF log's webaclId carries."""
    return f"arn:aws:wafv2:{region}:{account_id}:regional/webacl/{api_id}"


def access_getters(stage: str, api_id: str, *, account_id: str = "",
                   region: str = "") -> dict[str, Callable[[Captured], Any]]:
    """The ``$context`` variables the gateway fills, as getters over a capture. The others
    print ``-``; ``identity.apiKey`` always does: an API key never reaches a log."""
    clf = _ClfTime()
    # the web ACL variables are set only when a WAF judged the request, as API Gateway does
    # for a stage with a web ACL
    arn = webacl_arn(region, account_id, api_id)

    def ms(field: int) -> Callable[[Captured], Any]:
        return lambda c: int(c[field] * 1000) if c[field] else None

    def ident(key: str) -> Callable[[Captured], Any]:
        return lambda c: c[IDENTITY].get(key) if c[IDENTITY] else None

    def why(i: int) -> Callable[[Captured], Any]:
        return lambda c: c[WHY][i] if c[WHY] is not None else None

    return {
        "requestId": itemgetter(REQUEST_ID),   # C-level getters where a field is the value
        "extendedRequestId": itemgetter(REQUEST_ID),
        "identity.sourceIp": itemgetter(CLIENT_IP),
        "identity.userAgent": lambda c: _header(c, "user-agent", b"user-agent"),
        "identity.caller": ident("caller"),
        "identity.user": ident("user"),
        "identity.userArn": ident("userArn"),
        "identity.accountId": ident("accountId"),
        "identity.apiKeyId": ident("apiKeyId"),
        "requestTime": lambda c: clf(c[T_WALL]),
        "requestTimeEpoch": lambda c: int(c[T_WALL] * 1000),
        "httpMethod": itemgetter(METHOD),
        "resourcePath": itemgetter(RESOURCE),
        "path": itemgetter(RAW_PATH),
        "status": itemgetter(STATUS),
        "protocol": lambda c: _PROTOCOLS.get(c[HTTP_VERSION]) or f"HTTP/{c[HTTP_VERSION]}",
        "responseLength": itemgetter(RESPONSE_BYTES),
        "stage": lambda c: stage,
        "domainName": lambda c: _header(c, "host", b"host"),
        "apiId": lambda c: api_id,
        "error.message": why(2),
        "error.responseType": why(1),
        "integrationLatency": lambda c: int(c[T_INTEGRATION] * 1000),
        "responseLatency": lambda c: int(c[T_TOTAL] * 1000),
        "authorizer.principalId": itemgetter(PRINCIPAL),
        "authorizer": lambda c: c[AUTHORIZER] or {},
        "waf.status": lambda c: (c[WAF_LOG] or {}).get("response_code_sent"),
        "waf.latency": ms(T_WAF),
        "wafResponseCode": lambda c: None if c[WAF_LOG] is None else
        "WAF_ALLOW" if c[WAF_LOG].get("action", "ALLOW") == "ALLOW" else "WAF_BLOCK",
        "webaclArn": lambda c: arn if c[WAF_LOG] is not None else None,
        "authorizer.latency": ms(T_AUTH),
        "integration.latency": lambda c: int(c[T_INTEGRATION] * 1000),
        "accountId": lambda c: account_id or None,
        "domainPrefix": lambda c: (_header(c, "host", b"host") or "").split(".", 1)[0] or None,
        "error.messageString": lambda c: f'"{c[WHY][2]}"' if c[WHY] is not None
        and c[WHY][2] is not None else None,
    }


def context(c: Captured, stage: str, api_id: str, **kw: str) -> dict[str, Any]:
    """The whole ``$context`` dict of a capture (what ``AccessLogFormatter.format`` takes)."""
    return {k: g(c) for k, g in access_getters(stage, api_id, **kw).items()}


class RequestRenderer:
    """Writer-thread side: a capture -> ``(access line, WAF line)`` as enabled, in bytes."""

    def __init__(self, *, access: AccessLogFormatter | None, waf: WafLogBuilder | None,
                 stage: str, api_id: str, metrics: GatewayMetrics | None = None,
                 observed: GatewayMetrics | None = None,
                 waf_filter: LoggingFilter | None = None, account_id: str = "",
                 region: str = "") -> None:
        """``metrics``: updated from each rendered capture; ``observe`` (the request path's
        fallback) updates ``metrics`` or ``observed``, under one lock with the writer.
        ``waf_filter``: AWS WAF's logging filter; a WAF record it drops renders as ``b""``
        (the writer counts it as filtered, not written)."""
        self._filter = waf_filter
        self.metrics = metrics
        self._observed = metrics if metrics is not None else observed
        self._lock = threading.Lock()
        self.outputs: tuple[str, ...] = tuple(
            kind for kind, on in (("access", access), ("waf", waf)) if on is not None)
        self.getters = access_getters(stage, api_id, account_id=account_id, region=region)
        self._access = access.bind(self.getters) if access else None
        self._waf = WafLineEncoder(waf) if waf is not None else None
        self._errors = 0
        # ``observe_values`` calls held back, for the metric code to run them in a batch
        self._held: deque[tuple[Any, ...]] = deque()
        if self._observed is not None:
            self._observed.add_source(self.fold_held)

    @property
    def waf_encoder(self) -> WafLineEncoder | None:
        return self._waf

    def __call__(self, c: Captured) -> Sequence[bytes | None]:
        out: list[bytes | None] = []
        if self.metrics is not None:
            try:
                with self._lock:
                    observe(self.metrics, c)
            except Exception:
                self._failed()
        if self._access is not None:
            try:
                # the template's escapers neutralise control characters: one line per request
                out.append(self._access(c).encode() + b"\n")
            except Exception:
                self._failed()
                out.append(None)
        if self._waf is not None:
            try:
                out.append(self.waf_line(c) if self._kept(c) else b"")
            except Exception:
                self._failed()
                out.append(None)
        return out

    def many(self, captures: list[Captured]) -> tuple[list[bytes | None], ...]:
        """``self(c)`` for each capture, as one list per output kind: the writer's batch
        path (one lock acquisition for the batch's metrics, no per-record containers).

        One pass doing everything per capture, not a pass per output: a capture was made
        hundreds of requests ago and its first touch here is a cache miss; a second and
        third pass over the batch would miss again."""
        metrics, access, waf = self.metrics, self._access, self._waf
        waf_line = self.waf_line
        kept = self._filter.keeps if self._filter is not None else None
        access_lines: list[bytes | None] = []
        waf_lines: list[bytes | None] = []
        with self._lock:   # taken by the request path only when the writer refuses a capture
            for c in captures:
                if metrics is not None:
                    try:
                        observe(metrics, c)
                    except Exception:
                        self._failed()
                if access is not None:
                    try:
                        access_lines.append(access(c).encode() + b"\n")
                    except Exception:
                        self._failed()
                        access_lines.append(None)
                if waf is not None:
                    try:
                        waf_lines.append(waf_line(c) if kept is None
                                         or kept(c[WAF_LOG], c[LABELS]) else b"")
                    except Exception:
                        self._failed()
                        waf_lines.append(None)
        return tuple(lines for lines, on in ((access_lines, access), (waf_lines, waf))
                     if on is not None)

    def observe(self, c: Captured) -> None:
        """Metrics from the request path (no writer, or its queue was full)."""
        if self._observed is not None:
            with self._lock:
                observe(self._observed, c)

    def observe_values(self, resource: str | None, method: str, status: int, total: float,
                       integration_s: float, waf_s: float, authorizer: str | None,
                       auth_s: float, waf_log: Mapping[str, Any] | None,
                       labels: Sequence[str], cache: str | None) -> None:
        """``observe`` without a capture: the request path when no log line is written.

        Held back and taken in ``HELD`` at a time, when the metric code and its series are
        hot in the CPU's caches: in a loaded server one call per request cost ~6 us where a
        tight loop measures ~1.5 us, and the batch ~3 us (bench/observe.py, "metrics only").
        Every read of the metrics folds what is held first (``GatewayMetrics.add_source``).
        """
        held = self._held
        held.append((resource, method, status, total, integration_s, waf_s, authorizer,
                     auth_s, waf_log, labels, cache))
        if len(held) >= HELD:
            self.fold_held()

    def observe_now(self, *values: Any) -> None:
        """``observe_values`` without holding back: beside the C renderer, which counts the
        usual request at once, so the series take their values in request order (their float
        sums then match the Python path's to the bit)."""
        if self._observed is not None:
            with self._lock:
                observe_values(self._observed, *values)

    def fold_held(self) -> None:
        """Take the held-back observations into the metrics (any thread; popleft is atomic,
        so what the request path appends meanwhile is taken now or by the next fold)."""
        metrics = self._observed
        held = self._held
        if metrics is None or not held:
            return
        with self._lock:
            while held:
                try:
                    observe_values(metrics, *held.popleft())
                except IndexError:   # another thread took the last one
                    break
                except Exception:
                    self._failed()

    def _kept(self, c: Captured) -> bool:
        return self._filter is None or self._filter.keeps(c[WAF_LOG], c[LABELS])

    def _failed(self) -> None:
        self._errors += 1
        if self._errors == 1:   # counted by the writer every time; the traceback once
            log.exception("rendering a log record failed (further failures only counted)")

    def waf_line(self, c: Captured) -> bytes:
        assert self._waf is not None
        resource = c[RESOURCE]
        why = c[WHY]
        facts = (resource if resource is not None else "UNMATCHED", c[STATUS], c[T_TOTAL],
                 c[T_WAF], c[T_AUTH], c[T_INTEGRATION], c[PRINCIPAL], c[AUTHORIZER],
                 why[0] if why is not None else None, why[1] if why is not None else None,
                 c[TRACE])
        version = c[HTTP_VERSION]
        protocol = _PROTOCOLS.get(version)
        if protocol is None:
            protocol = f"HTTP/{version}"
        return self._waf.encode(
            int(c[T_WALL] * 1000), c[CLIENT_IP], c[METHOD], c[RAW_PATH], c[QUERY], c[HEADERS],
            protocol, c[REQUEST_ID], c[SCHEME], _header(c, "host", b"host"),
            c[WAF_LOG] or _NO_FIELDS, c[LABELS], c[BODY_SIZE], facts)


# observations held back before the metric code runs them (RequestRenderer.observe_values)
HELD = 256
# the usual ``HTTP/<version>`` strings, not formatted anew per record
_PROTOCOLS = {v: f"HTTP/{v}" for v in ("1.0", "1.1", "2", "2.0", "3")}
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
