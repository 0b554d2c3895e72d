from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.http.app import BastionApp

H = "tests.gateway.handlers"


def op(handler: str, **extra: Any) -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                "uri": f"{H}:{handler}", **extra}}


def write_api(tmp_path: Path, paths: dict[str, Any], *, kind: str = "rest", stage: str = "prod",
              extra_doc: dict[str, Any] | None = None, **settings: Any) -> Path:
    doc = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths,
           **(extra_doc or {})}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc))
    cfg = {"api": {"openapi": "api.yaml", "kind": kind, "stage": stage,
                   "account_id": "123456789012", "api_id": "a1b2c3"}, **settings}
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


GatewayFactory = Callable[..., tuple[Gateway, BastionApp]]


@pytest.fixture
def gateway_for(tmp_path: Path, clock: FrozenClock) -> GatewayFactory:
    def make(paths: dict[str, Any], **kw: Any) -> tuple[Gateway, BastionApp]:
        cfg = write_api(tmp_path, paths, **kw)
        gw = build_gateway(settings_from_data(yaml.safe_load(cfg.read_text()), cfg), clock=clock,
                           layers=[])
        return gw, BastionApp(gw)
    return make
