"""normalisePath / normalizePath, normalisePathWin / normalizePathWin.

Description (ModSecurity v2 ``normalize_path_inplace``): collapse ``//``, drop ``./`` self
references, resolve ``dir/../`` back references without climbing above the root of an absolute
path (a relative path keeps its leading ``../``), keep a trailing slash only if there was one.
The Win variants first turn every ``\\`` into ``/``.
Example: ``"/a/./b/../../../etc//passwd"`` -> ``"/etc/passwd"``.
"""

from __future__ import annotations

from bastion.waf.seclang.transformations.registry import register


def _normalize(value: str, win: bool) -> str:
    n = len(value)
    if n == 0:
        return value
    if "/" not in value and not (win and "\\" in value) and value[-1] != ".":
        # no separator: nothing to collapse, and only a final "." or ".." is a reference
        return value
    buf = list(value)
    end = n - 1
    relative = not (buf[0] == "/" or (win and buf[0] == "\\"))
    trailing = buf[end] == "/" or (win and buf[end] == "\\")
    src = dst = 0
    hitroot = False
    done = False
    while not done and src <= end and dst <= end:
        if win:
            if buf[src] == "\\":
                buf[src] = "/"
            if src < end and buf[src + 1] == "\\":
                buf[src + 1] = "/"
        normalize = True
        if src == end:
            done = True
        elif buf[src + 1] != "/":
            normalize = False
        if normalize and not (src != end and buf[src] == "/"):
            if buf[src] == ".":
                if dst > 0 and buf[dst - 1] == ".":
                    if relative and (hitroot or dst - 2 <= 0):
                        hitroot = True
                    else:
                        dst -= 3
                        while dst > 0 and buf[dst] != "/":
                            dst -= 1
                        if dst <= 0:
                            hitroot = True
                            dst = 0
                            if not relative and src == end:
                                dst += 1
                        if done:
                            continue
                        src += 1
                elif dst == 0:
                    if done:
                        continue
                    src += 1
                elif buf[dst - 1] == "/":
                    if done:
                        continue
                    dst -= 1
                    src += 1
            elif dst > 0:
                hitroot = False
        # copy:
        if buf[src] == "/":
            while src < end and (buf[src + 1] == "/" or (win and buf[src + 1] == "\\")):
                src += 1
            if relative and dst == 0:
                src += 1
                continue
        buf[dst] = buf[src]
        dst += 1
        src += 1
    if not trailing and dst > 0 and buf[dst - 1] == "/":
        dst -= 1
    return "".join(buf[:dst])


def normalise_path(value: str) -> str:
    """Normalise a ``/`` path."""
    return _normalize(value, False)


def normalise_path_win(value: str) -> str:
    """Normalise a path where ``\\`` is also a separator."""
    return _normalize(value, True)


register("normalisePath", normalise_path)
register("normalizePath", normalise_path)
register("normalisePathWin", normalise_path_win)
register("normalizePathWin", normalise_path_win)
