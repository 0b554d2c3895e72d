"""HTTP face: the raw-ASGI app (``bastion.http.app``), the server bootstrap
(``bastion.http.server``) and the upstream client re-exported here.

The app is not imported here: the gateway imports the upstream client, and the app imports
the gateway.
"""

from __future__ import annotations

from bastion.http.upstream import Origin, UpstreamPool, UpstreamResponse

__all__ = ["Origin", "UpstreamPool", "UpstreamResponse"]
