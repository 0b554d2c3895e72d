"""The built-in layers, in one visible list. Each entry builds its stages from the config.

A layer whose section is absent from bastion.yaml returns no stages and costs nothing.
"""

from __future__ import annotations

from bastion.gateway.gateway import LayerFactory

__all__ = ["builtin_layers"]


def builtin_layers() -> list[LayerFactory]:
    from bastion.auth.authorizers import authorizers_layer
    from bastion.auth.stage import auth_layer
    from bastion.edge.layer import edge_layer
    from bastion.gateway.cache import cache_layer
    from bastion.gateway.throttle import throttle_layer
    from bastion.gateway.validation import validation_layer
    from bastion.observe.layer import observe_layer
    from bastion.waf.crs_layer import crs_layer
    from bastion.waf.webacl.stage import webacl_layer

    # crs_layer first: it registers the CRS engine the Web ACL's managed group calls.
    return [crs_layer, webacl_layer, auth_layer, authorizers_layer, throttle_layer,
            validation_layer, cache_layer, edge_layer, observe_layer]
