"""``bastion waf``: ``test`` (ftw regression YAML through the SecLang engine) and ``import``
(validate an exported WAFv2 Web ACL)."""

from __future__ import annotations

import argparse
from typing import Any

from bastion.waf.seclang import cli as seclang_cli
from bastion.waf.webacl import cli as webacl_cli

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    waf: argparse.ArgumentParser = subparsers.add_parser(
        "waf", help="WAF tools: run CRS-format regression tests, import a Web ACL")
    sub = waf.add_subparsers(dest="waf_command", required=True)
    seclang_cli.add_parser(sub)
    webacl_cli.add_import_parser(sub)
    return waf
