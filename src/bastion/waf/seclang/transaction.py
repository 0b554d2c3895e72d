"""One HTTP exchange through the rules: the integrator's whole contract.

Call, in order: ``process_connection``, ``process_uri``, ``add_request_header`` (repeat),
``process_request_headers`` (phase 1), ``append_request_body`` (repeat),
``process_request_body`` (phase 2), ``process_response_headers`` (phase 3),
``process_response_body`` (phase 4), ``process_logging`` (phase 5). Each ``process_*`` returns
an ``Interruption`` when the engine (mode On) decided to stop, else None; once interrupted,
later phases except logging do nothing. ``matched`` lists the logged rule matches and
``anomaly_scores()`` the CRS scores.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import TYPE_CHECKING

from bastion.waf.seclang import bodies, variables
from bastion.waf.seclang.actions import atoi
from bastion.waf.seclang.collections import MultiMap, Record, VarMap
from bastion.waf.seclang.macro import compile_template
from bastion.waf.seclang.results import Interruption, MatchedRule
from bastion.waf.seclang.rules import Rule, Target, Transformation

if TYPE_CHECKING:
    from bastion.clock import Clock
    from bastion.waf.seclang.screen import Screen
    from bastion.waf.seclang.specialise import Entry, Fold, Layout, Replay
    from bastion.waf.seclang.waf import WAF, LinkPlan

__all__ = ["Transaction"]

_DISRUPT = frozenset({"deny", "drop", "redirect", "proxy"})
#: Variables whose matched value never reaches a log record in clear.
_SECRET_NAME = re.compile(
    r"authorization|cookie|passw|pwd|token|secret|api[-_]?key|session|credential|signature",
    re.IGNORECASE)


_DIGITS = tuple(str(i) for i in range(10))
#: Targets of macros such as %{remote_addr}, built once.
_MACRO_TARGETS: dict[tuple[str, str | None], Target] = {}
#: Values up to this length have their scan results kept across transactions (20,000 of
#: them at most, so ~20 MB).
_SHARED_VALUE_LEN = 1024
#: Scan results kept (shared ones over all groups; a transaction's long values apart).
_MAX_REMEMBERED_SCANS = 20_000
#: Transformation results a transaction keeps (counted as they are added, cleared between
#: phases when over): values are capped below 64 KiB, so this bounds a hostile request too.
_MAX_TFN_ENTRIES = 100_000

_SEVERITY_WEIGHTS = frozenset({"critical_anomaly_score", "error_anomaly_score",
                               "warning_anomaly_score", "notice_anomaly_score"})
# TX key (lower case) -> whether ``anomaly_scores`` reports it, judged once per name
_SCORE_KEYS: dict[str, bool] = {}
_MAX_SCORE_KEYS = 4096


class _Ids:
    """UNIQUE_ID values: a random per-process prefix and a counter (24 hex digits, like
    ``token_hex(12)``, without a system call per transaction); a forked child draws a new
    prefix."""

    prefix = secrets.token_hex(6)
    counter = itertools.count()

    @classmethod
    def reset(cls) -> None:
        cls.prefix = secrets.token_hex(6)
        cls.counter = itertools.count()


os.register_at_fork(after_in_child=_Ids.reset)


def _new_unique_id() -> str:
    return f"{_Ids.prefix}{next(_Ids.counter) & 0xFFFFFFFFFFFF:012x}"


def as_bytes_str(s: str) -> str:
    """Any ``str`` as the engine's byte string: text outside latin-1 becomes its UTF-8 bytes."""
    if s.isascii():
        return s
    try:
        s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8", errors="surrogateescape").decode("latin-1")
    return s


def _macro_getter(name: str, key: str | None) -> Callable[[Transaction], str | None]:
    """How one macro reference is read, chosen once (``_resolve_macro`` decides the same
    per call): TX keys and the scalar variables directly, anything else through it."""
    if name == "TX":
        if key is None:
            return lambda tx: None
        return lambda tx: tx.tx.get(key)
    get = variables.SCALARS.get(name)
    if get is None:
        return lambda tx: tx._resolve_macro(name, key)
    scalar = get

    def read(tx: Transaction) -> str | None:
        # a collection initcol gave this name wins, as in _resolve_macro
        if name in tx._collections or name in tx._pending_cols:
            return tx._resolve_macro(name, key)
        return scalar(tx)
    return read


@lru_cache(maxsize=8192)
def expander(text: str) -> Callable[[Transaction], str]:
    """``text`` with its macros as one function of a transaction (``Transaction.expand``)."""
    return compile_template(text).bind(_macro_getter)


def _mask(value: str) -> str:
    return f"[masked {len(value)} bytes]"


class Transaction:
    """Per-request state and the per-phase rule loop (also the operators' ``OperatorTx``)."""

    # Immutable starting values live on the class (an instance shadows one when it first
    # sets it): a transaction is built per request, and each assignment here costs.
    # connection / request line
    remote_addr: str = ""
    remote_port: int = 0
    server_addr: str = ""
    server_port: int = 0
    server_name: str = ""
    method: str = ""
    protocol: str = ""
    request_line: str = ""
    request_uri: str = ""
    request_uri_raw: str = ""
    request_filename: str = ""
    request_basename: str = ""
    query_string: str = ""
    # collections, bodies
    multipart_last_name: str | None = None
    multipart_last_filename: str | None = None
    _body_len: int = 0
    request_body: str = ""
    body_processor: str | None = None
    force_request_body_variable: bool = False
    reqbody_error: bool = False
    reqbody_error_msg: str = ""
    urlencoded_error: bool = False
    inbound_data_error: bool = False
    xml: bodies.XmlDoc | None = None
    response_status: int | None = None
    response_protocol: str = ""
    _response_body: str = ""
    _response_body_inspected: bool = False
    _resp_len: int = 0
    # matching state
    matched_var: str = ""
    matched_var_name: str = ""
    capture: bool = False
    highest_severity: int = 255
    _rule: Rule | None = None
    #: The screened-in rules of the running phase (``screen``); None: not computed yet.
    _candidates: set[int] | None = None
    interruption: Interruption | None = None
    _allow_request: bool = False

    _unique_id: str | None = None
    _tfn_entries: int = 0  # results kept in _tfn_cache and _tfn_memo together

    @property
    def unique_id(self) -> str:
        """UNIQUE_ID, made when first read (most transactions never read it)."""
        uid = self._unique_id
        if uid is None:
            uid = self._unique_id = _new_unique_id()
        return uid

    def __init__(self, waf: WAF, unique_id: str | None = None) -> None:
        s = waf.settings
        self.waf: WAF = waf
        self.clock: Clock = waf.clock
        self.started: float = self.clock.time()
        self._mono: float = self.clock.monotonic()
        if unique_id:
            self._unique_id = unique_id
        self.engine_mode: str = s.rule_engine
        self.request_body_access: bool = s.request_body_access
        self.request_body_limit: int = s.request_body_limit
        self.response_body_access: bool = s.response_body_access
        # collections
        spec = waf.spec
        #: Whether the phases run the specialised programs (TX starts from their snapshot).
        self._fast: bool = spec is not None
        self.tx: VarMap = spec.snapshot.copy() if spec is not None else VarMap("TX")
        self.tx.written = set() if spec is not None else None
        self._collections: dict[str, VarMap] = {"TX": self.tx}
        self._persist_keys: dict[str, str] = {}
        self._pending_cols: dict[str, str] = {}  # initcol'd, not loaded yet: name -> key
        #: each opened record as it was opened (a new one: when it was made)
        self._persist_baseline: dict[str, VarMap | float] = {}
        self.args_get: MultiMap = MultiMap()
        self.args_post: MultiMap = MultiMap()
        self.request_headers: MultiMap = MultiMap()
        self.cookies: MultiMap = MultiMap()
        self.response_headers: MultiMap = MultiMap()
        self.files: MultiMap = MultiMap()
        self.files_sizes: MultiMap = MultiMap()
        self.multipart_part_headers: MultiMap = MultiMap()
        self.multipart_flags: dict[str, bool] = {}
        # bodies
        self._body_parts: list[bytes] = []
        self._resp_parts: list[bytes] = []
        # matching state
        self.matched_vars: list[tuple[str, str]] = []
        self._removed_ranges: list[tuple[int, int]] = []
        self.removed_tags: list[re.Pattern[str]] = []
        self.removed_msgs: list[re.Pattern[str]] = []
        self._target_exclusions: list[tuple[str, object, Target]] = []
        self._tfn_cache: dict[int, dict[str, str]] = {}
        self._tfn_memo: dict[str, dict[str, str]] = {}
        self._accel_hits: dict[tuple[int, str], frozenset[int]] = {}
        self._unions: dict[tuple[int, int, int], set[int]] = {}
        self._tvals: dict[tuple[int, int], list[tuple[str, list[str]]]] = {}
        self._tvals_by_target: dict[tuple[int, int], list[tuple[str, list[str]]]] = {}
        self._raw_by_target: dict[int, list[tuple[str, str]]] = {}
        self._target_unions: dict[tuple[int, int, int], set[int]] = {}
        self._joined: dict[tuple[int, int], str] = {}
        self._screen_parts: dict[int, AbstractSet[int]] = {}  # for the running phase (screen)
        self._screen: Screen | None = None   # the running phase's screening, if any
        self.matched: list[MatchedRule] = []
        self.matched_ids: list[int] = []
        self._phases_done: set[int] = set()

    # -- OperatorTx -----------------------------------------------------------------------
    def expand(self, text: str) -> str:
        """Macro expansion (``%{tx.x}``, ``%{MATCHED_VAR}``...)."""
        if "%{" not in text:
            return text
        return expander(text)(self)

    def set_captures(self, groups: Sequence[str]) -> None:
        """TX.0..TX.9 from the last capturing match."""
        tx = self.tx
        n = min(len(groups), 10)
        for i in range(n):
            tx.set(_DIGITS[i], groups[i] if groups[i] is not None else "")
        tx.discard(_DIGITS[n:])

    def rules_changed(self) -> None:
        """A ctl removed rules or targets, or changed the engine mode: plan the rest of the
        phase again (which rules to visit); what variables yield is unchanged."""
        self._candidates = None

    def variables_changed(self, names: AbstractSet[str]) -> None:
        """A ctl changed what the variables ``names`` yield (forced REQUEST_BODY...): drop the
        per-phase "any value hit?" answers, and plan the rest of the phase again when its
        screening reads one of them."""
        self._unions.clear()
        self._tvals.clear()
        self._tvals_by_target.clear()
        self._raw_by_target.clear()
        self._target_unions.clear()
        self._joined.clear()
        screen = self._screen
        if screen is None or not screen.volatile.isdisjoint(names):
            self._candidates = None

    def _steps(self, names: tuple[str, ...], impls: tuple[Transformation, ...]
               ) -> list[tuple[dict[str, str], Transformation]]:
        """Each transformation with its results so far, keyed by input: a transformation is
        a pure function, so chains that share a step (most leave an ordinary value
        unchanged) share its results."""
        memo = self._tfn_memo
        steps = []
        for tname, impl in zip(names, impls, strict=True):
            results = memo.get(tname)
            if results is None:
                results = memo[tname] = {}
            steps.append((results, impl))
        return steps

    def _through(self, steps: list[tuple[dict[str, str], Transformation]], value: str) -> str:
        cur = value
        for results, impl in steps:
            nxt = results.get(cur)
            if nxt is None:
                nxt = impl(cur)
                if len(cur) < 65536:
                    results[cur] = nxt
                    self._tfn_entries += 1
            cur = nxt
        return cur

    def transform_chain(self, names: tuple[str, ...], impls: tuple[Transformation, ...],
                        value: str) -> str:
        """``value`` through a transformation chain, each step remembered by its input."""
        return self._through(self._steps(names, impls), value)

    def transform_chain_multi(self, names: tuple[str, ...],
                              impls: tuple[Transformation, ...], value: str) -> list[str]:
        """What a multiMatch operator sees: the value, then each step's result that changed."""
        out = [value]
        cur = value
        for i in range(len(names)):
            nxt = self.transform_chain(names[i:i + 1], impls[i:i + 1], cur)
            if nxt != cur:
                out.append(nxt)
            cur = nxt
        return out

    def accel_scan(self, group: int, value: str) -> frozenset[int]:
        """The Hyperscan group's patterns that hit ``value``: a pure function of the value,
        remembered across transactions for short values (``WAF.scan_memory``) and for this
        transaction for longer ones."""
        if len(value) <= _SHARED_VALUE_LEN:
            waf = self.waf
            shared = waf.scan_memory.get(group)
            if shared is None:
                shared = waf.scan_memory[group] = {}
            hits = shared.get(value)
            if hits is None:
                hits = waf.accel.scan(group, value)
                if waf.scan_remembered >= _MAX_REMEMBERED_SCANS:
                    for m in waf.scan_memory.values():
                        m.clear()
                    waf.scan_remembered = 0
                shared[value] = hits
                waf.scan_remembered += 1
            return hits
        key = (group, value)
        memory = self._accel_hits
        hits = memory.get(key)
        if hits is None:
            hits = self.waf.accel.scan(group, value)
            if len(value) < 65536:
                if len(memory) >= _MAX_REMEMBERED_SCANS:
                    memory.clear()
                memory[key] = hits
        return hits

    def note_pcre_limits_exceeded(self) -> None:
        """@rx gave up on the match limit; like v2, flag it where rules can see it."""
        self.tx.set("MSC_PCRE_LIMITS_EXCEEDED", "1")

    # -- collections ------------------------------------------------------------------------
    def collection(self, name: str) -> VarMap | None:
        name = name.upper()
        coll = self._collections.get(name)
        if coll is None and name in self._pending_cols:
            coll = self._open_collection(name)
        return coll

    def init_collection(self, name: str, key: str) -> None:
        """``initcol``: a persistent record for this transaction, loaded when a rule first
        uses it (a record no rule reads or writes is neither loaded nor stored)."""
        name = name.upper()
        if name in self._collections or name in self._pending_cols:
            return
        self._pending_cols[name] = key

    def _open_collection(self, name: str) -> VarMap:
        key = self._pending_cols.pop(name)
        rec = self.waf.store.load(name, key)
        now = self.clock.time()
        baseline: VarMap | float
        if rec is None:   # the usual case (CRS writes IP only for DoS and reputation rules)
            coll = VarMap.new_record(name, key, now, self.waf.settings.collection_timeout)
            baseline = now   # made again by ``_persist`` if a rule writes to it (few do)
        else:
            coll = VarMap.from_record(name, rec, now)
            coll.delete("IS_NEW")
            coll.set("KEY", key)
            coll.set("TIMEOUT", str(self.waf.settings.collection_timeout))
            coll.set("LAST_UPDATE_TIME", str(int(now)))
            coll.set("UPDATE_COUNTER", str(atoi(coll.get("UPDATE_COUNTER")) + 1))
            baseline = coll.copy()
        self._collections[name] = coll
        self._persist_keys[name] = key
        self._persist_baseline[name] = baseline
        coll.written = set()
        return coll

    def _persist(self) -> None:
        """Store the collections rules changed. Like ModSecurity v2, a collection nothing wrote
        to is not stored again (its bookkeeping fields alone do not make it dirty)."""
        for name, key in self._persist_keys.items():
            coll = self._collections[name]
            if not coll.written:
                continue
            coll.delete("IS_NEW")
            record = coll.to_record()
            base = self._persist_baseline[name]
            if not isinstance(base, VarMap):
                base = VarMap.new_record(name, key, base, self.waf.settings.collection_timeout)
            if _comparable(record) == _comparable(base.to_record()):
                continue
            self.waf.store.save(name, key, record, float(self.waf.settings.collection_timeout))
        self._persist_keys.clear()
        self._persist_baseline.clear()

    # -- helpers used by variables ----------------------------------------------------------
    def tx_matching(self, pattern: re.Pattern[str], literal: str
                    ) -> list[tuple[str, str]] | None:
        """TX's (key, value) pairs whose key ``pattern`` finds (``literal``: text every such
        key contains), found without scanning TX; None when they cannot be.

        TX starts as the load-time snapshot, and ``written`` names every key set or deleted
        since: a key the pattern selects is one of the snapshot's that it selected at load
        (``WAF.snapshot_matching``), or a written one. With more than one found, their order
        in TX decides what a rule sees first, so the caller scans instead (rare: CRS's
        ``TX:/.../`` targets select keys a rule writes per request, usually none)."""
        tx = self.tx
        written = tx.written
        if not self._fast or written is None:
            return None
        at_load = self.waf.snapshot_matching(pattern, literal)
        found: list[tuple[str, str]] = []
        for low in at_load:
            item = tx.get_item(low)
            if item is not None and pattern.search(item[0]) is not None:
                found.append(item)
        for low in written:
            if literal in low and low not in at_load:
                item = tx.get_item(low)
                if item is not None and pattern.search(item[0]) is not None:
                    found.append(item)
        return found if len(found) <= 1 else None

    def multipart_flag(self, name: str) -> str:
        return "1" if self.multipart_flags.get(name) else "0"

    def request_body_var(self) -> str | None:
        if self.body_processor == "URLENCODED" or self.force_request_body_variable:
            return self.request_body
        return None

    def xml_values(self, xpath: str | None) -> list[str]:
        """``XML:/*`` (root text content) and ``XML://@*`` (attribute values) only."""
        if self.xml is None:
            return []
        path = (xpath or "/*").strip()
        if path in ("//@*", "/*//@*", "//*/@*"):
            return list(self.xml.attributes)
        return [self.xml.text]

    def response_body_var(self) -> str | None:
        return self._response_body if self._response_body_inspected else None

    def args_combined_size(self) -> int:
        # every name and value's length, summed in C (a POST has dozens of arguments)
        return sum(map(len, itertools.chain.from_iterable(
            self.args_get.pairs + self.args_post.pairs)))

    def duration_usec(self) -> int:
        return int((self.clock.monotonic() - self._mono) * 1_000_000)

    def full_request(self) -> str:
        head = self.request_line + "\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in self.request_headers)
        return head + "\r\n" + self.request_body

    def rule_metadata(self) -> list[tuple[str, str]]:
        r = self._rule
        if r is None:
            return []
        out = [("id", str(r.id)), ("phase", str(r.phase))]
        for k in ("msg", "logdata", "ver", "rev", "maturity", "accuracy"):
            v = getattr(r, k)
            if v is not None:
                out.append((k, v))
        if r.severity is not None:
            out.append(("severity", str(r.severity)))
        return out

    def _resolve_macro(self, name: str, key: str | None) -> str | None:
        coll = self._collections.get(name)
        if coll is None and name in self._pending_cols:
            coll = self._open_collection(name)
        if coll is not None:  # the common case: %{tx.key}
            return coll.get(key) if key is not None else None
        if name == "MATCHED_VAR":
            return self.matched_var
        if name == "MATCHED_VAR_NAME":
            return self.matched_var_name
        if name == "RULE" and key is not None:
            low = key.lower()
            for k, v in self.rule_metadata():
                if k == low:
                    return v if k not in ("msg", "logdata") else self.expand(v)
            return None
        target = _MACRO_TARGETS.get((name, key))
        if target is None:
            target = Target(name, key)
            if len(_MACRO_TARGETS) < 4096:
                _MACRO_TARGETS[(name, key)] = target
        vals = variables.generate(self, target, [])
        return vals[0][1] if vals else None

    # -- exclusions -------------------------------------------------------------------------
    def remove_ids(self, spec: str) -> None:
        for part in re.split(r"[\s,]+", spec.strip()):
            if not part:
                continue
            lo, dash, hi = part.partition("-")
            try:
                self._removed_ranges.append((int(lo), int(hi) if dash else int(lo)))
            except ValueError:
                continue

    def add_target_exclusion(self, by: str, selector: str, target: Target) -> None:
        sel: object = selector
        if by != "id":
            sel = re.compile(selector)
        self._target_exclusions.append((by, sel, target))

    def _removed(self, rule: Rule) -> bool:
        rid = rule.id
        for lo, hi in self._removed_ranges:
            if lo <= rid <= hi:
                return True
        for rx in self.removed_tags:
            if any(rx.search(t) for t in rule.tags):
                return True
        if rule.msg is not None:
            for rx in self.removed_msgs:
                if rx.search(rule.msg):
                    return True
        return False

    def _exclusions_for(self, starter: Rule) -> list[Target]:
        out: list[Target] = []
        for by, sel, target in self._target_exclusions:
            if by == "id":
                if _id_match(starter.id, str(sel)):
                    out.append(target)
            elif by == "tag":
                if any(sel.search(t) for t in starter.tags):  # type: ignore[attr-defined]
                    out.append(target)
            elif starter.msg is not None and sel.search(starter.msg):  # type: ignore[attr-defined]
                out.append(target)
        return out

    # -- phase API ----------------------------------------------------------------------------
    def process_connection(self, client_ip: str, client_port: int = 0,
                           server_ip: str = "", server_port: int = 0) -> None:
        self.remote_addr = as_bytes_str(client_ip)
        self.remote_port = client_port
        self.server_addr = server_ip
        self.server_port = server_port

    def process_uri(self, method: str, uri: str, protocol: str) -> None:
        """The request line; ``uri`` is raw (percent-escapes kept)."""
        method, uri, protocol = as_bytes_str(method), as_bytes_str(uri), as_bytes_str(protocol)
        self.method = method
        self.protocol = protocol
        self.request_uri_raw = uri
        self.request_line = f"{method} {uri} {protocol}"
        path = uri
        if "://" in path.split("?", 1)[0]:
            rest = path.split("://", 1)[1]
            slash = rest.find("/")
            path = rest[slash:] if slash >= 0 else "/"
        self.request_uri = path
        p, q, query = path.partition("?")
        self.query_string = query.split("#", 1)[0] if q else ""
        # like Apache's r->parsed_uri.path after ap_unescape_url: %XX decoded, "+" kept
        self.request_filename = bodies.percent_decode(p.split("#", 1)[0])
        self.request_basename = self.request_filename.replace("\\", "/").rsplit("/", 1)[-1]
        if self.query_string:
            args, bad = self._parse_args(self.query_string)
            self.urlencoded_error = self.urlencoded_error or bad
            for k, v in args:
                self.args_get.add(k, v)

    def _parse_args(self, text: str) -> tuple[list[tuple[str, str]], bool]:
        try:
            return bodies.parse_urlencoded(text, self.waf.settings.argument_separator,
                                           self.waf.settings.max_args)
        except bodies.BodyError as exc:
            self._body_error(str(exc))
            return [], False

    def add_request_header(self, name: str, value: str) -> None:
        """One request header; values are byte strings (other text is taken as UTF-8)."""
        if not (name.isascii() and value.isascii()):
            name, value = as_bytes_str(name), as_bytes_str(value)
        if len(self.request_headers) >= self.waf.settings.max_headers:
            self.inbound_data_error = True
            return
        self.request_headers.add(name, value)
        low = name.lower()
        if low == "cookie":
            self._parse_cookies(value)
        elif low == "host" and not self.server_name:
            self.server_name = value.split(":", 1)[0]

    def _parse_cookies(self, header: str) -> None:
        for part in header.split(";"):
            part = part.strip()
            if not part:
                continue
            name, eq, value = part.partition("=")
            name = name.strip()
            if not name:
                continue
            if self.waf.settings.cookie_format == 1 and value.startswith('"'):
                value = value.strip('"')
            self.cookies.add(name, value if eq else "")

    def _choose_processor(self) -> None:
        ct = (self.request_headers.first("content-type") or "").lower()
        if ct.startswith("application/x-www-form-urlencoded"):
            self.body_processor = "URLENCODED"
        elif ct.startswith("multipart/form-data"):
            self.body_processor = "MULTIPART"

    def process_request_headers(self) -> Interruption | None:
        self._choose_processor()
        return self._phase(1)

    def append_request_body(self, data: bytes) -> Interruption | None:
        """Buffer body bytes; past the limit either reject (413) or keep only the prefix."""
        if self.interruption is not None:
            return self.interruption
        limit = self.request_body_limit
        if self.body_processor != "MULTIPART":
            limit = min(limit, self.waf.settings.request_body_no_files_limit)
        room = limit - self._body_len
        if len(data) > room:
            if self.waf.settings.request_body_limit_action == "Reject":
                self.inbound_data_error = True
                if self.engine_mode == "On":
                    self.interruption = Interruption(0, "deny", 413)
                    return self.interruption
            data = data[:max(room, 0)]
            self.inbound_data_error = True
        self._body_parts.append(data)
        self._body_len += len(data)
        return None

    def process_request_body(self, data: bytes | None = None) -> Interruption | None:
        if data:
            r = self.append_request_body(data)
            if r is not None:
                return r
        if self.interruption is not None:
            return self.interruption
        if self.request_body_access:
            self.request_body = b"".join(self._body_parts).decode("latin-1")
            if self.request_body:
                self._run_body_processor()
            elif self.body_processor == "MULTIPART" and self.request_headers.get(
                    "content-length"):
                # ModSecurity v2 initialises the multipart parser (boundary checks) even
                # for an empty body that was announced with a Content-Length
                res = bodies.parse_multipart("", self.request_headers.first("content-type")
                                             or "")
                self.multipart_flags = res.flags
                if res.error:
                    self._body_error(res.error)
        return self._phase(2)

    def _body_error(self, msg: str) -> None:
        self.reqbody_error = True
        if not self.reqbody_error_msg:
            self.reqbody_error_msg = msg

    def _run_body_processor(self) -> None:
        body = self.request_body
        proc = self.body_processor
        s = self.waf.settings
        try:
            if proc == "URLENCODED":
                args, bad = bodies.parse_urlencoded(body, s.argument_separator, s.max_args)
                self.urlencoded_error = self.urlencoded_error or bad
                for k, v in args:
                    self.args_post.add(k, v)
            elif proc == "MULTIPART":
                ct = self.request_headers.first("content-type") or ""
                res = bodies.parse_multipart(body, ct, s.max_multipart_parts, s.max_args,
                                             s.max_upload_files)
                for k, v in res.args:
                    self.args_post.add(k, v)
                for k, v in res.files:
                    self.files.add(k, v)
                for k, v in res.file_sizes:
                    self.files_sizes.add(k, v)
                for k, v in res.part_headers:
                    self.multipart_part_headers.add(k, v)
                self.multipart_flags = res.flags
                self.multipart_last_name = res.last_name
                self.multipart_last_filename = res.last_filename
                if res.error:
                    self._body_error(res.error)
            elif proc == "JSON":
                if body:
                    for k, v in bodies.parse_json(body, s.max_json_depth, s.max_args):
                        self.args_post.add(k, v)
            elif proc == "XML":
                self.xml = bodies.parse_xml(body, s.max_xml_depth)
        except bodies.BodyError as exc:
            self._body_error(str(exc))

    def process_response_headers(self, status: int, headers: Sequence[tuple[str, str]] = (),
                                 protocol: str = "HTTP/1.1") -> Interruption | None:
        self.response_status = status
        self.response_protocol = protocol
        for k, v in headers:
            self.response_headers.add(as_bytes_str(k), as_bytes_str(v))
        return self._phase(3)

    def response_body_wanted(self) -> bool:
        """Whether phase 4 inspects the body (access on and a listed MIME type): when False
        the integrator can stream the response without buffering it."""
        ct = (self.response_headers.first("content-type") or "").split(";")[0].strip().lower()
        return self.response_body_access and ct in self.waf.settings.response_body_mime_types

    def append_response_body(self, data: bytes) -> None:
        """Buffer response body bytes; beyond SecResponseBodyLimit only the prefix is kept."""
        room = self.waf.settings.response_body_limit - self._resp_len
        if room > 0 and self.response_body_wanted():
            self._resp_parts.append(data[:room])
            self._resp_len += min(len(data), room)

    def process_response_body(self, data: bytes = b"") -> Interruption | None:
        if data:
            self.append_response_body(data)
        if self.response_body_wanted():
            self._response_body = b"".join(self._resp_parts).decode("latin-1")
            self._response_body_inspected = True
        return self._phase(4)

    def process_logging(self) -> None:
        self._phase(5, logging=True)
        self._persist()

    # -- results ------------------------------------------------------------------------------
    def anomaly_scores(self) -> dict[str, int]:
        """CRS's scores as integers: ``anomaly_score``, ``inbound_/outbound_anomaly_score``,
        the per-paranoia-level sums and the per-class scores (``sql_injection_score``...);
        the severity weights and thresholds are settings, not scores, and are left out."""
        out: dict[str, int] = {}
        kinds = _SCORE_KEYS
        for lk, (_, v) in self.tx.lowered_items():
            score = kinds.get(lk)
            if score is None:   # a key's kind is judged once (TX has ~50 keys, ~20 scores)
                score = (lk.endswith("_score") or "anomaly_score_pl" in lk) \
                    and "threshold" not in lk and lk not in _SEVERITY_WEIGHTS
                if len(kinds) < _MAX_SCORE_KEYS:   # names can come from requests: bounded
                    kinds[lk] = score
            if score:
                out[lk] = 0 if v == "0" else atoi(v)
        return out

    # -- the rule loop --------------------------------------------------------------------------
    def _phase(self, phase: int, *, logging: bool = False) -> Interruption | None:
        if phase in self._phases_done:
            return self.interruption
        if not self._phases_done and self._fast:
            self._check_specialised()
        self._phases_done.add(phase)
        if self.interruption is not None and not logging:
            return self.interruption
        if self.engine_mode == "Off":
            return None
        if self._allow_request and phase in (1, 2):
            return None
        self._unions.clear()
        self._tvals.clear()
        self._tvals_by_target.clear()
        self._raw_by_target.clear()
        self._target_unions.clear()
        self._joined.clear()
        self._candidates = None
        self._screen_parts = {}
        # transformation results are pure functions of the value: keep them for the whole
        # transaction, within a bound (scan hits are bounded where they are kept)
        if self._tfn_entries > _MAX_TFN_ENTRIES:
            self._tfn_cache.clear()
            self._tfn_memo.clear()
            self._tfn_entries = 0
        if self._fast:
            return self._run_program(phase, logging)
        rules = self.waf.phase_rules(phase)
        skip_to: str | None = None
        skip_n = 0
        for rule in rules:
            if rule.marker is not None:
                if skip_to is not None and rule.marker == skip_to:
                    skip_to = None
                continue
            if skip_to is not None:
                continue
            if skip_n > 0:
                skip_n -= 1
                continue
            if self._removed(rule):
                continue
            if self.engine_mode == "Off":
                break
            if not self._eval_rule(rule):
                continue
            if rule.skip_after:
                skip_to = rule.skip_after
            elif rule.skip:
                skip_n = rule.skip
            if self.interruption is not None and not logging:
                return self.interruption
            if self._allow_phase:
                self._allow_phase = False
                break
        return self.interruption

    _allow_phase = False

    def _check_specialised(self) -> None:
        """Before the first phase: exclusions given to this transaction (or an engine turned
        off) may touch a rule folded into the TX snapshot; then run the full rule lists."""
        spec = self.waf.spec
        assert spec is not None
        off = self.engine_mode == "Off"
        if off or self._removed_ranges or self.removed_tags or self.removed_msgs:
            if off or any(self._removed(r) for r in spec.folded):
                self._fast = False
                self.tx = VarMap("TX")
                self._collections["TX"] = self.tx

    def _run_program(self, phase: int, logging: bool) -> Interruption | None:
        """The rule loop over the specialised program (``specialise``): same semantics as
        the full loop in ``_phase``, with folded gates as jumps, visiting only the entries
        value screening left in (``screen``) and, while no rule is removed, only the rules
        outside the ranges jumps always pass over."""
        spec = self.waf.spec
        assert spec is not None
        entries = spec.phases[phase]
        layout = spec.layouts[phase]
        n = len(entries)
        skip_until = 0  # skip:N or skipAfter, as the program index to resume at
        unions = self._unions
        plans = self.waf.plans
        prefilter = not self.waf.verify_accel
        screen = self._screen = self.waf.screens.get(phase) if prefilter else None
        written = self.tx.written
        replays = spec.replays[phase] if written is not None else {}
        memos = spec.memos.get(phase, {}) if written is not None else {}
        folds = spec.folds.get(phase, {}) if written is not None else {}
        order = self._visit_order(layout, screen, n)
        pos = 0
        while pos < len(order):
            idx = order[pos]
            pos += 1
            if idx < skip_until:
                pos = bisect_left(order, skip_until)
                continue
            rule, jump, ukey, pid = entries[idx]
            if rule.marker is not None:
                continue
            if ukey is not None and prefilter:
                # the starter's pattern hit none of its values (exclusions only remove values)
                union = unions.get(ukey)
                if union is None:
                    union = unions[ukey] = self._union_hits(plans[id(rule)], ukey[2])
                if pid not in union:
                    continue
            if (self._removed_ranges or self.removed_tags or self.removed_msgs) \
                    and self._removed(rule):
                continue
            if self.engine_mode == "Off":
                break
            if jump >= 0:
                pos = bisect_left(order, jump)
                continue
            fold = folds.get(idx)
            if fold is not None and not (self._target_exclusions or self._removed_ranges
                                         or self.removed_tags or self.removed_msgs) \
                    and fold.valid(written):  # type: ignore[arg-type]
                # the run's members follow in ``order`` (no rule removed: the live order)
                pos += len(fold.indices) - 1
                self._apply_fold(fold)
                continue
            replay = replays.get(idx)
            memo = memos.get(idx) if replay is None else None
            if replay is not None and not self._target_exclusions \
                    and replay.valid(written):  # type: ignore[arg-type]
                fired = self._replay(rule, replay)
            elif memo is not None and not self._target_exclusions \
                    and memo.valid(written):  # type: ignore[arg-type]
                fired = memo.run(self, rule)
            else:
                fired = self._eval_rule(rule)
            if self._candidates is None:
                # a ctl changed variables or removed rules: plan the rest of the phase again
                order = self._visit_order(layout, screen, n)
                pos = bisect_right(order, idx)
            if not fired:
                continue
            if rule.skip_after:
                skip_until = layout.marker_after(rule.skip_after, idx, n)
            elif rule.skip:
                skip_until = _after_rules(entries, idx, rule.skip)
            if self.interruption is not None and not logging:
                return self.interruption
            if self._allow_phase:
                self._allow_phase = False
                break
        return self.interruption

    def _visit_order(self, layout: Layout, screen: Screen | None, n: int) -> Sequence[int]:
        """Program indices to visit, ascending: the live rules while no rule is removed (else
        every entry), less the screenable rules no value of this request can match."""
        fast = not (
            self._removed_ranges or self.removed_tags or self.removed_msgs)
        if screen is None:
            self._candidates = set()
            return layout.live if fast else range(n)
        cands = self._candidates = screen.candidates(self, self._screen_parts,
                                                     all_rules=not fast)
        if fast:
            base = screen.live_unscreened
            dead = screen.dead
            if not cands:
                return base
            order = [*base, *(cands - dead if dead else cands)]
            order.sort()
            return order
        return sorted((*screen.unscreened, *cands)) if cands else screen.unscreened

    def _apply_fold(self, fold: Fold) -> None:
        """What replaying the fold's members one by one would do (``specialise.Fold``)."""
        self._rule = fold.last
        self.matched_vars = list(fold.matched_vars)
        if fold.matched is not None:
            self.matched_var, self.matched_var_name = fold.matched
        self.tx.put(fold.items)
        if fold.fired:
            self.matched_ids.extend(fold.fired)

    def _replay(self, rule: Rule, replay: Replay) -> bool:
        """What ``_eval_rule`` would do, from the load-time result (``specialise.Replay``)."""
        self._rule = rule
        self.matched_vars = list(replay.matched_vars)
        if replay.matched is not None:
            self.matched_var, self.matched_var_name = replay.matched
        self.tx.put(replay.items)
        if replay.fired:
            self.matched_ids.append(rule.id)
        return replay.fired

    def _eval_rule(self, starter: Rule) -> bool:
        self._rule = starter
        if self.matched_vars:
            self.matched_vars = []
        exclusions = self._exclusions_for(starter) if self._target_exclusions else []
        link: Rule | None = starter
        while link is not None:
            if not self._eval_link(starter, link, exclusions):
                return False
            link = link.chain
        return True

    def _values(self, plan: LinkPlan, exclusions: list[Target]) -> list[tuple[str, str]]:
        if plan.tx_key is not None and not exclusions:
            item = self.tx.get_item(plan.tx_key)
            if plan.tx_count:
                return [("&TX:" + plan.tx_key, "0" if item is None else "1")]
            return [] if item is None else [("TX:" + item[0], item[1])]
        if plan.mm_key is not None and not exclusions:
            mm, low, prefix = plan.mm_key
            return [(prefix + k, v) for k, v in mm(self).lowered(low)]
        if plan.coll_key is not None and not exclusions:
            name, key = plan.coll_key
            coll = self.collection(name)
            item = coll.get_item(key) if coll is not None else None
            return [] if item is None else [(f"{name}:{item[0]}", item[1])]
        negs = plan.negs + exclusions if exclusions else plan.negs
        if len(plan.pos) == 1:
            return variables.generate(self, plan.pos[0], negs)
        out: list[tuple[str, str]] = []
        for t in plan.pos:
            out.extend(variables.generate(self, t, negs))
        return out

    def _transform(self, plan: LinkPlan, value: str) -> list[str]:
        ids = plan.tf_ids
        if not ids:
            return [value]
        cache = self._tfn_cache
        link = plan.link
        multi = link.multi_match
        if not multi:
            done = cache.get(ids[-1])
            if done is not None:
                hit = done.get(value)
                if hit is not None:
                    return [hit]
        impls = link.tfn_impls
        results: list[str] = [value] if multi else []
        cur = value
        small = len(value) < 65536
        for i, key in enumerate(ids):
            bucket = cache.get(key)
            if bucket is None:
                bucket = cache[key] = {}
            nxt = bucket.get(value)
            if nxt is None:
                nxt = impls[i](cur)
                if small:
                    bucket[value] = nxt
                    self._tfn_entries += 1
            if multi and nxt != cur:
                results.append(nxt)
            cur = nxt
        if not multi:
            results.append(cur)
        return results

    def _operate(self, plan: LinkPlan, value: str) -> bool:
        link = plan.link
        op = link.operator
        assert op is not None and op.impl is not None
        ref = plan.accel
        if ref is not None:
            group, pid, exact = ref
            hits = self.accel_scan(group, value)
            if self.waf.verify_accel:
                return self._verify(link, value, pid in hits, exact)
            if pid not in hits:
                return op.negated
            if exact and not link.capture:
                return not op.negated
        if not link.capture:
            return op.impl.evaluate(self, value) != op.negated
        self.capture = True
        try:
            res = op.impl.evaluate(self, value)
        finally:
            self.capture = False
        return res != op.negated

    def _target_tvalues(self, plan: LinkPlan, t: Target, gk: int) -> list[tuple[str, list[str]]]:
        """(name, transformed values) of one stable target of the plan, once per phase."""
        key = (gk, plan.tfkey)
        part = self._tvals_by_target.get(key)
        if part is None:
            raw_vals = self._raw_by_target.get(gk)
            if raw_vals is None:
                raw_vals = self._raw_by_target[gk] = variables.generate(self, t, plan.negs)
            part = self._tvals_by_target[key] = self._transform_all(plan, raw_vals)
        return part

    def _transform_all(self, plan: LinkPlan, raw_vals: list[tuple[str, str]]
                       ) -> list[tuple[str, list[str]]]:
        """``_transform`` of every value (not multiMatch) of one target: a POST's arguments go
        through a few dozen chains, so the per-step caches are looked up once per list."""
        ids = plan.tf_ids
        if not ids or not raw_vals:
            return [(name, [raw]) for name, raw in raw_vals]
        link = plan.link
        if link.multi_match:
            return [(name, self._transform(plan, raw)) for name, raw in raw_vals]
        steps = self._steps(link.transformations, link.tfn_impls)
        through = self._through
        return [(name, [through(steps, value)]) for name, value in raw_vals]

    def _tvalues(self, plan: LinkPlan, exclusions: list[Target]) -> list[tuple[str, list[str]]]:
        """(name, transformed values) of the plan's targets; stable target lists are computed
        once per phase (``LinkPlan.tkey``), from per-target parts shared across links."""
        key = plan.tkey
        if key is not None and not exclusions:
            got = self._tvals.get(key)
            if got is None:
                got = []
                for t, gk in plan.gpos:
                    got.extend(self._target_tvalues(plan, t, gk))
                self._tvals[key] = got
            return got
        return [(name, self._transform(plan, raw)) for name, raw in self._values(plan, exclusions)]

    def _union_hits(self, plan: LinkPlan, group: int) -> set[int]:
        """Every pattern of ``group`` that hits any value of the plan's targets: the union of
        per-target answers, each computed once per phase (a group is one transformation chain
        of the phase, so the target and the chain name it)."""
        union: set[int] = set()
        scan = self.accel_scan
        parts = self._target_unions
        for t, gk in plan.gpos:
            ukey = (gk, plan.tfkey, group)
            part = parts.get(ukey)
            if part is None:
                part = set()
                for _, tvals in self._target_tvalues(plan, t, gk):
                    for value in tvals:
                        hits = scan(group, value)
                        if hits:
                            part |= hits
                parts[ukey] = part
            if part:
                union |= part
        return union

    def _verify(self, link: Rule, value: str, hit: bool, exact: bool) -> bool:
        """Self-check mode: run PCRE2 too and record any disagreement with Hyperscan."""
        op = link.operator
        assert op is not None and op.impl is not None
        self.capture = link.capture
        try:
            matched = op.impl.evaluate(self, value)
        finally:
            self.capture = False
        rid = self._rule.id if self._rule is not None else 0
        self.waf.accel_checks += 1
        if (matched and not hit) or (exact and matched != hit):
            self.waf.accel_mismatches.append((rid, op.param, value[:500]))
        return matched != op.negated

    def _eval_link(self, starter: Rule, link: Rule, exclusions: list[Target]) -> bool:
        last = link.chain is None
        plan = self.waf.plans[id(link)]
        if link.operator is None:
            for effect in plan.effects:
                effect(self)
            if last:
                self._fire(starter)
            return True
        if plan.sig is not None and not exclusions and not self.waf.verify_accel:
            group, pid, _ = plan.accel  # type: ignore[misc]
            ukey = (plan.sig, plan.tfkey, group)
            union = self._unions.get(ukey)
            if union is None:
                union = self._unions[ukey] = self._union_hits(plan, group)
            if pid not in union:
                return False
        values = self._tvalues(plan, exclusions)
        if not values:
            return False
        jkey = plan.tkey
        if plan.phrases is not None and jkey is not None and not exclusions:
            joined = self._joined.get(jkey)
            if joined is None:
                joined = self._joined[jkey] = "\0".join(v for _, tvals in values for v in tvals)
            if not plan.phrases.may_occur(joined):
                return False
        matched = False
        for name, tvals in values:
            for value in tvals:
                if not self._operate(plan, value):
                    continue
                matched = True
                self.matched_var = value
                self.matched_var_name = name
                self.matched_vars.append((name, value))
                for effect in plan.effects:
                    effect(self)
                if last:
                    self._fire(starter)
                    if self.interruption is not None:
                        return True
                break  # multiMatch: one match per value is enough
        return matched

    def _fire(self, starter: Rule) -> None:
        """The whole chain matched for one value: log it and run the disruptive action."""
        self.matched_ids.append(starter.id)
        if starter.severity is not None:
            self.highest_severity = min(self.highest_severity, starter.severity)
        action = starter.effective_disruptive
        if starter.log:
            limit = self.waf.settings.max_value_log
            value = self.matched_var
            logdata = self.expand(starter.logdata) if starter.logdata else ""
            msg = self.expand(starter.msg) if starter.msg else ""
            if _SECRET_NAME.search(self.matched_var_name):
                if value:
                    logdata = logdata.replace(value, _mask(value))
                    msg = msg.replace(value, _mask(value))
                value = _mask(value)
            self.matched.append(MatchedRule(
                id=starter.id, phase=starter.phase, msg=msg[:limit * 2],
                logdata=logdata[:limit * 2],
                matched_var_name=self.matched_var_name,
                matched_var_value=value[:limit],
                severity=starter.severity, tags=starter.tags, disruptive=action,
                file=starter.file, line=starter.line,
            ))
        if self.engine_mode != "On":
            return
        if action in _DISRUPT:
            status = starter.status or (302 if action == "redirect" else 403)
            self.interruption = Interruption(starter.id, action, status,
                                             starter.disruptive_arg or "")
        elif action == "allow":
            arg = (starter.disruptive_arg or "").lower()
            self._allow_phase = True
            if arg != "phase":
                self._allow_request = True


def _after_rules(entries: Sequence[Entry], idx: int, count: int) -> int:
    """The program index just past the ``count`` rules (markers not counted) after ``idx``."""
    i = idx + 1
    while i < len(entries) and count > 0:
        if entries[i][0].marker is None:
            count -= 1
        i += 1
    return i


def _id_match(rid: int, spec: str) -> bool:
    for part in re.split(r"[\s,]+", spec.strip()):
        lo, dash, hi = part.partition("-")
        try:
            if (int(lo) <= rid <= int(hi)) if dash and lo else rid == int(part):
                return True
        except ValueError:
            continue
    return False


_BOOKKEEPING = frozenset({"LAST_UPDATE_TIME", "UPDATE_COUNTER", "IS_NEW"})


def _comparable(record: Record) -> object:
    """A record without the fields every load rewrites: equal means "nothing changed"."""
    return ({k: v for k, v in record.values.items() if k.upper() not in _BOOKKEEPING},
            dict(record.expires))
