"""The PetStore demo: config, OpenAPI, handlers, demo IAM users, a demo Cognito-style issuer.

``prepare(workdir)`` copies the demo into ``workdir`` and creates what cannot ship as a file:
an API key (stored hashed) in the partners usage plan, and a fresh one-hour ID token signed
with the demo issuer's key. Both are for the demo only and printed by ``bastion demo``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEMO_CONFIG", "DEMO_DIR", "DemoInfo", "prepare"]

DEMO_DIR = Path(__file__).parent
DEMO_CONFIG = DEMO_DIR / "bastion.yaml"
_FILES = ("bastion.yaml", "openapi.yaml", "credentials.yaml", "jwks.json", "plans.json",
          "webacl.json", "ip-reputation.netset", "cases.yaml")
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_DEMOPOOL"
CLIENT_ID = "demo-app-client"
DEMO_API_KEY = "DemoPartnerKey0000000000000000000001"


@dataclass(frozen=True, slots=True)
class DemoInfo:
    config: Path
    api_key: str
    id_token: str


def mint_id_token(username: str = "alice", *, lifetime: int = 3600) -> str:
    """An ID token as a Cognito user pool would issue it, signed by the demo key."""
    import jwt

    now = int(time.time())
    claims = {"sub": f"{username}-0001", "aud": CLIENT_ID, "iss": ISSUER, "token_use": "id",
              "cognito:username": username, "email": f"{username}@example.com",
              "auth_time": now, "iat": now, "exp": now + lifetime}
    key = (DEMO_DIR / "demo-signing-key.pem").read_bytes()
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "demo-1"})


def prepare(workdir: Path) -> DemoInfo:
    from bastion.auth.apikeys import ApiKeyStore

    workdir.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        shutil.copyfile(DEMO_DIR / name, workdir / name)
    keys = workdir / "bastion-keys.json"
    if keys.exists():
        keys.unlink()
    store = ApiKeyStore(keys)
    store.create("demo-partner", plans=["partners"], value=DEMO_API_KEY)
    return DemoInfo(workdir / "bastion.yaml", DEMO_API_KEY, mint_id_token())
