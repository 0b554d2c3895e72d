"""Types of the C renderer (``_lines.c``); see ``bastion.observe.native``."""

from collections.abc import Callable, Sequence
from typing import Any

VARIABLE_COUNT: int

class Lines:
    closed: int

    def __init__(self, *, access_vars: Sequence[int] | None, literals: tuple[bytes, ...],
                 escape: int, waf: bool, allow_mid: bytes,
                 plan: Callable[[Any, int], Any], secret_headers: frozenset[bytes],
                 max_value_length: int, redact_uri: bool, redact_method: bool,
                 query: Callable[[str], str], keeps: Callable[..., bool] | None, stage: str,
                 api_id: str, account_id: str, webacl_arn: str, max_bytes: int,
                 wake_bytes: int, wake: Callable[[], None] | None,
                 metrics: tuple[Any, ...] | None = ...) -> None: ...
    def render(self, ex: Any, status: int, total: float, integration_s: float, waf_s: float,
               auth_s: float, waf_log: dict[str, Any] | None, with_trace: bool, /) -> int: ...
    def run(self, ex: Any, /) -> None: ...
    def bind_stage(self, level: int, finish: Callable[..., None],
                   python_run: Callable[[Any], None], /) -> None: ...
    def add(self, wall: float, lines: Sequence[bytes | None], /) -> bool: ...
    def take(self) -> list[tuple[int, int, bytes, int]]: ...
    def stats(self) -> tuple[int, int, int, int, int, int]: ...
    def close(self) -> None: ...
