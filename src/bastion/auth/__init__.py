"""auth layer: who is calling, and may they?

* ``bastion.auth.sigv4``       AWS Signature V4 signer and verifier (header + presigned forms),
                               AWS's exact failure texts; ``sign``/``curl`` subcommands in ``.cli``
* ``bastion.auth.iam``         IAM policy engine: parse, compile, evaluate, Tables A/B, 403 texts;
                               ``policy simulate`` subcommand in ``.cli``
* ``bastion.auth.credentials`` users/roles/access keys/policies from a file, STS-style sessions,
                               rotation by ``reload()``; a ``KeyResolver`` for the verifier
* ``bastion.auth.replay``      optional nonce cache (``seen(key, ttl)``) against signature replay
* ``bastion.auth.aws_iam``     ``authorize_aws_iam``: the whole AWS_IAM method check in one call
* ``bastion.auth.secret``      ``Secret``: masked strings for key material
* ``bastion.auth.jwt``         JWT/OIDC (REST ``COGNITO_USER_POOLS``, HTTP-API ``JWT``):
  (+ ``jwks``)                 ``JwtAuthorizer(config, JwksCache(...)).authorize(token, scopes)``
* ``bastion.auth.custom``      Lambda-style authorizers backed by a Python callable:
                               ``await CustomAuthorizer(config).authorize(AuthRequest(...))``
* ``bastion.auth.cedar``       Cedar / Verified Permissions: ``CedarAuthorizer(store, mapping)``
* ``bastion.auth.apikeys``     hashed API keys and usage plans:
  (+ ``keys_cli``)             ``await UsagePlanEnforcer(store, plans, storage).check(key, ...)``
* ``bastion.auth.outcome``     ``AuthOutcome`` (the value jwt/custom/cedar/apikeys return) and
  (+ ``trace``)                the masked decision trace

Nothing is re-exported here, so importing one mechanism never loads another's dependencies
(PyJWT, cryptography, cedarpy).
"""

from __future__ import annotations
