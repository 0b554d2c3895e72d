"""``bastion state check [--uri URI]``: is the state backend reachable and its scripts sound?"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    from bastion.state.check import state_check_main

    return state_check_main(args.uri)


def add_parser(subparsers: Any) -> None:
    state = subparsers.add_parser("state", help="shared state backend tools")
    sub = state.add_subparsers(dest="state_command", required=True)
    check = sub.add_parser("check", help="ping the backend and run each operation once")
    check.add_argument("--uri", default="memory://", help="memory:// or redis://host:port/db")
    check.set_defaults(func=_run)
