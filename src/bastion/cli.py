"""``bastion``: serve, demo, validate, and the commands each layer contributes.

A layer contributes commands with a module exposing ``add_parser(subparsers)`` (or
``add_parsers``) that sets ``func`` or ``handler`` on its parsers; it is listed in
``_LAYER_COMMANDS``. Every command returns an exit code; configuration problems print
``file:line: key: problem`` lines and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bastion import __version__
from bastion.errors import ConfigError, ConfigErrors

__all__ = ["main"]

_LAYER_COMMANDS: tuple[str, ...] = (
    "bastion.auth.iam.cli",  # policy simulate
    "bastion.auth.sigv4.cli",  # sign, curl
    "bastion.auth.keys_cli",  # keys create|list|rotate|disable|enable|associate
    "bastion.state.cli",  # state check
    "bastion.observe.audit.cli",  # audit verify
    "bastion.observe.logs_cli",  # logs compact|query|retain
    "bastion.waf.cli",  # waf test|import
    "bastion.gateway.trial_cli",  # try
)

Handler = Callable[[argparse.Namespace], int]


def _print_config_error(exc: ConfigError) -> None:
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    for err in errors:
        print(f"error: {err.render()}", file=sys.stderr)


def _cmd_validate(args: argparse.Namespace) -> int:
    from bastion.gateway.gateway import load_gateway

    try:
        gateway = load_gateway(Path(args.config), dry_run=True)
    except ConfigError as exc:
        _print_config_error(exc)
        n = len(exc.errors) if isinstance(exc, ConfigErrors) else 1
        print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return 2
    routes = gateway.api.routes
    print(f"{args.config}: OK ({len(routes)} routes, {len(gateway.chain.order)} stages)")
    for r in routes:
        print(f"  {r.method:7} /{gateway.settings.api.stage}{r.template}  "
              f"[{r.integration.kind}, auth {r.auth_type}]")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    from bastion.http.server import serve

    if args.client_ca:  # every TLS connection then carries a verified client certificate
        os.environ["BASTION_MTLS_CLIENT_CA"] = str(args.client_ca)
    try:
        serve(Path(args.config), host=args.host, port=args.port, workers=args.workers,
              log_level=args.log_level, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
              ssl_ca_certs=args.client_ca, client_cert_required=bool(args.client_ca))
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from bastion.demo import prepare
    from bastion.http.server import serve

    if args.split:
        from bastion.edge.demo import run_split_demo

        return run_split_demo(Path(args.workdir), edge_port=args.port,
                              gateway_port=args.gateway_port or args.port + 1,
                              log_level=args.log_level)
    # one process: a fresh key for the Web ACL's CAPTCHA/Challenge tokens is all it needs
    os.environ.setdefault("BASTION_WAF_TOKEN_SECRET", secrets.token_hex(32))
    info = prepare(Path(args.workdir))
    port = args.port
    base = f"http://127.0.0.1:{port}/prod"
    print(f"""Bastion PetStore demo on {base}

Open routes (Python Lambda handlers):
  curl -s {base}/pets
  curl -s {base}/pets/1
  curl -s -X POST {base}/pets -H 'content-type: application/json' \\
       -d '{{"type": "bird", "price": 42.5}}'
  curl -si {base}/nothing-here        # 403 Missing Authentication Token, as API Gateway

The Web ACL (webacl.json: OWASP CRS, SQLi, known bad inputs, IP reputation, 1000/5 min/IP):
  curl -si "{base}/pets?id=1%27%20OR%201=1--"              # 403 WAF_FILTERED
  curl -si {base}/pets -H 'X-Api-Version: ${{jndi:ldap://x/a}}'   # 403 (Log4J)

AWS_IAM routes (SigV4; users in credentials.yaml: reader may GET, admin may also POST):
  bastion curl --access-key AKIAPETSTOREREADER01 --secret-key demo-reader-secret \\
       {base}/admin/pets
  bastion curl -i -X POST -d '{{"type": "cat", "price": 3}}' \\
       --access-key AKIAPETSTOREREADER01 --secret-key demo-reader-secret {base}/admin/pets
  bastion curl -X POST -d '{{"type": "cat", "price": 3}}' \\
       --access-key AKIAPETSTOREADMIN001 --secret-key demo-admin-secret {base}/admin/pets

Cognito user-pool route (a demo ID token for 'alice', valid one hour):
  curl -s {base}/me/pets -H 'Authorization: {info.id_token}'
  curl -si {base}/me/pets              # 401 {{"message":"Unauthorized"}}

API key + usage plan route (5 req/s, burst 10, 1000 a day):
  curl -s {base}/partner/pets -H 'x-api-key: {info.api_key}'
  curl -si {base}/partner/pets         # 403 {{"message":"Forbidden"}}

Without a server (the response, the decision and the log lines; README: bastion try):
  bastion try -c {info.config} GET "/prod/pets?id=1' OR 1=1--"
  bastion try -c {info.config} --cases {info.config.parent / "cases.yaml"}   # 15 checks, for CI

Config: {info.config}
Press Ctrl-C to stop.""", flush=True)
    try:
        serve(info.config, host="127.0.0.1", port=port, log_level=args.log_level)
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bastion", description="A layered API security gateway.")
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--config", "-c", default="bastion.yaml", help="path to bastion.yaml")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="worker processes (default: server.workers)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--tls-cert", help="PEM certificate: terminate TLS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--client-ca", help="PEM CA bundle: require client certificates (mTLS)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("demo", help="run the PetStore demo")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--log-level", default="warning")
    p.add_argument("--workdir", default="bastion-data/demo",
                   help="where the demo's files, keys and logs go")
    p.add_argument("--split", action="store_true",
                   help="edge on --port, gateway on --gateway-port: the edge signs, direct "
                        "access is refused")
    p.add_argument("--gateway-port", type=int, help="with --split (default: --port + 1)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("validate", help="check a config and everything it points at")
    p.add_argument("config", nargs="?", default="bastion.yaml")
    p.set_defaults(func=_cmd_validate)

    for module in _LAYER_COMMANDS:
        mod = importlib.import_module(module)
        (getattr(mod, "add_parser", None) or mod.add_parsers)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler | None = getattr(args, "func", None) or getattr(args, "handler", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
