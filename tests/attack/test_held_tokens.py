"""Session tokens under attack: every tampered, truncated, re-encoded or swapped token or key
is refused with the error AWS gives (``InvalidClientTokenId``, or ``SignatureDoesNotMatch``
when the token is genuine but the secret is not), and nothing is answered as anyone.

A token is ``version | key-id length | key id | nonce | AES-GCM ciphertext | tag`` in URL-safe
base64 (``tessera.auth.tokens``); a bit flipped in any part must fail authentication.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator

import botocore.auth
import pytest
from attackkit import RawClient, allow, caller_arn, policy, trust_account
from serverproc import Credentials, TesseraServer

_NONCE, _TAG = 12, 16


class Sessions:
    def __init__(self, server: TesseraServer) -> None:
        iam = server.client("iam")
        self.user = server.make_user("token-user", policy(allow("*")))
        self.other_user = server.make_user("token-other", policy(allow("*")))
        for name in ("token-role", "token-role-2"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_account(server.account_id))
            iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=policy(allow("*")))
        sts = server.client("sts", self.user)
        self.a = self._assume(sts, server, "token-role", "session-a")
        self.b = self._assume(sts, server, "token-role-2", "session-b")
        self.federated = Credentials.from_response(sts.get_federation_token(Name="fed-user", Policy=policy(allow("*")))["Credentials"])
        self.session_token = Credentials.from_response(sts.get_session_token()["Credentials"])

    @staticmethod
    def _assume(sts: object, server: TesseraServer, role: str, name: str) -> Credentials:
        arn = f"arn:aws:iam::{server.account_id}:role/{role}"
        return Credentials.from_response(sts.assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sessions(target: TesseraServer) -> Iterator[Sessions]:
    return Sessions(target)


def _decode(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _with_token(creds: Credentials, token: str | None) -> Credentials:
    return Credentials(creds.access_key_id, creds.secret_access_key, token)


def _gci(raw: RawClient, creds: Credentials) -> tuple[int, str]:
    reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=creds))
    return reply.status, reply.error_code()


def _positions(token: str) -> dict[str, list[int]]:
    """Byte offsets in each part of a decoded token: header, nonce, ciphertext, tag."""
    raw = _decode(token)
    header_end = 2 + raw[1]
    nonce_end = header_end + _NONCE
    tag_start = len(raw) - _TAG
    middle = (nonce_end + tag_start) // 2
    return {
        "version": [0],
        "key-id-length": [1],
        "key-id": [2, header_end - 1],
        "nonce": [header_end, nonce_end - 1],
        "ciphertext": [nonce_end, middle, tag_start - 1],
        "tag": [tag_start, len(raw) - 1],
    }


def test_the_genuine_sessions_work(raw: RawClient, sessions: Sessions) -> None:
    assert caller_arn(raw, sessions.a).endswith(":assumed-role/token-role/session-a")
    assert caller_arn(raw, sessions.federated).endswith(":federated-user/fed-user")
    assert caller_arn(raw, sessions.session_token).endswith(":user/token-user")


@pytest.mark.parametrize("which", ["a", "federated", "session_token"])
def test_a_bit_flipped_anywhere_in_a_token_is_refused(raw: RawClient, sessions: Sessions, which: str) -> None:
    creds: Credentials = getattr(sessions, which)
    assert creds.session_token is not None
    original = _decode(creds.session_token)
    for part, offsets in _positions(creds.session_token).items():
        for offset in offsets:
            for bit in (0x01, 0x80):
                mutated = bytearray(original)
                mutated[offset] ^= bit
                got = _gci(raw, _with_token(creds, _encode(bytes(mutated))))
                assert got == (403, "InvalidClientTokenId"), (part, offset, bit, got)


def test_truncated_extended_and_empty_tokens_are_refused(raw: RawClient, sessions: Sessions) -> None:
    token = sessions.a.session_token
    assert token is not None
    variants = [
        token[:-1],
        token[:-4],
        token[: len(token) // 2],
        token[:8],
        token[:1],
        token + "A",
        token + "AAAA",
        token + token,
        "A" * 16384,
        "A" * 16385,
    ]
    for variant in variants:
        assert _gci(raw, _with_token(sessions.a, variant)) == (403, "InvalidClientTokenId"), len(variant)
    # no token at all for an ASIA key: the key alone names nothing
    assert _gci(raw, _with_token(sessions.a, None)) == (403, "InvalidClientTokenId")


def test_other_base64_spellings_of_the_same_token_are_refused(raw: RawClient, sessions: Sessions) -> None:
    token = sessions.a.session_token
    assert token is not None
    raw_bytes = _decode(token)
    variants = {
        "padded": token + "=" * (-len(token) % 4) if len(token) % 4 else token + "==",
        "standard alphabet": base64.b64encode(raw_bytes).decode(),
        "standard alphabet, no padding": base64.b64encode(raw_bytes).decode().rstrip("="),
        "whitespace inside": token[:10] + " " + token[10:],
        "percent-encoded": token.replace("-", "%2D").replace("_", "%5F"),
        "lower-cased": token.lower(),
    }
    for name, variant in variants.items():
        if variant == token:
            continue
        assert _gci(raw, _with_token(sessions.a, variant)) == (403, "InvalidClientTokenId"), name


def test_a_token_with_another_sessions_key_id_is_refused(raw: RawClient, sessions: Sessions) -> None:
    a, b = sessions.a, sessions.b
    # B's key id and secret with A's token, and the other way round
    assert _gci(raw, Credentials(b.access_key_id, b.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")
    assert _gci(raw, Credentials(a.access_key_id, b.secret_access_key, b.session_token)) == (403, "InvalidClientTokenId")
    # A's key id with B's token but A's own secret: still the token that does not belong to the key
    assert _gci(raw, Credentials(a.access_key_id, a.secret_access_key, b.session_token)) == (403, "InvalidClientTokenId")
    # across kinds of temporary credentials
    fed = sessions.federated
    assert _gci(raw, Credentials(fed.access_key_id, fed.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")


def test_a_genuine_token_with_the_wrong_secret_does_not_sign(raw: RawClient, sessions: Sessions) -> None:
    a, b = sessions.a, sessions.b
    last = a.secret_access_key[-1]
    one_off = a.secret_access_key[:-1] + ("x" if last != "x" else "y")  # never the secret itself
    for secret in (b.secret_access_key, sessions.user.secret_access_key, one_off):
        assert _gci(raw, Credentials(a.access_key_id, secret, a.session_token)) == (403, "SignatureDoesNotMatch")


def test_a_long_term_key_with_a_session_token_is_refused(raw: RawClient, sessions: Sessions, target: TesseraServer) -> None:
    user = sessions.user
    for key in (user, target.root):
        for token in (sessions.a.session_token, sessions.session_token.session_token):
            assert _gci(raw, _with_token(key, token)) == (403, "InvalidClientTokenId")
    # a long-term key id with a session's secret and token
    a = sessions.a
    assert _gci(raw, Credentials(user.access_key_id, a.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")


def test_a_session_key_id_spelled_as_a_long_term_key_is_refused(raw: RawClient, sessions: Sessions) -> None:
    a = sessions.a
    akia = "AKIA" + a.access_key_id[4:]
    assert _gci(raw, Credentials(akia, a.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")
    assert _gci(raw, Credentials(akia, a.secret_access_key, None)) == (403, "InvalidClientTokenId")
    assert _gci(raw, Credentials(a.access_key_id.lower(), a.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")


def test_tokens_do_not_cross_accounts(raw: RawClient, target: TesseraServer, sessions: Sessions) -> None:
    """A session in a member account and one in the management account cannot lend each other tokens."""
    org = target.client("organizations")
    if "Organization" not in _describe_org(org):
        org.create_organization()
    request = org.create_account(Email="tokens-member@example.com", AccountName="tokens-member")["CreateAccountStatus"]
    account = org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"]
    member = Credentials.from_response(
        target.client("sts", sessions.user).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="member"
        )["Credentials"]
    )
    assert caller_arn(raw, member).startswith(f"arn:aws:sts::{account}:assumed-role/")
    a = sessions.a
    assert _gci(raw, Credentials(member.access_key_id, member.secret_access_key, a.session_token)) == (403, "InvalidClientTokenId")
    assert _gci(raw, Credentials(a.access_key_id, a.secret_access_key, member.session_token)) == (403, "InvalidClientTokenId")
    assert _gci(raw, Credentials(a.access_key_id, member.secret_access_key, member.session_token)) == (403, "InvalidClientTokenId")


def _describe_org(org: object) -> dict[str, object]:
    from botocore.exceptions import ClientError

    try:
        return dict(org.describe_organization())  # type: ignore[attr-defined]
    except ClientError:
        return {}


def test_a_tampered_token_in_a_presigned_url_is_refused(raw: RawClient, sessions: Sessions) -> None:
    a = sessions.a
    assert a.session_token is not None
    good = raw.presigned_url("sts", {"Action": "GetCallerIdentity"}, creds=a)
    assert raw.get(good).status == 200
    mutated = bytearray(_decode(a.session_token))
    mutated[-1] ^= 1
    bad = raw.presigned_url("sts", {"Action": "GetCallerIdentity"}, creds=_with_token(a, _encode(bytes(mutated))))
    reply = raw.get(bad)
    assert (reply.status, reply.error_code()) == (403, "InvalidClientTokenId")


def test_another_servers_token_is_refused(fresh_target: Callable[..., TesseraServer]) -> None:
    """Two deployments with the same account id and root key still seal with their own keys."""
    first, second = fresh_target(), fresh_target()
    sessions = {}
    for server in (first, second):
        iam = server.client("iam")
        iam.create_role(RoleName="issuer", AssumeRolePolicyDocument=trust_account(server.account_id))
        iam.put_role_policy(RoleName="issuer", PolicyName="all", PolicyDocument=policy(allow("*")))
        user = server.make_user("issuer-user", policy(allow("*")))
        sessions[server.port] = Credentials.from_response(
            server.client("sts", user).assume_role(RoleArn=f"arn:aws:iam::{server.account_id}:role/issuer", RoleSessionName="issuer")[
                "Credentials"
            ]
        )
    mine, theirs = sessions[second.port], sessions[first.port]
    assert _gci(RawClient(second), mine) == (200, "")
    assert _gci(RawClient(second), theirs) == (403, "InvalidClientTokenId")
    assert _gci(RawClient(second), _with_token(mine, theirs.session_token)) == (403, "InvalidClientTokenId")


def test_an_expired_token_is_expired_and_a_tampered_expired_token_is_invalid(
    fresh_target: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expiry is judged only on a token that opened: tampering is InvalidClientTokenId, so an
    attacker learns nothing from ExpiredToken. Time moves by the server's injected clock."""
    server = fresh_target()
    server.client("iam").create_role(RoleName="brief", AssumeRolePolicyDocument=trust_account(server.account_id))
    user = server.make_user("brief-user", policy(allow("*")))
    session = Credentials.from_response(
        server.client("sts", user).assume_role(
            RoleArn=f"arn:aws:iam::{server.account_id}:role/brief", RoleSessionName="brief", DurationSeconds=900
        )["Credentials"]
    )
    assert session.session_token is not None
    server.restart({"TESSERA_CLOCK_OFFSET_SECONDS": "960"})
    raw = RawClient(server)
    # sign as a client whose clock agrees with the shifted server, or the request is outside the skew
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + dt.timedelta(seconds=960))
    tampered = bytearray(_decode(session.session_token))
    tampered[-1] ^= 1
    for creds, expected in ((session, "ExpiredToken"), (_with_token(session, _encode(bytes(tampered))), "InvalidClientTokenId")):
        reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=creds))
        assert (reply.status, reply.error_code()) == (403, expected), reply.text
