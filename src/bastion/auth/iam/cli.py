"""``bastion policy simulate``: ask the engine one question and print the decision and why.

Exit codes: 0 allowed, 1 denied (explicitly or implicitly), 2 usage or policy error. Errors are
one clear line on stderr, never a traceback. The lead wires ``add_parser``/``run`` into
``bastion.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from bastion.errors import ConfigError

from .arn import account_of, parse_arn
from .combine import simulate
from .context import RequestContext
from .loader import load_policy_file
from .messages import access_denied_message
from .model import ApiScope

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``policy`` (with its ``simulate`` subcommand) to a ``bastion`` subparsers object."""
    policy: argparse.ArgumentParser = subparsers.add_parser("policy", help="IAM policy tools")
    sub = policy.add_subparsers(dest="policy_command", required=True)
    sim = sub.add_parser(
        "simulate", help="evaluate IAM identity/resource policies for one request",
        description="Evaluate identity policies and an optional resource policy the way API "
                    "Gateway does for an AWS_IAM method (Table A same account, Table B "
                    "cross-account). Exit 0 allow, 1 deny, 2 error.",
    )
    sim.add_argument("--policy", action="append", default=[], metavar="P.json",
                     help="identity policy file (repeat for several)")
    sim.add_argument("--resource-policy", metavar="R.json", help="resource policy file")
    sim.add_argument("--action", required=True, help="e.g. execute-api:Invoke")
    sim.add_argument("--resource", required=True, help="resource ARN")
    sim.add_argument("--principal", metavar="ARN",
                     help="caller ARN (omit for an anonymous caller)")
    sim.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                     help="condition key value (repeat a key for multiple values; KEY= is "
                          "the empty string)")
    sim.add_argument("--no-mask", action="store_true",
                     help="do not mask the account id in the AWS-style message")
    sim.add_argument("--json", action="store_true", help="print the decision as JSON")
    sim.set_defaults(handler=run)
    return policy


class _UsageError(Exception):
    pass


def _parse_context(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _UsageError(f"--context expects KEY=VALUE, got {item!r}")
        out.setdefault(key.strip(), []).append(value)
    return out


def _principal_context(principal: str | None, now: float) -> RequestContext:
    username = ptype = None
    if principal is not None:
        arn = parse_arn(principal)
        if arn is not None and arn.resource.startswith("user/"):
            username, ptype = arn.resource.rsplit("/", 1)[-1], "User"
        elif arn is not None and arn.resource.startswith("assumed-role/"):
            ptype = "AssumedRole"
        elif arn is not None and arn.resource == "root":
            ptype = "Account"
    return RequestContext.for_request(
        now=now, principal_arn=principal, principal_account=account_of(principal),
        principal_type=ptype, username=username,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``policy simulate``; returns the exit code."""
    try:
        context = _principal_context(args.principal, time.time()).with_values(
            _parse_context(args.context))
        res_arn = parse_arn(args.resource)
        if res_arn is None and args.resource != "*":
            raise _UsageError(f"--resource must be an ARN, got {args.resource!r}")
        api = None
        if res_arn is not None and res_arn.service == "execute-api":
            api = ApiScope(res_arn.region, res_arn.account, res_arn.resource.split("/", 1)[0],
                           res_arn.partition)
        identity = [load_policy_file(p, kind="identity") for p in args.policy]
        resource_policy = (load_policy_file(args.resource_policy, kind="resource", api=api)
                           if args.resource_policy else None)
    except _UsageError as exc:
        print(f"bastion policy simulate: error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"bastion policy simulate: policy error: {exc}", file=sys.stderr)
        return 2
    decision = simulate(identity, resource_policy, args.action, args.resource, args.principal,
                        context)
    message = None
    if not decision.allowed:
        message = access_denied_message(args.principal, args.action, args.resource,
                                        explicit=decision.explicit,
                                        mask_account=not args.no_mask)
    if args.json:
        print(json.dumps({
            "decision": decision.outcome.value,
            "reason": decision.reason,
            "statement": str(decision.statement) if decision.statement else None,
            "near_misses": [str(m) for m in decision.near_misses],
            "same_account": decision.same_account,
            "message": message,
        }, indent=2))
    else:
        print(decision.explain())
        if message is not None:
            print(f'  AWS would answer 403: {{"Message": "{message}"}}')
    return 0 if decision.allowed else 1


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m bastion.auth.iam.cli policy simulate ...``)."""
    parser = argparse.ArgumentParser(prog="bastion")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
