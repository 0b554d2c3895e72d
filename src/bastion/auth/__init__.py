"""auth layer: who is calling, and may they.

One module per mechanism, each returning values (``AuthOutcome``), never raising to refuse:

* ``bastion.auth.jwt`` (+ ``jwks``): JWT/OIDC for REST ``COGNITO_USER_POOLS`` and HTTP-API
  ``JWT`` authorizers - ``JwtAuthorizer(JwtConfig(...), JwksCache(...)).authorize(token, scopes)``.
* ``bastion.auth.custom``: Lambda-style authorizers backed by a Python callable -
  ``await CustomAuthorizer(CustomAuthorizerConfig(...)).authorize(AuthRequest(...))``.
* ``bastion.auth.cedar``: Cedar / Verified Permissions - ``CedarAuthorizer(store, mapping)``.
* ``bastion.auth.apikeys`` (+ ``keys_cli``): hashed API keys and usage plans -
  ``await UsagePlanEnforcer(store, plans, storage).check(key, ...)``.
* ``bastion.auth.iam``: the IAM policy engine; ``bastion.auth.sigv4``: SigV4.
* ``bastion.auth.outcome`` / ``trace``: the result value and the masked decision trace.

Nothing is re-exported here so that importing one mechanism never loads another's
dependencies (PyJWT, cryptography, cedarpy).
"""

from __future__ import annotations
