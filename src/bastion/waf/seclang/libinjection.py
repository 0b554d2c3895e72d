"""libinjection (SQLi and XSS detection) through ctypes.

ModSecurity's ``@detectSQLi``/``@detectXSS`` are libinjection 3.x. No Python wrapper of it is
usable here (the one that installs is GPLv3 and takes ``str`` only), but the Apache-2.0 PyPI
wheel ``libmodsecurity`` bundles a libmodsecurity that exports ``libinjection_sqli`` and
``libinjection_xss``. We load that library and call the two C functions on raw bytes; the
fingerprint is what ModSecurity puts in TX.0. The symbols are internal to libmodsecurity, so
``self_test()`` checks known answers and callers should run it at start-up.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import threading
from pathlib import Path

__all__ = [
    "LibinjectionUnavailable",
    "available",
    "is_sqli",
    "is_xss",
    "library_path",
    "self_test",
]

_PACKAGE = "libmodsecurity"
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_error: str | None = None


class LibinjectionUnavailable(RuntimeError):
    """libinjection could not be loaded (the ``libmodsecurity`` wheel is missing or broken)."""


def library_path() -> Path:
    """Where the bundled libmodsecurity shared library is; raises if it cannot be found."""
    override = os.environ.get("BASTION_LIBINJECTION_LIBRARY")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LibinjectionUnavailable(
            f"libinjection needs the PyPI package {_PACKAGE!r} "
            f"(pip install {_PACKAGE}); it is not installed"
        )
    site = Path(next(iter(spec.submodule_search_locations))).parent
    candidates = sorted(glob.glob(str(site / f"{_PACKAGE}.libs" / "libmodsecurity*.so*")))
    candidates += sorted(glob.glob(str(site / _PACKAGE / "libmodsecurity*.so*")))
    if not candidates:
        raise LibinjectionUnavailable(
            f"the {_PACKAGE!r} package is installed but its bundled libmodsecurity shared "
            f"library was not found under {site}"
        )
    return Path(candidates[0])


def _load() -> ctypes.CDLL:
    global _lib, _error
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        if _error is not None:
            raise LibinjectionUnavailable(_error)
        try:
            lib = ctypes.CDLL(str(library_path()))
            sqli = lib.libinjection_sqli
            xss = lib.libinjection_xss
        except (OSError, AttributeError, LibinjectionUnavailable) as exc:
            _error = f"cannot load libinjection from the {_PACKAGE!r} wheel: {exc}"
            raise LibinjectionUnavailable(_error) from None
        sqli.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        sqli.restype = ctypes.c_int
        xss.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        xss.restype = ctypes.c_int
        _lib = lib
        return lib


def available() -> bool:
    """True when libinjection can be loaded."""
    try:
        _load()
    except LibinjectionUnavailable:
        return False
    return True


def is_sqli(data: bytes) -> tuple[bool, str]:
    """(is SQL injection, fingerprint); the fingerprint is "" when not SQLi."""
    lib = _load()
    fingerprint = ctypes.create_string_buffer(8)
    result = lib.libinjection_sqli(data, len(data), fingerprint)
    if result == 1:
        return True, fingerprint.value.decode("latin-1")
    return False, ""


def is_xss(data: bytes) -> bool:
    """True when libinjection classifies ``data`` as XSS."""
    return int(_load().libinjection_xss(data, len(data))) == 1


_SELF_TEST_SQLI = (
    (b"ascii(substring(version() from 1 for 1))", True, "f(f(f"),
    (b"1' OR '1'='1", True, "s&sos"),
    (b"this is not isqli", False, ""),
)
_SELF_TEST_XSS = ((b'<a href="javascript:alert(1)">)', True), (b"this is not an XSS", False))


def self_test() -> None:
    """Raise ``LibinjectionUnavailable`` unless known payloads give the known answers."""
    for payload, expected, fingerprint in _SELF_TEST_SQLI:
        got = is_sqli(payload)
        if got != (expected, fingerprint):
            raise LibinjectionUnavailable(f"libinjection self-test failed on {payload!r}: {got}")
    for payload, expected_xss in _SELF_TEST_XSS:
        if is_xss(payload) != expected_xss:
            raise LibinjectionUnavailable(f"libinjection XSS self-test failed on {payload!r}")
