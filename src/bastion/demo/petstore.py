"""The PetStore API from AWS's examples, as unchanged Lambda handlers.

An in-memory store per process: enough to show GET, GET by id and POST end to end.
"""

from __future__ import annotations

import json
import threading
from typing import Any

_LOCK = threading.Lock()
_PETS: list[dict[str, Any]] = [
    {"id": 1, "type": "dog", "price": 249.99},
    {"id": 2, "type": "cat", "price": 124.99},
    {"id": 3, "type": "fish", "price": 0.99},
]


def _json(status: int, payload: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(payload)}


def list_pets(event: dict[str, Any], context: Any) -> dict[str, Any]:
    query = event.get("queryStringParameters") or {}
    pets = _PETS
    if "type" in query:
        pets = [p for p in pets if p["type"] == query["type"]]
    return _json(200, pets)


def get_pet(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raw = (event.get("pathParameters") or {}).get("petId", "")
    pet = next((p for p in _PETS if str(p["id"]) == raw), None)
    if pet is None:
        return _json(404, {"message": f"Pet {raw} not found"})
    return _json(200, pet)


def create_pet(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        return _json(400, {"message": "body must be JSON"})
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not isinstance(
            body.get("price"), (int, float)):
        return _json(400, {"message": "a pet needs a 'type' (string) and a 'price' (number)"})
    with _LOCK:
        pet = {"id": max(p["id"] for p in _PETS) + 1, "type": body["type"],
               "price": body["price"]}
        _PETS.append(pet)
    return _json(201, pet)


def my_pets(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Cognito-protected route: the verified claims arrive in requestContext.authorizer."""
    claims = (event.get("requestContext") or {}).get("authorizer", {}).get("claims", {})
    user = claims.get("cognito:username") or claims.get("sub")
    return _json(200, {"user": user, "pets": [p for p in _PETS if p["id"] % 2 == 1]})
