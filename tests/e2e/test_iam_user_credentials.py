"""Signing certificates, SSH public keys, service-specific credentials (and server
certificates' denied side) end to end:
boto3 against ``tessera serve`` on SQLite and PostgreSQL, the AWS CLI for SSH keys, and
the audit trail without the service password."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from credmaterial import certificate_pem, pem_public, private_key_pem, ssh_rsa
from serverproc import TesseraServer
from test_iam_cli import aws_json

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def policy(*actions: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def test_signing_certificates(iam: Any) -> None:
    user = unique("signer")
    iam.create_user(UserName=user)
    body = certificate_pem(10)
    cert = iam.upload_signing_certificate(UserName=user, CertificateBody=body)["Certificate"]
    assert cert["UserName"] == user and cert["Status"] == "Active" and cert["CertificateBody"] == body
    assert len(cert["CertificateId"]) >= 24
    assert error_of(lambda: iam.upload_signing_certificate(UserName=user, CertificateBody=body)) == ("DuplicateCertificate", 409)
    assert error_of(lambda: iam.upload_signing_certificate(UserName=user, CertificateBody="garbage")) == ("MalformedCertificate", 400)
    iam.upload_signing_certificate(UserName=user, CertificateBody=certificate_pem(11))
    assert error_of(lambda: iam.upload_signing_certificate(UserName=user, CertificateBody=certificate_pem(12))) == ("LimitExceeded", 409)
    iam.update_signing_certificate(UserName=user, CertificateId=cert["CertificateId"], Status="Inactive")
    pages = iam.get_paginator("list_signing_certificates").paginate(UserName=user, PaginationConfig={"PageSize": 1})
    listed = [c for page in pages for c in page["Certificates"]]
    assert {(c["CertificateId"], c["Status"]) for c in listed} >= {(cert["CertificateId"], "Inactive")} and len(listed) == 2
    assert error_of(lambda: iam.delete_user(UserName=user)) == ("DeleteConflict", 409)
    for c in listed:
        iam.delete_signing_certificate(UserName=user, CertificateId=c["CertificateId"])
    iam.delete_user(UserName=user)


def test_root_signing_certificate(iam: Any) -> None:
    cert = iam.upload_signing_certificate(CertificateBody=certificate_pem(13))["Certificate"]
    assert iam.get_account_summary()["SummaryMap"]["AccountSigningCertificatesPresent"] == 1
    assert cert["CertificateId"] in [c["CertificateId"] for c in iam.list_signing_certificates()["Certificates"]]
    iam.delete_signing_certificate(CertificateId=cert["CertificateId"])
    assert iam.get_account_summary()["SummaryMap"]["AccountSigningCertificatesPresent"] == 0


def test_ssh_public_keys(iam: Any) -> None:
    user = unique("sshuser")
    iam.create_user(UserName=user)
    key = iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=ssh_rsa(10))["SSHPublicKey"]
    assert key["SSHPublicKeyId"].startswith("APKA") and len(key["Fingerprint"].split(":")) == 16
    got = iam.get_ssh_public_key(UserName=user, SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="PEM")["SSHPublicKey"]
    assert got["SSHPublicKeyBody"] == pem_public(10)
    assert error_of(lambda: iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=pem_public(10))) == ("DuplicateSSHPublicKey", 400)
    assert error_of(lambda: iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody="nope")) == ("UnrecognizedPublicKeyEncoding", 400)
    short = ssh_rsa(11, bits=1024)
    assert error_of(lambda: iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=short)) == ("InvalidPublicKey", 400)
    assert error_of(lambda: iam.get_ssh_public_key(UserName=user, SSHPublicKeyId="APKA" + "A" * 17, Encoding="SSH")) == (
        "NoSuchEntity",
        404,
    )
    iam.update_ssh_public_key(UserName=user, SSHPublicKeyId=key["SSHPublicKeyId"], Status="Inactive")
    assert [k["Status"] for k in iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]] == ["Inactive"]
    renamed = unique("renamed")
    iam.update_user(UserName=user, NewUserName=renamed)
    assert [k["UserName"] for k in iam.list_ssh_public_keys(UserName=renamed)["SSHPublicKeys"]] == [renamed]
    iam.delete_ssh_public_key(UserName=renamed, SSHPublicKeyId=key["SSHPublicKeyId"])
    iam.delete_user(UserName=renamed)


def test_service_specific_credentials(iam: Any, server: TesseraServer) -> None:
    user = unique("coder")
    iam.create_user(UserName=user)
    cred = iam.create_service_specific_credential(UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    assert cred["ServiceUserName"] == f"{user}-at-{server.account_id}" and len(cred["ServicePassword"]) == 44
    cred_id = cred["ServiceSpecificCredentialId"]
    reset = iam.reset_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != cred["ServicePassword"]
    bedrock = iam.create_service_specific_credential(UserName=user, ServiceName="bedrock.amazonaws.com", CredentialAgeDays=7)[
        "ServiceSpecificCredential"
    ]
    assert bedrock["ServiceCredentialSecret"] and bedrock["ServiceCredentialAlias"] and "ExpirationDate" in bedrock
    code = error_of(lambda: iam.create_service_specific_credential(UserName=user, ServiceName="s3.amazonaws.com"))
    assert code == ("NotSupportedService", 404)
    iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id, Status="Inactive")
    listed = iam.list_service_specific_credentials(UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredentials"]
    assert [(c["ServiceSpecificCredentialId"], c["Status"]) for c in listed] == [(cred_id, "Inactive")]
    assert "ServicePassword" not in listed[0]
    assert error_of(lambda: iam.delete_user(UserName=user)) == ("DeleteConflict", 409)
    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)
    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=bedrock["ServiceSpecificCredentialId"])
    iam.delete_user(UserName=user)


def test_denied_callers_write_nothing(iam: Any, server: TesseraServer) -> None:
    actor, victim = unique("actor"), unique("victim")
    iam.create_user(UserName=victim)
    creds = server.make_user(actor, policy("iam:List*"))
    client = server.client("iam", creds)
    for call in (
        lambda: client.upload_signing_certificate(UserName=victim, CertificateBody=certificate_pem(14)),
        lambda: client.upload_ssh_public_key(UserName=victim, SSHPublicKeyBody=ssh_rsa(12)),
        lambda: client.create_service_specific_credential(UserName=victim, ServiceName="codecommit.amazonaws.com"),
        lambda: client.upload_server_certificate(
            ServerCertificateName=victim, CertificateBody=certificate_pem(16), PrivateKey=private_key_pem(16)
        ),
    ):
        assert error_of(call) == ("AccessDenied", 403)
    assert client.list_signing_certificates(UserName=victim)["Certificates"] == []
    assert client.list_ssh_public_keys(UserName=victim)["SSHPublicKeys"] == []
    assert client.list_service_specific_credentials(UserName=victim)["ServiceSpecificCredentials"] == []
    assert victim not in [m["ServerCertificateName"] for m in client.list_server_certificates()["ServerCertificateMetadataList"]]
    # a user allowed on its own ARN only manages its own credentials, without naming itself
    own = server.make_user(
        unique("self"), policy("iam:*SSHPublicKey*", "iam:*SigningCertificate*", resource="arn:aws:iam::*:user/${aws:username}")
    )
    mine = server.client("iam", own)
    mine.upload_signing_certificate(CertificateBody=certificate_pem(15))
    assert len(mine.list_signing_certificates()["Certificates"]) == 1
    assert mine.list_ssh_public_keys()["SSHPublicKeys"] == []
    assert error_of(lambda: mine.list_ssh_public_keys(UserName=victim)) == ("AccessDenied", 403)


def test_ssh_keys_and_audit_through_the_cli(fresh_server: Any, tmp_path: Any) -> None:
    server = fresh_server()
    root = server.root
    aws_json(server, root, "iam", "create-user", "--user-name", "cli-ssh")
    key_file = tmp_path / "id_rsa.pub"
    key_file.write_text(ssh_rsa(13) + "\n")
    uploaded = aws_json(
        server, root, "iam", "upload-ssh-public-key", "--user-name", "cli-ssh", "--ssh-public-key-body", f"file://{key_file}"
    )
    key_id = uploaded["SSHPublicKey"]["SSHPublicKeyId"]
    got = aws_json(server, root, "iam", "get-ssh-public-key", "--user-name", "cli-ssh", "--ssh-public-key-id", key_id, "--encoding", "SSH")
    assert got["SSHPublicKey"]["SSHPublicKeyBody"].startswith("ssh-rsa ")
    listed = aws_json(server, root, "iam", "list-ssh-public-keys", "--user-name", "cli-ssh")
    assert [k["SSHPublicKeyId"] for k in listed["SSHPublicKeys"]] == [key_id]
    cred = aws_json(
        server, root, "iam", "create-service-specific-credential", "--user-name", "cli-ssh", "--service-name", "codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]
    password = cred["ServicePassword"]
    assert server.stop() == 0  # flushes the audit trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert password not in out.stdout and password not in server.log()
    events = [r for r in [json.loads(line) for line in out.stdout.splitlines()] if r["eventName"] == "CreateServiceSpecificCredential"]
    assert events[0]["responseElements"]["serviceSpecificCredential"]["servicePassword"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    for name in os.listdir(server.data_dir):
        path = os.path.join(server.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                assert password.encode() not in handle.read()
