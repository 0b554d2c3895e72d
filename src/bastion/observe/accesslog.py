"""API Gateway access logs: ``$context`` variable templates compiled once, plus the console presets.

A template is a single line mixing literal text and ``$context.<name>`` variables, exactly as in
a stage's ``accessLogSettings.format``. As in API Gateway it must contain ``$context.requestId`` or
``$context.extendedRequestId``, and only ``$context`` variables are allowed. ``compile_template``
checks that once and returns an ``AccessLogFormatter`` whose ``format(ctx)`` is a join over
pre-split parts, so the per-request cost is a dict lookup and an escape per variable.

``ctx`` is a plain dict the gateway fills from its Exchange, keyed by the variable name without the
``$context.`` prefix (``"identity.sourceIp"``); nested dicts (``{"identity": {"sourceIp": ...}}``)
work too. A missing or ``None`` value prints ``-`` as API Gateway does. Values are escaped for the
template's syntax (JSON string, XML text, CSV field, or CLF token) and control characters are
always neutralised, so a header value cannot forge a second log line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bastion.errors import ConfigError

__all__ = ["PRESETS", "AccessLogFormatter", "clf_time", "compile_template", "escape_code"]

T = TypeVar("T")

PRESETS: dict[str, str] = {
    "CLF": ('$context.identity.sourceIp $context.identity.caller $context.identity.user '
            '[$context.requestTime] "$context.httpMethod $context.resourcePath '
            '$context.protocol" $context.status $context.responseLength $context.requestId '
            '$context.extendedRequestId'),
    "JSON": ('{ "requestId":"$context.requestId", "extendedRequestId":'
             '"$context.extendedRequestId", "ip": "$context.identity.sourceIp", '
             '"caller":"$context.identity.caller", "user":"$context.identity.user", '
             '"requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod", '
             '"resourcePath":"$context.resourcePath", "status":"$context.status", '
             '"protocol":"$context.protocol", "responseLength":"$context.responseLength" }'),
    "XML": ('<request id="$context.requestId"> <extendedRequestId>$context.extendedRequestId'
            '</extendedRequestId> <ip>$context.identity.sourceIp</ip> <caller>'
            '$context.identity.caller</caller> <user>$context.identity.user</user> <requestTime>'
            '$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> '
            '<resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> '
            '<protocol>$context.protocol</protocol> <responseLength>$context.responseLength'
            '</responseLength> </request>'),
    "CSV": ('$context.identity.sourceIp,$context.identity.caller,$context.identity.user,'
            '$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,'
            '$context.status,$context.responseLength,$context.requestId,'
            '$context.extendedRequestId'),
}

_VAR = re.compile(r"\$context((?:\.[A-Za-z0-9_]+)+)")
_OTHER_VAR = re.compile(r"\$(?!context\.)[A-Za-z]")

# documented $context names usable in access logs (reference §2.1)
KNOWN = frozenset("""
requestId extendedRequestId requestTime requestTimeEpoch httpMethod path resourcePath resourceId
protocol domainName domainPrefix stage apiId accountId customDomain.basePathMatched xrayTraceId
identity.sourceIp identity.userAgent identity.caller identity.user identity.userArn
identity.accountId identity.apiKey identity.apiKeyId identity.principalOrgId
identity.clientCert.clientCertPem identity.clientCert.subjectDN identity.clientCert.issuerDN
identity.clientCert.serialNumber identity.clientCert.validity.notBefore
identity.clientCert.validity.notAfter identity.cognitoIdentityId identity.cognitoIdentityPoolId
identity.cognitoAuthenticationType identity.cognitoAuthenticationProvider
authorizer.principalId authorizer.error authorizer.latency authorizer.integrationLatency
authorizer.integrationStatus authorizer.status authorizer.requestId
authenticate.error authenticate.latency authenticate.status
authorize.error authorize.latency authorize.status
waf.error waf.latency waf.status wafResponseCode webaclArn
integration.error integration.integrationStatus integration.latency integration.requestId
integration.status integrationLatency integrationStatus integrationErrorMessage
awsEndpointRequestId status responseLength responseLatency
error.message error.messageString error.responseType error.validationErrorString
""".split())
_OPEN_PREFIXES = ("authorizer.", "bastion.")   # authorizer.<property>, authorizer.claims.<x>

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(epoch: float) -> str:
    """``dd/MMM/yyyy:HH:mm:ss +0000``: API Gateway's ``$context.requestTime`` (always UTC)."""
    t = time.gmtime(epoch)
    return (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


_CTRL = {i: f"\\u{i:04x}" for i in range(32)} | {127: "\\u007f"}


def _plain(s: str) -> str:
    return s if s.isprintable() else s.translate(_CTRL)


def _json(s: str) -> str:
    if s.isprintable() and '"' not in s and "\\" not in s:
        return s
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return s if s.isprintable() else s.translate(_CTRL)


def _xml(s: str) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _plain(s)


def _csv(s: str) -> str:
    s = _plain(s)
    if any(c in s for c in ',"'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _clf(s: str) -> str:
    if s.isprintable() and '"' not in s:
        return s
    return _plain(s.replace('"', '\\"'))


def _syntax(template: str) -> Callable[[str], str]:
    t = template.lstrip()
    if t.startswith("{"):
        return _json
    if t.startswith("<"):
        return _xml
    if "," in template and " " not in template.replace(", ", ","):
        return _csv
    return _clf


def escape_code(formatter: AccessLogFormatter) -> int:
    """The template's syntax as ``_lines.c`` numbers it: JSON, XML, CSV, CLF."""
    return (_json, _xml, _csv, _clf).index(formatter._escape)


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class AccessLogFormatter:
    """A compiled template: ``format(ctx) -> str`` (one line, no newline).

    Compiled to a ``%``-format string with one ``%s`` per variable, so formatting is one lookup
    and one escape per variable plus a single C-level string build.
    """

    __slots__ = ("_escape", "_fmt", "_literals", "_vars", "template", "variables")

    def __init__(self, template: str, parts: list[str | tuple[str, tuple[str, ...]]],
                 escape: Callable[[str], str]) -> None:
        self.template = template
        self._escape = escape
        self._vars = tuple(p for p in parts if isinstance(p, tuple))
        self._fmt = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in parts)
        self.variables = tuple(p[0] for p in self._vars)
        # the text before each variable and after the last (for the C renderer)
        literals = [""]
        for p in parts:
            if isinstance(p, str):
                literals[-1] += p
            else:
                literals.append("")
        self._literals = tuple(literals)

    def parts(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The variables in order: ``(name, name split at dots)``."""
        return self._vars

    def literals(self) -> tuple[str, ...]:
        """The text around the variables: one more than ``parts()``, literal ``%`` as is."""
        return self._literals

    def format(self, ctx: Mapping[str, Any]) -> str:
        esc = self._escape
        get = ctx.get
        vals = []
        for key, path in self._vars:
            value = get(key, _MISSING)
            if value is _MISSING:
                value = _nested(ctx, path)
                if value is None and key == "requestTime":
                    epoch = get("requestTimeEpoch")
                    value = clf_time(epoch / 1000) if epoch is not None else None
            vals.append(esc(value if type(value) is str and value else _text(value)))
        return self._fmt % tuple(vals)

    def bind(self, getters: Mapping[str, Callable[[T], Any]]) -> Callable[[T], str]:
        """Compile against value getters instead of a context dict, computing only the
        variables the template uses: ``bind(getters)(x) == format({k: g(x) for k, g in
        getters.items()})``, nested names (``authorizer.claims.sub``) and the
        ``requestTime`` fallback included."""
        fns: list[Callable[[T], Any]] = []
        for key, path in self._vars:
            g = getters.get(key)
            fns.append(g if g is not None else _nested_getter(getters, key, path))
        esc, fmt, text, plan = self._escape, self._fmt, _text, tuple(fns)
        # Escaping costs ~0.2 us a string; most values repeat from request to request (client
        # address, method, route, protocol, the second's timestamp) and a request id is often
        # printed twice (requestId, extendedRequestId), so escaped strings are remembered.
        # Bounded: cleared when full (unique values like request ids fill it steadily).
        memo: dict[str, str] = {}
        remember = memo.get

        def render(x: T) -> str:
            vals = []
            for g in plan:
                v = g(x)
                t = type(v)
                if t is str:
                    e = remember(v)
                    if e is None:
                        if len(memo) >= _MEMO_MAX:
                            memo.clear()
                        e = memo[v] = esc(v) if v else "-"
                    vals.append(e)
                elif v is None:
                    vals.append("-")
                elif t is int:   # digits need no escaping in any syntax
                    vals.append(str(v))
                else:
                    vals.append(esc(text(v)))
            return fmt % tuple(vals)
        return render

    def __repr__(self) -> str:
        return f"AccessLogFormatter({self.template[:60]!r})"


def _none(x: Any) -> None:
    return None


def _nested_getter(getters: Mapping[str, Callable[[T], Any]], key: str,
                   path: tuple[str, ...]) -> Callable[[T], Any]:
    """What ``format`` does for a name missing from the context dict, as a getter."""
    head = getters.get(path[0])
    if head is None or len(path) == 1:
        epoch = getters.get("requestTimeEpoch")
        if key == "requestTime" and epoch is not None:
            def request_time(x: T) -> Any:
                e = epoch(x)
                return clf_time(e / 1000) if e is not None else None
            return request_time
        return _none
    rest = path[1:]

    def nested(x: T) -> Any:
        return _nested(head(x), rest)
    return nested


_MISSING = object()
_MEMO_MAX = 4096   # escaped strings a bound template remembers


def _nested(ctx: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = ctx
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def compile_template(template: str) -> AccessLogFormatter:
    """Compile a ``$context`` template or a preset name (CLF, JSON, XML, CSV)."""
    template = PRESETS.get(template.upper(), template) if template.isalpha() else template
    if "\n" in template or "\r" in template:
        raise ConfigError("access log format must be a single line", key="accessLogSettings")
    if m := _OTHER_VAR.search(template):
        raise ConfigError(f"only $context variables are allowed in access logs "
                          f"(found {template[m.start():m.start() + 20]!r})",
                          key="accessLogSettings.format")
    parts: list[str | tuple[str, tuple[str, ...]]] = []
    pos = 0
    names = set()
    for m in _VAR.finditer(template):
        name = m.group(1)[1:]
        if name not in KNOWN and not name.startswith(_OPEN_PREFIXES):
            raise ConfigError(f"unknown variable $context.{name}", key="accessLogSettings.format")
        if m.start() > pos:
            parts.append(template[pos:m.start()])
        parts.append((name, tuple(name.split("."))))
        names.add(name)
        pos = m.end()
    if pos < len(template):
        parts.append(template[pos:])
    if not names & {"requestId", "extendedRequestId"}:
        raise ConfigError("access log format must include $context.requestId or "
                          "$context.extendedRequestId", key="accessLogSettings.format")
    return AccessLogFormatter(template, parts, _syntax(template))
