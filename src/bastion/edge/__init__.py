"""Edge and origin protection: a Bastion in front of another, signing what it forwards.

* ``edge:`` in an edge instance's bastion.yaml turns its ``http_proxy`` integrations into a
  CloudFront-style origin request: original client IP in ``X-Forwarded-For``, ``Host`` for the
  origin, injected headers (API key, shared secret) and a SigV4 signature over exactly what is
  sent, made with short-lived credentials fetched from the gateway (``bastion.edge.provider``).
* ``credentials:`` in a gateway's bastion.yaml runs the STS-like endpoint those credentials come
  from (``bastion.edge.sts``).
* ``bastion.edge.authorizers`` holds the custom authorizers for the other lock-down patterns.

See docs/edge.md.
"""

from __future__ import annotations

from bastion.edge.layer import edge_layer
from bastion.edge.provider import AssumeRoleProvider, IssuedCredentials, StaticCredentials
from bastion.edge.signing import sign_forwarded

__all__ = ["AssumeRoleProvider", "IssuedCredentials", "StaticCredentials", "edge_layer",
           "sign_forwarded"]
