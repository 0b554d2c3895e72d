"""``bastion keys create|list|rotate|disable|enable``: manage the hashed API key store.

The key value is printed once, at creation or rotation, and never again (the store keeps only
its HMAC). Every change goes through ``ApiKeyStore``, which calls the audit hook.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bastion.auth.apikeys import ApiKeyStore, AuditHook
from bastion.errors import ConfigError

__all__ = ["add_parser", "run"]

DEFAULT_STORE = "bastion-keys.json"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``keys`` on the CLI's subparsers; returns the ``keys`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "keys", help="manage API keys (hashed at rest)")
    p.add_argument("--store", default=os.environ.get("BASTION_KEYS", DEFAULT_STORE),
                   help="key store file (.json or .yaml; default $BASTION_KEYS or "
                        f"{DEFAULT_STORE})")
    sub = p.add_subparsers(dest="keys_command", required=True)
    c = sub.add_parser("create", help="create a key; prints its value once")
    c.add_argument("--name", required=True)
    c.add_argument("--plan", action="append", default=[], help="usage plan id (repeatable)")
    c.add_argument("--description", default="")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    ls = sub.add_parser("list", help="list keys (never their values)")
    ls.add_argument("--json", action="store_true")
    r = sub.add_parser("rotate", help="replace a key's value; prints the new value once")
    r.add_argument("key_id")
    r.add_argument("--json", action="store_true")
    for verb in ("disable", "enable"):
        v = sub.add_parser(verb, help=f"{verb} a key")
        v.add_argument("key_id")
    a = sub.add_parser("associate", help="set the usage plans of a key")
    a.add_argument("key_id")
    a.add_argument("--plan", action="append", default=[], required=True)
    return p


def _print_secret(rec_id: str, value: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"id": rec_id, "value": value}))
    else:
        print(f"id:    {rec_id}")
        print(f"value: {value}")
        print("This value is shown once; Bastion keeps only its hash.", file=sys.stderr)


def run(args: argparse.Namespace, *, audit: AuditHook | None = None) -> int:
    """Execute ``bastion keys ...``; returns the exit code."""
    try:
        store = ApiKeyStore(args.store, audit=audit)
        cmd = args.keys_command
        if cmd == "create":
            rec, value = store.create(args.name, plans=args.plan, description=args.description)
            _print_secret(rec.id, value, args.json)
        elif cmd == "rotate":
            rec, value = store.rotate(args.key_id)
            _print_secret(rec.id, value, args.json)
        elif cmd == "list":
            rows = [r.public() for r in store.records()]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for row in rows:
                    state = "enabled " if row["enabled"] else "disabled"
                    print(f"{row['id']}  {state}  {row['prefix']:<6} {row['name']}  "
                          f"plans={','.join(row['plans']) or '-'}")
        elif cmd in ("disable", "enable"):
            rec = store.set_enabled(args.key_id, cmd == "enable")
            print(f"{rec.id} {cmd}d")
        elif cmd == "associate":
            rec = store.set_plans(args.key_id, args.plan)
            print(f"{rec.id} plans={','.join(rec.plans)}")
        else:  # pragma: no cover - argparse enforces the choices
            return 2
    except ConfigError as e:
        print(f"error: {e.render()}", file=sys.stderr)
        return 2
    except (KeyError, ValueError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1
    return 0
