"""Lambda handlers used by the gateway tests (imported by reference, like real ones)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

RELEASE = threading.Event()


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Returns the event it got, and facts about the context."""
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "context": {
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "arn": context.invoked_function_arn}})}


def returns(event: dict[str, Any], context: Any) -> Any:
    """Returns whatever the request body (JSON) says to return: drives result validation."""
    return json.loads(event["body"])


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("boom: the handler failed")


def hang(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Blocks until the test releases it (bounded), so the gateway's timeout fires first."""
    RELEASE.wait(timeout=5)
    return {"statusCode": 200, "body": "late"}


async def async_echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"statusCode": 200, "body": json.dumps({"path": event.get("path"),
                                                    "rawPath": event.get("rawPath")})}


async def async_hang(event: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.Event().wait()
    return {"statusCode": 200}


def binary(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import base64

    return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}


def nap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Takes a moment: an in-flight request while the server shuts down."""
    import time

    time.sleep(0.5)
    return {"statusCode": 200, "body": "rested"}
