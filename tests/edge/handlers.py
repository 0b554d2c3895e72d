"""Origin handlers for the edge tests: they echo what the gateway let through."""

from __future__ import annotations

import json
from typing import Any


def echo(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({
                "sourceIp": event["requestContext"]["identity"]["sourceIp"],
                "path": event.get("path"), "method": event.get("httpMethod"),
                "query": event.get("queryStringParameters"),
                "body": event.get("body"),
                "host": headers.get("host"),
                "xff": headers.get("x-forwarded-for"),
                "user": (event["requestContext"].get("identity") or {}).get("userArn"),
                "accessKey": (event["requestContext"].get("identity") or {}).get("accessKey"),
                "authorizer": event["requestContext"].get("authorizer"),
            })}
