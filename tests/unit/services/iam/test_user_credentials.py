"""Signing certificates, SSH public keys and service-specific credentials, through the
registered handlers over a real store."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from credmaterial import certificate_pem, pem_public, ssh_ecdsa, ssh_rsa
from iamhandlers import ACCOUNT, NOW, Call, user_arn

from tessera.audit.events import HIDDEN, redact_request, redact_response
from tessera.errors import (
    AccessDenied,
    DuplicateCertificateException,
    DuplicateSSHPublicKeyException,
    InvalidCertificateException,
    InvalidInputException,
    InvalidPublicKeyException,
    LimitExceededException,
    MalformedCertificateException,
    NoSuchEntityException,
    ServiceNotSupportedException,
    UnrecognizedPublicKeyEncodingException,
    ValidationError,
)
from tessera.service_models import Operation, resolve_operation
from tessera.services.iam import quotas
from tessera.services.runtime import Runtime


def _operation(name: str) -> Operation:
    resolved = resolve_operation("iam", name)
    assert resolved is not None
    return resolved


def _allow(*actions: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


# -- signing certificates -------------------------------------------------------------
def test_upload_signing_certificate_returns_aws_shape(call: Call) -> None:
    call("CreateUser", UserName="bob")
    body = certificate_pem(0)
    cert = call("UploadSigningCertificate", UserName="bob", CertificateBody=body)["Certificate"]
    assert cert["UserName"] == "bob" and cert["Status"] == "Active" and cert["UploadDate"] == NOW
    assert cert["CertificateBody"] == body
    assert len(cert["CertificateId"]) >= 24 and cert["CertificateId"].isalnum() and cert["CertificateId"].isupper()
    listed = call("ListSigningCertificates", UserName="BOB")
    assert listed["Certificates"] == [cert] and listed["IsTruncated"] is False


def test_signing_certificate_record_keeps_the_shared_field_names(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="bob")
    cert_id = call("UploadSigningCertificate", UserName="bob", CertificateBody=certificate_pem(0))["Certificate"]["CertificateId"]
    rec = runtime.view.account(ACCOUNT).signing_certificates[cert_id]  # type: ignore[union-attr]
    assert (rec["user"], rec["status"], rec["uploaded"]) == ("bob", "Active", "2026-01-02T03:04:05Z")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not a certificate", MalformedCertificateException),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", MalformedCertificateException),
        (certificate_pem(0) + certificate_pem(1), MalformedCertificateException),
        (certificate_pem(2, not_after=NOW - dt.timedelta(days=1)), MalformedCertificateException),
        (certificate_pem(3, not_before=NOW + dt.timedelta(days=1)), InvalidCertificateException),
    ],
    ids=["text", "bad-base64", "two-certificates", "expired", "not-yet-valid"],
)
def test_bad_certificates_are_refused_and_nothing_is_written(call: Call, body: str, error: type[Exception]) -> None:
    call("CreateUser", UserName="bob")
    with pytest.raises(error):
        call("UploadSigningCertificate", UserName="bob", CertificateBody=body)
    assert call("ListSigningCertificates", UserName="bob")["Certificates"] == []


def test_same_certificate_twice_in_the_account_is_duplicate(call: Call) -> None:
    call("CreateUser", UserName="a")
    call("CreateUser", UserName="b")
    call("UploadSigningCertificate", UserName="a", CertificateBody=certificate_pem(0))
    with pytest.raises(DuplicateCertificateException):
        call("UploadSigningCertificate", UserName="b", CertificateBody=certificate_pem(0))
    with pytest.raises(DuplicateCertificateException):
        call("UploadSigningCertificate", UserName="a", CertificateBody=certificate_pem(0))


def test_third_signing_certificate_exceeds_quota(call: Call) -> None:
    call("CreateUser", UserName="bob")
    first = call("UploadSigningCertificate", UserName="bob", CertificateBody=certificate_pem(0))["Certificate"]
    call("UploadSigningCertificate", UserName="bob", CertificateBody=certificate_pem(1))
    call("UpdateSigningCertificate", UserName="bob", CertificateId=first["CertificateId"], Status="Inactive")
    with pytest.raises(LimitExceededException, match=f"SigningCertificatesPerUser: {quotas.SIGNING_CERTIFICATES_PER_USER}"):
        call("UploadSigningCertificate", UserName="bob", CertificateBody=certificate_pem(2))


def test_update_and_delete_signing_certificate(call: Call) -> None:
    call("CreateUser", UserName="bob")
    call("CreateUser", UserName="eve")
    cert_id = call("UploadSigningCertificate", UserName="bob", CertificateBody=certificate_pem(0))["Certificate"]["CertificateId"]
    call("UpdateSigningCertificate", UserName="bob", CertificateId=cert_id, Status="Inactive")
    assert call("ListSigningCertificates", UserName="bob")["Certificates"][0]["Status"] == "Inactive"
    with pytest.raises(ValidationError):
        call("UpdateSigningCertificate", UserName="bob", CertificateId=cert_id, Status="Expired")
    with pytest.raises(NoSuchEntityException, match=f"The Certificate with id {cert_id} cannot be found."):
        call("DeleteSigningCertificate", UserName="eve", CertificateId=cert_id)
    call("DeleteSigningCertificate", UserName="bob", CertificateId=cert_id)
    assert call("ListSigningCertificates", UserName="bob")["Certificates"] == []
    with pytest.raises(NoSuchEntityException):
        call("UpdateSigningCertificate", UserName="bob", CertificateId=cert_id, Status="Active")


def test_root_has_its_own_signing_certificates(call: Call) -> None:
    cert = call("UploadSigningCertificate", CertificateBody=certificate_pem(0))["Certificate"]
    assert cert["UserName"] == ACCOUNT
    assert [c["CertificateId"] for c in call("ListSigningCertificates")["Certificates"]] == [cert["CertificateId"]]
    assert call("GetAccountSummary")["SummaryMap"]["AccountSigningCertificatesPresent"] == 1
    call("DeleteSigningCertificate", CertificateId=cert["CertificateId"])
    assert call("GetAccountSummary")["SummaryMap"]["AccountSigningCertificatesPresent"] == 0


def test_user_manages_own_certificates_without_user_name_only_when_allowed(call: Call, user_with_policy) -> None:
    alice = user_with_policy("alice", _allow("iam:UploadSigningCertificate", "iam:ListSigningCertificates", resource=user_arn("alice")))
    call("CreateUser", UserName="bob")
    cert = call("UploadSigningCertificate", caller=alice, CertificateBody=certificate_pem(0))["Certificate"]
    assert cert["UserName"] == "alice"
    assert len(call("ListSigningCertificates", caller=alice)["Certificates"]) == 1
    with pytest.raises(AccessDenied):
        call("UploadSigningCertificate", caller=alice, UserName="bob", CertificateBody=certificate_pem(1))
    assert call("ListSigningCertificates", UserName="bob")["Certificates"] == []


# -- SSH public keys ------------------------------------------------------------------
def _md5_fingerprint(openssh: str) -> str:
    blob = base64.b64decode(openssh.split()[1])
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())


def test_upload_ssh_key_and_get_it_in_both_encodings(call: Call) -> None:
    call("CreateUser", UserName="bob")
    body = ssh_rsa(0)
    key = call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=body)["SSHPublicKey"]
    assert key["SSHPublicKeyId"].startswith("APKA") and len(key["SSHPublicKeyId"]) == 21
    assert key["Fingerprint"] == _md5_fingerprint(body) and len(key["Fingerprint"]) == 47
    assert key["SSHPublicKeyBody"] == body and key["Status"] == "Active" and key["UploadDate"] == NOW
    ssh = call("GetSSHPublicKey", UserName="bob", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH")["SSHPublicKey"]
    assert ssh == key
    pem = call("GetSSHPublicKey", UserName="bob", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="PEM")["SSHPublicKey"]
    assert pem["SSHPublicKeyBody"] == pem_public(0)
    listed = call("ListSSHPublicKeys", UserName="bob")["SSHPublicKeys"]
    assert listed == [{"UserName": "bob", "SSHPublicKeyId": key["SSHPublicKeyId"], "Status": "Active", "UploadDate": NOW}]


def test_pem_key_is_accepted_and_served_as_ssh_rsa(call: Call) -> None:
    call("CreateUser", UserName="bob")
    key = call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=pem_public(1))["SSHPublicKey"]
    ssh = call("GetSSHPublicKey", UserName="bob", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH")["SSHPublicKey"]
    assert ssh["SSHPublicKeyBody"] == ssh_rsa(1).rsplit(" ", 1)[0]
    assert key["Fingerprint"] == _md5_fingerprint(ssh["SSHPublicKeyBody"])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("hello", UnrecognizedPublicKeyEncodingException),
        (ssh_ecdsa(), UnrecognizedPublicKeyEncodingException),
        ("ssh-rsa AAAAnotbase64!!", InvalidPublicKeyException),
        (ssh_rsa(9, bits=1024), InvalidPublicKeyException),
    ],
    ids=["text", "ecdsa", "bad-blob", "rsa-1024"],
)
def test_bad_ssh_keys_are_refused(call: Call, body: str, error: type[Exception]) -> None:
    call("CreateUser", UserName="bob")
    with pytest.raises(error):
        call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=body)
    assert call("ListSSHPublicKeys", UserName="bob")["SSHPublicKeys"] == []


def test_duplicate_ssh_key_and_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    call("CreateUser", UserName="bob")
    call("CreateUser", UserName="eve")
    call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=ssh_rsa(0))
    with pytest.raises(DuplicateSSHPublicKeyException):
        call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=pem_public(0))
    call("UploadSSHPublicKey", UserName="eve", SSHPublicKeyBody=ssh_rsa(0))  # another user may hold it
    monkeypatch.setattr(quotas, "SSH_PUBLIC_KEYS_PER_USER", 2)
    call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=ssh_rsa(1))
    with pytest.raises(LimitExceededException, match="SSHPublicKeysPerUser: 2"):
        call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=ssh_rsa(2))


def test_update_and_delete_ssh_key(call: Call) -> None:
    call("CreateUser", UserName="bob")
    call("CreateUser", UserName="eve")
    key_id = call("UploadSSHPublicKey", UserName="bob", SSHPublicKeyBody=ssh_rsa(0))["SSHPublicKey"]["SSHPublicKeyId"]
    call("UpdateSSHPublicKey", UserName="bob", SSHPublicKeyId=key_id, Status="Inactive")
    assert call("ListSSHPublicKeys", UserName="bob")["SSHPublicKeys"][0]["Status"] == "Inactive"
    with pytest.raises(NoSuchEntityException, match=f"The Public Key with id {key_id} cannot be found."):
        call("GetSSHPublicKey", UserName="eve", SSHPublicKeyId=key_id, Encoding="SSH")
    with pytest.raises(NoSuchEntityException):
        call("DeleteSSHPublicKey", UserName="eve", SSHPublicKeyId=key_id)
    call("DeleteSSHPublicKey", UserName="bob", SSHPublicKeyId=key_id)
    assert call("ListSSHPublicKeys", UserName="bob")["SSHPublicKeys"] == []


def test_ssh_key_denied_without_policy(call: Call, user_with_policy) -> None:
    alice = user_with_policy("alice", _allow("iam:ListSSHPublicKeys"))
    call("CreateUser", UserName="bob")
    with pytest.raises(AccessDenied):
        call("UploadSSHPublicKey", caller=alice, UserName="bob", SSHPublicKeyBody=ssh_rsa(0))
    assert call("ListSSHPublicKeys", caller=alice, UserName="bob")["SSHPublicKeys"] == []
    assert call("ListSSHPublicKeys", caller=alice)["SSHPublicKeys"] == []


# -- service-specific credentials -----------------------------------------------------
def test_codecommit_credential_password_is_returned_once_and_stored_sealed(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="jane")
    cred = call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert cred["ServiceSpecificCredentialId"].startswith("ACCA") and len(cred["ServiceSpecificCredentialId"]) == 21
    assert cred["ServiceUserName"] == f"jane-at-{ACCOUNT}" and cred["Status"] == "Active" and cred["CreateDate"] == NOW
    password = cred["ServicePassword"]
    assert len(password) == 44
    rec = runtime.view.account(ACCOUNT).service_credentials[cred["ServiceSpecificCredentialId"]]  # type: ignore[union-attr]
    assert password not in json.dumps(dict(rec))
    assert runtime.secret_box.open(rec["password_sealed"], context=f"service-credential:{rec['id']}") == password
    listed = call("ListServiceSpecificCredentials", UserName="jane")["ServiceSpecificCredentials"]
    assert listed == [{k: v for k, v in cred.items() if k != "ServicePassword"}]


def test_reset_replaces_the_password(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="jane")
    cred = call("CreateServiceSpecificCredential", UserName="jane", ServiceName="cassandra.amazonaws.com")["ServiceSpecificCredential"]
    reset = call("ResetServiceSpecificCredential", UserName="jane", ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
    new = reset["ServiceSpecificCredential"]["ServicePassword"]
    assert new != cred["ServicePassword"]
    rec = runtime.view.account(ACCOUNT).service_credentials[cred["ServiceSpecificCredentialId"]]  # type: ignore[union-attr]
    assert runtime.secret_box.open(rec["password_sealed"], context=f"service-credential:{rec['id']}") == new


def test_bedrock_api_key_has_alias_secret_and_expiry(call: Call, clock) -> None:
    call("CreateUser", UserName="jane")
    cred = call("CreateServiceSpecificCredential", UserName="jane", ServiceName="bedrock.amazonaws.com", CredentialAgeDays=30)[
        "ServiceSpecificCredential"
    ]
    assert cred["ServiceCredentialAlias"].startswith(f"jane-at-{ACCOUNT}") and "ServicePassword" not in cred
    assert cred["ServiceCredentialSecret"].startswith("ABSK") and "ServiceUserName" not in cred
    assert cred["ExpirationDate"] == NOW + dt.timedelta(days=30)
    clock.advance(31 * 86400)
    listed = call("ListServiceSpecificCredentials", UserName="jane", ServiceName="bedrock.amazonaws.com")
    assert listed["ServiceSpecificCredentials"][0]["Status"] == "Expired"


def test_unsupported_service_and_age_for_password_services(call: Call) -> None:
    call("CreateUser", UserName="jane")
    with pytest.raises(ServiceNotSupportedException):
        call("CreateServiceSpecificCredential", UserName="jane", ServiceName="s3.amazonaws.com")
    with pytest.raises(ServiceNotSupportedException):
        call("ListServiceSpecificCredentials", UserName="jane", ServiceName="s3.amazonaws.com")
    with pytest.raises(InvalidInputException):
        call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com", CredentialAgeDays=5)
    assert call("ListServiceSpecificCredentials", UserName="jane")["ServiceSpecificCredentials"] == []


def test_two_credentials_per_user_per_service(call: Call) -> None:
    call("CreateUser", UserName="jane")
    for _ in range(2):
        call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com")
    with pytest.raises(LimitExceededException):
        call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com")
    call("CreateServiceSpecificCredential", UserName="jane", ServiceName="cassandra.amazonaws.com")
    assert len(call("ListServiceSpecificCredentials", UserName="jane")["ServiceSpecificCredentials"]) == 3


def test_update_delete_and_all_users_listing(call: Call) -> None:
    call("CreateUser", UserName="jane")
    call("CreateUser", UserName="kim")
    jane = call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    call("CreateServiceSpecificCredential", UserName="kim", ServiceName="codecommit.amazonaws.com")
    cred_id = jane["ServiceSpecificCredentialId"]
    call("UpdateServiceSpecificCredential", UserName="jane", ServiceSpecificCredentialId=cred_id, Status="Inactive")
    everyone = call("ListServiceSpecificCredentials", AllUsers=True)["ServiceSpecificCredentials"]
    assert [(c["UserName"], c["Status"]) for c in everyone] == [("jane", "Inactive"), ("kim", "Active")]
    with pytest.raises(InvalidInputException):
        call("ListServiceSpecificCredentials", AllUsers=True, UserName="jane")
    with pytest.raises(NoSuchEntityException):
        call("DeleteServiceSpecificCredential", UserName="kim", ServiceSpecificCredentialId=cred_id)
    call("DeleteServiceSpecificCredential", UserName="jane", ServiceSpecificCredentialId=cred_id)
    assert call("ListServiceSpecificCredentials", UserName="jane")["ServiceSpecificCredentials"] == []


def test_caller_without_user_name_and_denied_side(call: Call, user_with_policy) -> None:
    jane = user_with_policy(
        "jane", _allow("iam:ListServiceSpecificCredentials", "iam:ResetServiceSpecificCredential", resource=user_arn("jane"))
    )
    cred = call("CreateServiceSpecificCredential", UserName="jane", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert len(call("ListServiceSpecificCredentials", caller=jane)["ServiceSpecificCredentials"]) == 1
    call("ResetServiceSpecificCredential", caller=jane, ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
    with pytest.raises(AccessDenied):
        call("CreateServiceSpecificCredential", caller=jane, UserName="jane", ServiceName="codecommit.amazonaws.com")
    with pytest.raises(AccessDenied):
        call("DeleteServiceSpecificCredential", caller=jane, ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
    with pytest.raises(AccessDenied):
        call("ListServiceSpecificCredentials", caller=jane, AllUsers=True)
    assert len(call("ListServiceSpecificCredentials", UserName="jane")["ServiceSpecificCredentials"]) == 1
    with pytest.raises(ValidationError):
        call("ListServiceSpecificCredentials")  # root has none, and must name a user


def test_audit_hides_the_service_password() -> None:
    created = {"ServiceSpecificCredential": {"ServicePassword": "pw-secret", "ServiceCredentialSecret": "ABSK-secret", "UserName": "j"}}
    for operation in ("CreateServiceSpecificCredential", "ResetServiceSpecificCredential"):
        out = redact_response(_operation(operation), created)
        assert out["serviceSpecificCredential"]["servicePassword"] == HIDDEN
        assert out["serviceSpecificCredential"]["serviceCredentialSecret"] == HIDDEN
        assert "pw-secret" not in json.dumps(out) and "ABSK-secret" not in json.dumps(out)
    assert redact_request(_operation("CreateServiceSpecificCredential"), {"UserName": "j", "ServiceName": "x"}) == {
        "userName": "j",
        "serviceName": "x",
    }
