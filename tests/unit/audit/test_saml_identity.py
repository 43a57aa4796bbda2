"""CloudTrail's userIdentity for AssumeRoleWithSAML: ``SAMLUser`` with the name qualifier
as identity provider (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)."""

from __future__ import annotations

from tessera.audit.events import user_identity
from tessera.auth.caller import Caller
from tessera.services.sts import ANONYMOUS


def test_saml_user_identity() -> None:
    caller = Caller(
        kind="saml-user",
        account="111122223333",
        arn="arn:aws:iam::111122223333:saml-provider/Corp",
        user_id="Qualifier+/=:alice@example.test",
        name="alice@example.test",
        access_key_id="",
    )
    assert user_identity(caller) == {
        "type": "SAMLUser",
        "principalId": "Qualifier+/=:alice@example.test",
        "userName": "alice@example.test",
        "identityProvider": "Qualifier+/=",
    }


def test_unverified_unsigned_caller_is_unknown() -> None:
    assert user_identity(ANONYMOUS) == {"type": "Unknown"}
