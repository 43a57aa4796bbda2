"""Server certificates, through the registered handlers over a real store."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from credmaterial import certificate_pem, private_key_pem
from iamhandlers import ACCOUNT, NOW, Call

from tessera.errors import (
    AccessDenied,
    EntityAlreadyExistsException,
    KeyPairMismatchException,
    LimitExceededException,
    MalformedCertificateException,
    NoSuchEntityException,
)
from tessera.service_models import Operation, resolve_operation
from tessera.services.iam import quotas
from tessera.services.runtime import Runtime

ARN = f"arn:aws:iam::{ACCOUNT}:server-certificate"


def _operation(name: str) -> Operation:
    resolved = resolve_operation("iam", name)
    assert resolved is not None
    return resolved


def _upload(call: Call, name: str, index: int = 0, **extra: object) -> dict[str, object]:
    return call(
        "UploadServerCertificate",
        ServerCertificateName=name,
        CertificateBody=certificate_pem(index),
        PrivateKey=private_key_pem(index),
        **extra,
    )


def test_upload_get_list_and_key_sealed(call: Call, runtime: Runtime) -> None:
    out = _upload(call, "web", Path="/cdn/", CertificateChain=certificate_pem(1), Tags=[{"Key": "env", "Value": "prod"}])
    meta = out["ServerCertificateMetadata"]
    assert meta["Arn"] == f"{ARN}/cdn/web" and meta["ServerCertificateId"].startswith("ASCA")  # type: ignore[index]
    assert meta["UploadDate"] == NOW and meta["Expiration"] == dt.datetime(2040, 1, 1, tzinfo=dt.UTC)  # type: ignore[index]
    assert out["Tags"] == [{"Key": "env", "Value": "prod"}]
    got = call("GetServerCertificate", ServerCertificateName="WEB")["ServerCertificate"]
    assert got["CertificateBody"] == certificate_pem(0) and got["CertificateChain"] == certificate_pem(1)
    assert got["ServerCertificateMetadata"] == meta and "PrivateKey" not in got
    rec = runtime.view.account(ACCOUNT).server_certificates["web"]  # type: ignore[union-attr]
    assert private_key_pem(0) not in json.dumps(dict(rec))
    assert runtime.secret_box.open(rec["key_sealed"], context=f"server-certificate:{rec['id']}") == private_key_pem(0)
    assert [m["ServerCertificateName"] for m in call("ListServerCertificates", PathPrefix="/cdn/")["ServerCertificateMetadataList"]] == [
        "web"
    ]
    assert call("ListServerCertificates", PathPrefix="/other/")["ServerCertificateMetadataList"] == []
    assert call("GetAccountSummary")["SummaryMap"]["ServerCertificates"] == 1


def test_upload_errors(call: Call) -> None:
    with pytest.raises(KeyPairMismatchException):
        call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=certificate_pem(0), PrivateKey=private_key_pem(1))
    with pytest.raises(MalformedCertificateException):
        call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=certificate_pem(0), PrivateKey="nope")
    with pytest.raises(MalformedCertificateException):
        _upload(call, "x", CertificateChain="garbage")
    expired = certificate_pem(5, not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(MalformedCertificateException):
        call("UploadServerCertificate", ServerCertificateName="x", CertificateBody=expired, PrivateKey=private_key_pem(5))
    assert call("ListServerCertificates")["ServerCertificateMetadataList"] == []
    _upload(call, "x")
    with pytest.raises(EntityAlreadyExistsException):
        _upload(call, "X", 1)


def test_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "SERVER_CERTIFICATES_PER_ACCOUNT", 1)
    _upload(call, "one")
    with pytest.raises(LimitExceededException, match="ServerCertificatesPerAccount: 1"):
        _upload(call, "two", 1)


def test_rename_move_tag_untag_delete(call: Call) -> None:
    _upload(call, "old")
    _upload(call, "taken", 1)
    with pytest.raises(EntityAlreadyExistsException):
        call("UpdateServerCertificate", ServerCertificateName="old", NewServerCertificateName="TAKEN")
    call("UpdateServerCertificate", ServerCertificateName="old", NewServerCertificateName="new", NewPath="/moved/")
    meta = call("GetServerCertificate", ServerCertificateName="new")["ServerCertificate"]["ServerCertificateMetadata"]
    assert meta["Arn"] == f"{ARN}/moved/new"
    with pytest.raises(NoSuchEntityException, match=r"The Server Certificate with name old cannot be found\."):
        call("GetServerCertificate", ServerCertificateName="old")
    call("TagServerCertificate", ServerCertificateName="new", Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    call("UntagServerCertificate", ServerCertificateName="new", TagKeys=["a"])
    assert call("ListServerCertificateTags", ServerCertificateName="new")["Tags"] == [{"Key": "b", "Value": "2"}]
    call("DeleteServerCertificate", ServerCertificateName="new")
    with pytest.raises(NoSuchEntityException):
        call("DeleteServerCertificate", ServerCertificateName="new")


def test_authorized_on_the_stored_arn_and_its_tags(call: Call, user_with_policy) -> None:
    _upload(call, "prod", Tags=[{"Key": "env", "Value": "prod"}])
    _upload(call, "dev", 1, Path="/dev/")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:*ServerCertificate*", "Resource": f"{ARN}/dev/*"},
            {
                "Effect": "Allow",
                "Action": "iam:GetServerCertificate",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
            },
        ],
    }
    alice = user_with_policy("alice", json.dumps(policy))
    assert call("GetServerCertificate", caller=alice, ServerCertificateName="prod")["ServerCertificate"]
    with pytest.raises(AccessDenied):
        call("DeleteServerCertificate", caller=alice, ServerCertificateName="prod")
    with pytest.raises(AccessDenied):  # moving out of /dev/ needs the new ARN allowed too
        call("UpdateServerCertificate", caller=alice, ServerCertificateName="dev", NewPath="/prod/")
    call("TagServerCertificate", caller=alice, ServerCertificateName="dev", Tags=[{"Key": "k", "Value": "v"}])
    with pytest.raises(AccessDenied):
        call(
            "UploadServerCertificate",
            caller=alice,
            ServerCertificateName="new",
            CertificateBody=certificate_pem(2),
            PrivateKey=private_key_pem(2),
        )
    names = [m["ServerCertificateName"] for m in call("ListServerCertificates")["ServerCertificateMetadataList"]]
    assert names == ["dev", "prod"]
    assert call("GetServerCertificate", ServerCertificateName="dev")["ServerCertificate"]["ServerCertificateMetadata"]["Path"] == "/dev/"


def test_audit_hides_the_private_key() -> None:
    from tessera.audit.events import HIDDEN, redact_request

    params = {"ServerCertificateName": "web", "CertificateBody": "cert", "PrivateKey": private_key_pem(0)}
    out = redact_request(_operation("UploadServerCertificate"), params)
    assert out["privateKey"] == HIDDEN and out["certificateBody"] == "cert"
