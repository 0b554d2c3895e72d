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
"""

from __future__ import annotations
