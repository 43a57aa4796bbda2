"""DeleteUser and UpdateUser with signing certificates, SSH keys and service-specific
credentials: a user that holds any cannot be deleted, and a rename carries them."""

from __future__ import annotations

import pytest
from credmaterial import certificate_pem, ssh_rsa
from iamhandlers import Call

from tessera.errors import DeleteConflictException, NoSuchEntityException
from tessera.services import records as R


# -- the user's other operations ------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "setup", "message"),
    [
        (R.SIGNING_CERTIFICATE, lambda call: call("UploadSigningCertificate", UserName="u", CertificateBody=certificate_pem(0)), "signing"),
        (R.SSH_PUBLIC_KEY, lambda call: call("UploadSSHPublicKey", UserName="u", SSHPublicKeyBody=ssh_rsa(0)), "SSH"),
        (
            R.SERVICE_CREDENTIAL,
            lambda call: call("CreateServiceSpecificCredential", UserName="u", ServiceName="codecommit.amazonaws.com"),
            "service-specific",
        ),
    ],
)
def test_delete_user_refuses_while_credentials_remain(call: Call, kind: str, setup, message: str) -> None:
    call("CreateUser", UserName="u")
    setup(call)
    with pytest.raises(DeleteConflictException, match=message):
        call("DeleteUser", UserName="u")
    assert call("GetUser", UserName="u")["User"]["UserName"] == "u"


def test_rename_carries_certificates_keys_and_credentials(call: Call) -> None:
    call("CreateUser", UserName="old")
    cert = call("UploadSigningCertificate", UserName="old", CertificateBody=certificate_pem(0))["Certificate"]["CertificateId"]
    key = call("UploadSSHPublicKey", UserName="old", SSHPublicKeyBody=ssh_rsa(0))["SSHPublicKey"]["SSHPublicKeyId"]
    cred = call("CreateServiceSpecificCredential", UserName="old", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    call("UpdateUser", UserName="old", NewUserName="New")
    assert [c["CertificateId"] for c in call("ListSigningCertificates", UserName="new")["Certificates"]] == [cert]
    assert call("GetSSHPublicKey", UserName="new", SSHPublicKeyId=key, Encoding="SSH")["SSHPublicKey"]["UserName"] == "New"
    listed = call("ListServiceSpecificCredentials", UserName="new")["ServiceSpecificCredentials"]
    assert [(c["ServiceSpecificCredentialId"], c["UserName"]) for c in listed] == [(cred["ServiceSpecificCredentialId"], "New")]
    call("DeleteSigningCertificate", UserName="new", CertificateId=cert)
    call("DeleteSSHPublicKey", UserName="new", SSHPublicKeyId=key)
    call("DeleteServiceSpecificCredential", UserName="new", ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
    call("DeleteUser", UserName="new")
    with pytest.raises(NoSuchEntityException):
        call("ListSSHPublicKeys", UserName="new")
