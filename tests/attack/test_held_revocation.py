"""Revocation from the attacker's side: a session holder keeps the token, the operator revokes
or deletes, and the token must stop working (for IAM actions and for chaining onwards), while
sessions issued afterwards work.

AWS revokes a role's older sessions with the ``AWSRevokeOlderSessions`` inline policy, a Deny
on ``aws:TokenIssueTime`` before now
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html), and the
same condition on a user denies their GetSessionToken and GetFederationToken credentials
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html).
A role or user deleted and created again under the same name is a new entity with a new
unique id; the old entity's sessions do not gain its permissions.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from attackkit import RawClient, allow, error_code_of, policy, trust_account
from serverproc import Credentials, TesseraServer

from tessera.cli.sts import REVOKE_POLICY_NAME, revoke_policy

_serial = itertools.count()
DENIED = {"AccessDenied", "AccessDeniedException"}


def _role(server: TesseraServer, trust: str | None = None) -> str:
    name = f"revoke-role-{next(_serial)}"
    iam = server.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust or trust_account(server.account_id))
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=policy(allow("*")))
    return name


def _arn(server: TesseraServer, role: str) -> str:
    return f"arn:aws:iam::{server.account_id}:role/{role}"


def _assume(server: TesseraServer, creds: Credentials, role: str, name: str = "held") -> Credentials:
    reply = server.client("sts", creds).assume_role(RoleArn=_arn(server, role), RoleSessionName=name)
    return Credentials.from_response(reply["Credentials"])


def _revoke_role(server: TesseraServer, role: str) -> None:
    server.client("iam").put_role_policy(
        RoleName=role, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=revoke_policy(dt.datetime.now(dt.UTC))
    )


def _works(server: TesseraServer, creds: Credentials) -> str:
    return error_code_of(server.client("iam", creds).list_users)


@pytest.fixture(scope="module")
def admin(target: TesseraServer) -> Credentials:
    return target.make_user("revoke-admin", policy(allow("*")))


def test_a_revoked_role_session_is_refused_everywhere(target: TesseraServer, raw: RawClient, admin: Credentials) -> None:
    role, onward = _role(target), _role(target)
    old = _assume(target, admin, role)
    assert _works(target, old) == ""
    _revoke_role(target, role)
    assert _works(target, old) in DENIED
    assert error_code_of(target.client("iam", old).create_user, UserName="revoked-writes") in DENIED
    assert error_code_of(target.client("sts", old).assume_role, RoleArn=_arn(target, onward), RoleSessionName="xx") in DENIED
    assert error_code_of(target.client("sts", old).get_federation_token, Name="xx") in DENIED
    # the raw presigned form is denied as well
    url = raw.presigned_url("iam", {"Action": "ListUsers"}, creds=old)
    reply = raw.get(url)
    assert (reply.status, reply.error_code()) == (403, "AccessDenied"), reply.text
    # the revoked session cannot lift its own revocation
    assert error_code_of(target.client("iam", old).delete_role_policy, RoleName=role, PolicyName=REVOKE_POLICY_NAME) in DENIED
    # a session issued after the revocation works
    assert _works(target, _assume(target, admin, role, "fresh")) == ""


def test_a_chained_session_of_a_revoked_role_is_refused(target: TesseraServer, admin: Credentials) -> None:
    first = _role(target)
    second = _role(target, trust_account(target.account_id))
    hop = _assume(target, admin, first, "hop")
    chained = _assume(target, hop, second, "chained")
    assert _works(target, chained) == ""
    _revoke_role(target, second)
    assert _works(target, chained) in DENIED
    # and a session of the first role, revoked in its turn, cannot chain again
    _revoke_role(target, first)
    assert error_code_of(target.client("sts", hop).assume_role, RoleArn=_arn(target, second), RoleSessionName="again") in DENIED
    assert _works(target, _assume(target, _assume(target, admin, first, "new-hop"), second, "new-chain")) == ""


def test_a_recreated_role_does_not_revive_old_sessions(target: TesseraServer, raw: RawClient, admin: Credentials) -> None:
    role = _role(target)
    old = _assume(target, admin, role)
    assert _works(target, old) == ""
    iam = target.client("iam")
    iam.delete_role_policy(RoleName=role, PolicyName="all")
    iam.delete_role(RoleName=role)
    assert _works(target, old) != ""
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_account(target.account_id))
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=policy(allow("*")))
    for call in (target.client("iam", old).list_users, target.client("iam", old).list_roles):
        assert error_code_of(call) in {"AccessDenied", "InvalidClientTokenId", "ExpiredToken"}
    assert error_code_of(target.client("iam", old).create_user, UserName="revived") in {"AccessDenied", "InvalidClientTokenId"}
    # while a session of the new role works
    assert _works(target, _assume(target, admin, role, "new")) == ""


def test_user_level_revocation_refuses_session_and_federation_tokens(target: TesseraServer) -> None:
    """GetSessionToken credentials without MFA may not call IAM, and federated users may call
    neither IAM nor STS (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_request.html),
    so what each may do is tried: AssumeRole for the first, an Organizations read for the second."""
    name = f"revoke-user-{next(_serial)}"
    role = _role(target)
    user = target.make_user(name, policy(allow("*")))
    sts = target.client("sts", user)
    session = Credentials.from_response(sts.get_session_token()["Credentials"])
    federated = Credentials.from_response(sts.get_federation_token(Name="fed", Policy=policy(allow("*")))["Credentials"])

    def session_assumes() -> str:
        return error_code_of(target.client("sts", session).assume_role, RoleArn=_arn(target, role), RoleSessionName="st")

    def federated_reads() -> str:
        return error_code_of(target.client("organizations", federated).list_roots)

    assert session_assumes() == ""
    assert federated_reads() not in DENIED
    target.client("iam").put_user_policy(
        UserName=name, PolicyName=REVOKE_POLICY_NAME, PolicyDocument=revoke_policy(dt.datetime.now(dt.UTC))
    )
    assert session_assumes() in DENIED
    assert federated_reads() in DENIED
    # the user's long-term key carries no token issue time, so the Deny does not match it
    assert _works(target, user) == ""


def test_a_recreated_user_does_not_revive_old_session_credentials(target: TesseraServer) -> None:
    name = f"revoke-user-{next(_serial)}"
    user = target.make_user(name, policy(allow("*")))
    session = Credentials.from_response(target.client("sts", user).get_session_token()["Credentials"])
    iam = target.client("iam")
    assert error_code_of(target.client("sts", session).assume_role, RoleArn=_arn(target, _role(target)), RoleSessionName="st") == ""
    iam.delete_access_key(UserName=name, AccessKeyId=user.access_key_id)
    iam.delete_user_policy(UserName=name, PolicyName="inline")
    role = _role(target)

    def session_assumes() -> str:
        return error_code_of(target.client("sts", session).assume_role, RoleArn=_arn(target, role), RoleSessionName="st")

    iam.delete_user(UserName=name)
    assert session_assumes() in {"AccessDenied", "InvalidClientTokenId"}
    target.make_user(name, policy(allow("*")))
    assert session_assumes() in {"AccessDenied", "InvalidClientTokenId"}


def test_a_deleted_or_deactivated_key_is_refused_at_once(target: TesseraServer, raw: RawClient) -> None:
    name = f"revoke-user-{next(_serial)}"
    user = target.make_user(name, policy(allow("*")))
    iam = target.client("iam")
    assert _works(target, user) == ""
    iam.update_access_key(UserName=name, AccessKeyId=user.access_key_id, Status="Inactive")
    reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=user))
    assert (reply.status, reply.error_code()) == (403, "InvalidClientTokenId")
    iam.update_access_key(UserName=name, AccessKeyId=user.access_key_id, Status="Active")
    assert _works(target, user) == ""
    iam.delete_access_key(UserName=name, AccessKeyId=user.access_key_id)
    reply = raw.send(raw.signed("iam", {"Action": "ListUsers"}, creds=user))
    assert (reply.status, reply.error_code()) == (403, "InvalidClientTokenId")
