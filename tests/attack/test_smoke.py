"""The attack harness itself: a correctly signed raw request succeeds, a tampered one does not."""

from __future__ import annotations

from attackkit import RawClient


def test_signed_raw_request_is_accepted(raw: RawClient) -> None:
    reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}))
    assert reply.status == 200, reply.text
    assert "<Arn>arn:aws:iam::111122223333:root</Arn>" in reply.text


def test_body_changed_after_signing_is_refused(raw: RawClient) -> None:
    prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
    prepared.body = prepared.body.replace(b"GetCallerIdentity", b"GetSessionToken")
    reply = raw.send(prepared)
    assert reply.status == 403
    assert reply.error_code() == "SignatureDoesNotMatch"


def test_presigned_url_is_accepted(raw: RawClient) -> None:
    reply = raw.get(raw.presigned_url("sts", {"Action": "GetCallerIdentity"}))
    assert reply.status == 200, reply.text
