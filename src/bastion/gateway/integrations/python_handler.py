"""AWS Lambda Python handlers, run unchanged: ``handler(event, context)``, sync or async.

Sync handlers run on a bounded thread pool so they never block the event loop; async handlers
run on the loop. A handler that raises or returns a malformed result is API Gateway's 502
``Internal server error``; one that runs past its timeout is 504 ``Endpoint request timed out``.
A thread cannot be killed, so a timed-out sync handler finishes in the background while the
client already has its 504; the pool's size bounds how many can pile up.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bastion.errors import ConfigError, HandlerError
from bastion.gateway.integrations.events import (
    EventContext,
    accepts_binary,
    build_v1,
    build_v2,
)
from bastion.gateway.integrations.results import parse_v1, parse_v2
from bastion.pipeline import Exchange, Interruption, Response

__all__ = ["LambdaContext", "PythonHandler", "load_handler"]

log = logging.getLogger("bastion.integration")

_EXECUTOR: ThreadPoolExecutor | None = None
_POOL_SIZE = 32


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="handler")
    return _EXECUTOR


TIMEOUT = Interruption("INTEGRATION_TIMEOUT", message="Endpoint request timed out", status=504,
                       error_type="InternalServerErrorException", source="integration")
FAILURE = Interruption("INTEGRATION_FAILURE", message="Internal server error", status=502,
                       error_type="InternalServerErrorException", source="integration")


def load_handler(ref: str, *, file: str | None = None,
                 key: str | None = None) -> Callable[..., Any]:
    """Import ``package.module:function`` once, at load time."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is a config error
        raise ConfigError(f"cannot import handler module {module_name!r}: {exc}", file=file,
                          key=key) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"{ref!r}: module has no callable {attr!r}", file=file, key=key)
    return fn  # type: ignore[no-any-return]


class LambdaContext:
    """The ``context`` argument, with the attributes Lambda's Python runtime provides."""

    __slots__ = ("_deadline", "aws_request_id", "client_context", "function_name",
                 "function_version", "identity", "invoked_function_arn", "log_group_name",
                 "log_stream_name", "memory_limit_in_mb")

    def __init__(self, *, function_name: str, request_id: str, region: str, account_id: str,
                 timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account_id}:function:{function_name}")
        self.memory_limit_in_mb = "128"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bastion"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class PythonHandler:
    """An ``aws_proxy`` integration backed by an in-process Python function."""

    kind = "aws_proxy"

    def __init__(self, fn: Callable[..., Any], *, name: str, ctx: EventContext, region: str,
                 payload_version: str, timeout_s: float) -> None:
        self.fn = fn
        self.name = name
        self.ctx = ctx
        self.region = region
        self.v2 = payload_version == "2.0"
        self.timeout_s = timeout_s
        self.is_async = inspect.iscoroutinefunction(fn)

    async def invoke(self, ex: Exchange) -> Response | Interruption:
        event = build_v2(ex, self.ctx) if self.v2 else build_v1(ex, self.ctx)
        context = LambdaContext(function_name=self.name, request_id=ex.request_id,
                                region=self.region, account_id=self.ctx.account_id,
                                timeout_s=self.timeout_s)
        try:
            if self.is_async:
                result = await asyncio.wait_for(self.fn(event, context), self.timeout_s)
            else:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(
                    loop.run_in_executor(_executor(), self.fn, event, context), self.timeout_s)
        except TimeoutError:
            ex.note("integration", "timeout", handler=self.name, timeout_s=self.timeout_s)
            return TIMEOUT
        except Exception as exc:  # a crashing handler must not crash us
            log.warning("handler %s raised %s on request %s", self.name,
                        type(exc).__name__, ex.request_id, exc_info=exc)
            ex.note("integration", "handler_error", handler=self.name, error=type(exc).__name__)
            return FAILURE
        try:
            if self.v2:
                return parse_v2(result)
            accept = ex.request.headers.get("accept")
            binary = bool(self.ctx.binary_types) and accepts_binary(accept, self.ctx.binary_types)
            return parse_v1(result, binary=binary)
        except HandlerError as exc:
            log.warning("handler %s returned a malformed result: %s", self.name, exc)
            ex.note("integration", "malformed_result", handler=self.name, error=str(exc))
            return FAILURE
