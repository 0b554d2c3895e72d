"""Authorizer callables referenced as ``tests.auth.authorizers:NAME`` by the custom tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

CALLS: list[dict[str, Any]] = []
RELEASE = threading.Event()


def policy(effect: str, resource: str, sid: str | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    if sid:
        st["Sid"] = sid
    return {"Version": "2012-10-17", "Statement": [st]}


def per_method(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The classic tutorial authorizer: allows exactly event['methodArn'] (the pitfall)."""
    CALLS.append(event)
    token = event.get("authorizationToken")
    if token == "deny":
        return {"principalId": "u", "policyDocument": policy("Deny", event["methodArn"], "NoWay")}
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise ValueError("database down")
    if token == "unauthorized-subclass":
        raise RuntimeError("Unauthorized")
    if token == "unauthorized-lower":
        raise Exception("unauthorized")
    return {"principalId": "user-" + str(token),
            "policyDocument": policy("Allow", event["methodArn"]),
            "context": {"tier": "gold", "n": 3, "flag": True, "nothing": None},
            "usageIdentifierKey": "k" * 20}


def wildcard(event: dict[str, Any]) -> dict[str, Any]:
    """A well-behaved authorizer (one argument): allows every method of the stage."""
    CALLS.append(event)
    base = event["methodArn"].split("/")[0]
    return {"principalId": "w", "policyDocument": policy("Allow", base + "/*")}


async def async_simple(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    await asyncio.sleep(0)
    return {"isAuthorized": event["headers"].get("x-user") == "alice",
            "context": {"groups": ["a", "b"]}}


def malformed(event: dict[str, Any], context: Any) -> Any:
    CALLS.append(event)
    mode = event.get("authorizationToken")
    if mode == "nopolicy":
        return {"principalId": "x"}
    if mode == "badcontext":
        return {"principalId": "x", "policyDocument": policy("Allow", "*"),
                "context": {"nested": {"a": 1}}}
    if mode == "badpolicy":
        return {"principalId": "x", "policyDocument": {"Statement": [{"Effect": "Maybe"}]}}
    return "not an object"


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    RELEASE.wait(5)
    return {"principalId": "x", "policyDocument": policy("Allow", "*")}


async def slow_async(event: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def request_auth(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    return {"principalId": "r", "policyDocument": policy("Allow", "*")}
