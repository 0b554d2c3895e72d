"""Test-only stand-in for ``bastion.waf.seclang.operators`` (the contract of the ops branch)."""

from __future__ import annotations

import ctypes
import glob
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pcre2
from pcre2 import _cy

_DOTALL = 0x20
_DOLLAR_ENDONLY = 0x10
_ALT_BSUX = 0x2


@dataclass(frozen=True)
class OperatorOptions:
    base_dir: Path
    match_limit: int = 1000000


class OperatorTx(Protocol):
    capture: bool

    def expand(self, text: str) -> str: ...

    def set_captures(self, groups: Sequence[str]) -> None: ...


def compile_pcre(pattern: str) -> Any:
    raw = pattern.encode("latin-1")
    code = _cy.compile(raw, _DOTALL | _DOLLAR_ENDONLY, _ALT_BSUX)
    _cy.jit_compile(code)
    return pcre2.Pattern(code, raw, 0, True, None)


class Rx:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        self.param = param
        self.dynamic = "%{" in param
        self.regex_source = param if not self.dynamic else None
        self._re = None if self.dynamic else compile_pcre(param)
        self._cache: dict[str, Any] = {}

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        rx = self._re
        if rx is None:
            pat = tx.expand(self.param)
            rx = self._cache.get(pat)
            if rx is None:
                rx = self._cache[pat] = compile_pcre(pat)
        try:
            m = rx.search(value.encode("latin-1"))
        except pcre2.LibraryError:
            return False
        if m is None:
            return False
        if tx.capture:
            groups = [m.group(0)] + [m.group(i) for i in range(1, min(rx.groups, 9) + 1)]
            tx.set_captures([(g or b"").decode("latin-1") for g in groups])
        return True


class Pm:
    def __init__(self, phrases: list[str]) -> None:
        phrases = [p for p in phrases if p]
        self.phrases = phrases
        alt = "|".join(re.escape(p) for p in sorted(set(p.lower() for p in phrases), key=len,
                                                    reverse=True))
        self._re = re.compile(alt, re.IGNORECASE | re.DOTALL) if alt else None

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        if self._re is None:
            return False
        m = self._re.search(value)
        if m is None:
            return False
        if tx.capture:
            tx.set_captures([m.group(0)])
        return True


def _pm(param: str, opts: OperatorOptions) -> Pm:
    return Pm(param.split())


def _pm_file(param: str, opts: OperatorOptions) -> Pm:
    phrases: list[str] = []
    for name in param.split():
        path = Path(name) if os.path.isabs(name) else opts.base_dir / name
        for line in path.read_bytes().decode("latin-1").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            phrases.append(line)
    return Pm(phrases)


def atoi(s: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", s)
    return int(m.group(1)) if m else 0


class Cmp:
    def __init__(self, param: str, fn: Callable[[str, str], bool]) -> None:
        self.param = param
        self.fn = fn

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        return self.fn(value, tx.expand(self.param))


def _num(fn: Callable[[int, int], bool]) -> Callable[[str, OperatorOptions], Cmp]:
    return lambda p, o: Cmp(p, lambda v, q: fn(atoi(v), atoi(q)))


def _str(fn: Callable[[str, str], bool]) -> Callable[[str, OperatorOptions], Cmp]:
    return lambda p, o: Cmp(p, fn)


class ByteRange:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        ok = [False] * 256
        for part in re.split(r"[\s,]+", param.strip()):
            if not part:
                continue
            lo, dash, hi = part.partition("-")
            for b in range(int(lo), (int(hi) if dash else int(lo)) + 1):
                ok[b] = True
        bad = "".join(re.escape(chr(b)) for b in range(256) if not ok[b])
        self._re = re.compile("[" + bad + "]") if bad else None

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        return self._re is not None and self._re.search(value) is not None


_BADPCT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class UrlEnc:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        pass

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        return "%" in value and _BADPCT.search(value) is not None


class Utf8:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        pass

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        try:
            value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False


_LIB: Any = None


def _lib() -> Any:
    global _LIB
    if _LIB is None:
        import libmodsecurity

        base = Path(libmodsecurity.__file__).parent.parent / "libmodsecurity.libs"
        path = glob.glob(str(base / "libmodsecurity-*.so*"))[0]
        lib = ctypes.CDLL(path)
        lib.libinjection_sqli.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        lib.libinjection_sqli.restype = ctypes.c_int
        lib.libinjection_xss.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.libinjection_xss.restype = ctypes.c_int
        _LIB = lib
    return _LIB


class Sqli:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        pass

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        b = value.encode("latin-1")
        fp = ctypes.create_string_buffer(8)
        if _lib().libinjection_sqli(b, len(b), fp):
            if tx.capture:
                tx.set_captures([fp.value.decode("latin-1")])
            return True
        return False


class Xss:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        pass

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        b = value.encode("latin-1")
        return bool(_lib().libinjection_xss(b, len(b)))


class IpMatch:
    def __init__(self, param: str, opts: OperatorOptions) -> None:
        self.nets = [ipaddress.ip_network(p.strip(), strict=False)
                     for p in param.split(",") if p.strip()]

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self.nets)


class Const:
    def __init__(self, result: bool) -> None:
        self.result = result

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        return self.result


def _contains_word(v: str, p: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(p) + r"(?![A-Za-z0-9_])", v) is not None


_REG: dict[str, Callable[[str, OperatorOptions], Any]] = {
    "rx": Rx,
    "pm": _pm,
    "pmf": _pm_file,
    "pmfromfile": _pm_file,
    "eq": _num(lambda a, b: a == b),
    "ge": _num(lambda a, b: a >= b),
    "gt": _num(lambda a, b: a > b),
    "le": _num(lambda a, b: a <= b),
    "lt": _num(lambda a, b: a < b),
    "streq": _str(lambda v, p: v == p),
    "contains": _str(lambda v, p: p in v),
    "containsword": _str(_contains_word),
    "beginswith": _str(lambda v, p: v.startswith(p)),
    "endswith": _str(lambda v, p: v.endswith(p)),
    "within": _str(lambda v, p: v in p),
    "strmatch": _str(lambda v, p: p in v),
    "validatebyterange": ByteRange,
    "validateurlencoding": UrlEnc,
    "validateutf8encoding": Utf8,
    "detectsqli": Sqli,
    "detectxss": Xss,
    "ipmatch": IpMatch,
    "unconditionalmatch": lambda p, o: Const(True),
    "nomatch": lambda p, o: Const(False),
    "geolookup": lambda p, o: Const(False),
    "rbl": lambda p, o: Const(False),
}


def get(name: str) -> Callable[[str, OperatorOptions], Any]:
    return _REG[name.lower()]
