"""Every IAM operation end to end: real boto3 against ``tessera serve`` (SQLite and
PostgreSQL), each call's response content and its main AWS errors, tags, filters,
boto3 paginators, and concurrent writers.

``test_every_registered_iam_operation_is_called_here`` keeps this module honest: an
operation registered in ``tessera.services`` but never called below fails the suite.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyotp
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from credmaterial import certificate_pem, private_key_pem, ssh_rsa
from policies import trust_account as trust
from policies import unique
from samlidp import Idp
from serverproc import Credentials, TesseraServer

import tessera.services.operations  # noqa: F401  (registers every handler)
from tessera.services.request import registered

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"
IAM_FULL = "arn:aws:iam::aws:policy/IAMFullAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


# -- helpers ------------------------------------------------------------------------
def failure(call: Callable[[], Any]) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the ClientError ``call`` raises."""
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"]), str(response["Error"]["Message"])


def code_of(call: Callable[[], Any]) -> str:
    return failure(call)[0]


def document(action: str = "s3:GetObject", effect: str = "Allow", resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]})


def padded(size: int, action: str = "s3:GetObject") -> str:
    """An identity policy of about ``size`` non-whitespace characters."""
    base = len(document(action).replace(" ", ""))
    return document(action, resource=f"arn:aws:s3:::{'x' * max(1, size - base - 13)}")


def policy_arn(server: TesseraServer, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{server.account_id}:policy{path}{name}"


def totp_pair(seed: bytes, offset: int = 0) -> tuple[str, str]:
    """Two consecutive TOTP codes ending ``offset`` steps from now."""
    totp = pyotp.TOTP(seed.decode())
    counter = int(time.time()) // 30 + offset
    return totp.generate_otp(counter - 1), totp.generate_otp(counter)


def enable_device(iam: Any, user: str, name: str) -> str:
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    code1, code2 = totp_pair(device["Base32StringSeed"])
    iam.enable_mfa_device(UserName=user, SerialNumber=device["SerialNumber"], AuthenticationCode1=code1, AuthenticationCode2=code2)
    return str(device["SerialNumber"])


# -- the meta-test --------------------------------------------------------------------
def iam_operations() -> list[str]:
    return sorted(spec.name for spec in registered() if spec.service == "iam")


def test_every_registered_iam_operation_is_called_here() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [op for op in iam_operations() if not re.search(rf"[.\"']{xform_name(op)}[(\"']", source)]
    assert len(iam_operations()) >= 80 and missing == []


# -- users ----------------------------------------------------------------------------
def test_user_create_get_list_update_and_delete(iam: Any, server: TesseraServer) -> None:
    name, path = unique("User"), f"/{unique('ops')}/"
    created = iam.create_user(UserName=name, Path=path, PermissionsBoundary=IAM_READ_ONLY, Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{server.account_id}:user{path}{name}" and created["Path"] == path
    assert created["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": IAM_READ_ONLY,
    }
    got = iam.get_user(UserName=name.lower())["User"]
    assert got["UserName"] == name and got["UserId"] == created["UserId"] and got["Tags"] == [{"Key": "team", "Value": "blue"}]
    listed = iam.list_users(PathPrefix=path)
    assert [u["UserName"] for u in listed["Users"]] == [name] and listed["IsTruncated"] is False
    assert "Tags" not in listed["Users"][0] and "PermissionsBoundary" not in listed["Users"][0]
    new_name, new_path = unique("Moved"), f"/{unique('moved')}/"
    iam.update_user(UserName=name, NewUserName=new_name, NewPath=new_path)
    moved = iam.get_user(UserName=new_name)["User"]
    assert moved["UserId"] == created["UserId"] and moved["Arn"].endswith(f":user{new_path}{new_name}")
    assert code_of(lambda: iam.get_user(UserName=name)) == "NoSuchEntity"
    iam.delete_user(UserName=new_name)
    assert failure(lambda: iam.get_user(UserName=new_name)) == ("NoSuchEntity", 404, f"The user with name {new_name} cannot be found.")


def test_get_user_without_name_describes_the_caller(iam: Any, server: TesseraServer) -> None:
    name = unique("self")
    creds = server.make_user(name, document("iam:GetUser", resource=f"arn:aws:iam::{server.account_id}:user/{name}"))
    assert server.client("iam", creds).get_user()["User"]["UserName"] == name
    root = iam.get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{server.account_id}:root" and root["UserId"] == server.account_id


def test_rename_keeps_keys_groups_and_policies(iam: Any) -> None:
    name, group, renamed = unique("ren"), unique("rengroup"), unique("renamed")
    iam.create_user(UserName=name)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document())
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_user(UserName=name, NewUserName=renamed)
    assert [k["UserName"] for k in iam.list_access_keys(UserName=renamed)["AccessKeyMetadata"]] == [renamed]
    assert iam.get_access_key_last_used(AccessKeyId=key)["UserName"] == renamed
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [renamed]
    assert iam.list_user_policies(UserName=renamed)["PolicyNames"] == ["p"]


def test_rename_changing_only_case_renames_everywhere(iam: Any) -> None:
    name = unique("CaseOnly")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_user(UserName=name, NewUserName=name.lower())
    assert iam.get_user(UserName=name)["User"]["UserName"] == name.lower()
    assert [k["UserName"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [name.lower()]
    assert iam.get_access_key_last_used(AccessKeyId=key)["UserName"] == name.lower()


def test_rename_to_an_existing_name_conflicts(iam: Any) -> None:
    first, second = unique("first"), unique("second")
    iam.create_user(UserName=first)
    iam.create_user(UserName=second)
    assert failure(lambda: iam.update_user(UserName=second, NewUserName=first.upper()))[:2] == ("EntityAlreadyExists", 409)
    assert iam.get_user(UserName=second)["User"]["UserName"] == second


def _create_user(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_user(UserName=name)


def _create_group(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_group(GroupName=name)


def _create_role(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(server.account_id))


def _create_policy(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_policy(PolicyName=name, PolicyDocument=document())


def _create_device(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_virtual_mfa_device(VirtualMFADeviceName=name)


def _create_instance_profile(iam: Any, server: TesseraServer, name: str) -> Any:
    return iam.create_instance_profile(InstanceProfileName=name)


CREATORS = [_create_user, _create_group, _create_role, _create_policy, _create_device, _create_instance_profile]


@pytest.mark.parametrize("create", CREATORS, ids=["user", "group", "role", "policy", "mfa-device", "instance-profile"])
def test_names_are_unique_case_insensitively(iam: Any, server: TesseraServer, create: Any) -> None:
    name = unique("Dup")
    create(iam, server, name)
    for again in (name, name.upper(), name.lower()):
        assert failure(lambda again=again: create(iam, server, again))[:2] == ("EntityAlreadyExists", 409)


VALIDATION_CASES = [
    ("user-name-pattern", "create_user", {"UserName": "has space"}, "userName"),
    ("user-name-length", "create_user", {"UserName": "u" * 65}, "userName"),
    ("user-path-pattern", "create_user", {"UserName": "pathless", "Path": "no-slashes"}, "path"),
    ("group-name-length", "create_group", {"GroupName": "g" * 129}, "groupName"),
    ("role-name-length", "create_role", {"RoleName": "r" * 65, "AssumeRolePolicyDocument": "{}"}, "roleName"),
    ("policy-name-pattern", "create_policy", {"PolicyName": "a/b", "PolicyDocument": document()}, "policyName"),
    ("policy-path-wildcard", "create_policy", {"PolicyName": "p", "Path": "/a*/", "PolicyDocument": document()}, "path"),
    ("role-description-length", "update_role_description", {"RoleName": "r", "Description": "d" * 1001}, "description"),
    ("max-session-duration", "update_role", {"RoleName": "r", "MaxSessionDuration": 43201}, "maxSessionDuration"),
    ("max-items", "list_users", {"MaxItems": 1001}, "maxItems"),
    ("tag-key-pattern", "tag_user", {"UserName": "u", "Tags": [{"Key": "bad#key", "Value": "v"}]}, "key"),
    ("version-id-pattern", "get_policy_version", {"PolicyArn": "arn:aws:iam::111122223333:policy/p", "VersionId": "x1"}, "versionId"),
    ("access-key-status", "update_access_key", {"AccessKeyId": "AKIAEXAMPLEEXAMPLE00", "Status": "Expired"}, "status"),
    ("mfa-device-name-pattern", "create_virtual_mfa_device", {"VirtualMFADeviceName": "my phone"}, "virtualMFADeviceName"),
    ("instance-profile-name-length", "create_instance_profile", {"InstanceProfileName": "p" * 129}, "instanceProfileName"),
    ("instance-profile-path", "create_instance_profile", {"InstanceProfileName": "p", "Path": "nope"}, "path"),
    ("mfa-serial-pattern", "get_mfa_device", {"SerialNumber": "arn:aws:iam::111122223333:mfa/my phone"}, "serialNumber"),
]


@pytest.mark.parametrize(("method", "kwargs", "member"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES])
def test_shape_violations_are_validation_errors(iam: Any, method: str, kwargs: dict[str, Any], member: str) -> None:
    code, status, message = failure(lambda: getattr(iam, method)(**kwargs))
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith("1 validation error detected: Value ") and member in message


# -- DeleteConflict -------------------------------------------------------------------
def _key(iam: Any, name: str) -> None:
    iam.create_access_key(UserName=name)


def _device(iam: Any, name: str) -> None:
    enable_device(iam, name, unique("conflict-dev"))


def _inline(kind: str) -> Callable[[Any, str], None]:
    def add(iam: Any, name: str) -> None:
        getattr(iam, f"put_{kind}_policy")(**{f"{kind.title()}Name": name, "PolicyName": "p", "PolicyDocument": document()})

    return add


def _attached(kind: str) -> Callable[[Any, str], None]:
    def add(iam: Any, name: str) -> None:
        getattr(iam, f"attach_{kind}_policy")(**{f"{kind.title()}Name": name, "PolicyArn": IAM_READ_ONLY})

    return add


def _membership(iam: Any, name: str) -> None:
    group = unique("holder")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)


def _member(iam: Any, name: str) -> None:
    user = unique("member")
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=name, UserName=user)


DELETE_CONFLICTS = [
    ("user-access-key", "user", _key, "must delete access keys first"),
    ("user-mfa-device", "user", _device, "must delete MFA device first"),
    ("user-inline-policy", "user", _inline("user"), "must delete policies first"),
    ("user-attached-policy", "user", _attached("user"), "must detach all policies first"),
    ("user-group-membership", "user", _membership, "must remove users from group first"),
    ("group-member", "group", _member, "must remove users from group first"),
    ("group-inline-policy", "group", _inline("group"), "must delete policies first"),
    ("group-attached-policy", "group", _attached("group"), "must detach all policies first"),
    ("role-inline-policy", "role", _inline("role"), "must delete policies first"),
]


@pytest.mark.parametrize(("kind", "subordinate", "message"), [c[1:] for c in DELETE_CONFLICTS], ids=[c[0] for c in DELETE_CONFLICTS])
def test_delete_refused_while_subordinates_remain(iam: Any, server: TesseraServer, kind: str, subordinate: Any, message: str) -> None:
    name = unique(f"del{kind}")
    {"user": _create_user, "group": _create_group, "role": _create_role}[kind](iam, server, name)
    subordinate(iam, name)
    code, status, text = failure(lambda: getattr(iam, f"delete_{kind}")(**{f"{kind.title()}Name": name}))
    assert (code, status) == ("DeleteConflict", 409) and message in text


# -- access keys ----------------------------------------------------------------------
def test_access_key_lifecycle(iam: Any, server: TesseraServer) -> None:
    name = unique("keyuser")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert key["UserName"] == name and key["Status"] == "Active" and key["AccessKeyId"].startswith("AKIA")
    assert len(key["SecretAccessKey"]) == 40
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Inactive")]
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last["UserName"] == name and last["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    assert failure(lambda: iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"]))[:2] == ("NoSuchEntity", 404)


def test_inactive_keys_count_towards_the_two_key_limit(iam: Any) -> None:
    name = unique("twokeys")
    iam.create_user(UserName=name)
    first = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=name, AccessKeyId=first, Status="Inactive")
    iam.create_access_key(UserName=name)
    assert failure(lambda: iam.create_access_key(UserName=name)) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")


def test_a_user_manages_its_own_keys_without_naming_itself(server: TesseraServer) -> None:
    name = unique("selfkeys")
    own = f"arn:aws:iam::{server.account_id}:user/{name}"
    client = server.client("iam", server.make_user(name, document("iam:*AccessKey*", resource=own)))
    created = client.create_access_key()["AccessKey"]
    assert created["UserName"] == name
    assert len(client.list_access_keys()["AccessKeyMetadata"]) == 2
    client.delete_access_key(AccessKeyId=created["AccessKeyId"])


@pytest.mark.parametrize("method", ["list_access_keys", "create_access_key"], ids=["list", "create"])
def test_access_keys_of_a_missing_user(iam: Any, method: str) -> None:
    name = unique("ghost")
    assert failure(lambda: getattr(iam, method)(UserName=name)) == ("NoSuchEntity", 404, f"The user with name {name} cannot be found.")


def test_key_of_another_user_is_not_found(iam: Any) -> None:
    owner, other = unique("owner"), unique("other")
    iam.create_user(UserName=owner)
    iam.create_user(UserName=other)
    key = iam.create_access_key(UserName=owner)["AccessKey"]["AccessKeyId"]
    assert code_of(lambda: iam.update_access_key(UserName=other, AccessKeyId=key, Status="Inactive")) == "NoSuchEntity"
    assert code_of(lambda: iam.get_access_key_last_used(AccessKeyId="AKIA" + "Z" * 16)) == "NoSuchEntity"


# -- signing certificates, SSH public keys, service-specific credentials --------------
def test_signing_certificate_lifecycle(iam: Any) -> None:
    name = unique("signer")
    iam.create_user(UserName=name)
    cert = iam.upload_signing_certificate(UserName=name, CertificateBody=certificate_pem(20))["Certificate"]
    iam.update_signing_certificate(UserName=name, CertificateId=cert["CertificateId"], Status="Inactive")
    listed = iam.list_signing_certificates(UserName=name)["Certificates"]
    assert [(c["CertificateId"], c["Status"], c["UserName"]) for c in listed] == [(cert["CertificateId"], "Inactive", name)]
    assert code_of(lambda: iam.list_signing_certificates(UserName=unique("nobody"))) == "NoSuchEntity"
    iam.delete_signing_certificate(UserName=name, CertificateId=cert["CertificateId"])
    assert failure(lambda: iam.delete_signing_certificate(UserName=name, CertificateId=cert["CertificateId"]))[:2] == ("NoSuchEntity", 404)


def test_ssh_public_key_lifecycle(iam: Any) -> None:
    name = unique("ssh")
    iam.create_user(UserName=name)
    key = iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=ssh_rsa(20))["SSHPublicKey"]
    key_id = key["SSHPublicKeyId"]
    assert iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=key_id, Encoding="SSH")["SSHPublicKey"]["Fingerprint"] == key["Fingerprint"]
    iam.update_ssh_public_key(UserName=name, SSHPublicKeyId=key_id, Status="Inactive")
    assert [k["Status"] for k in iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"]] == ["Inactive"]
    assert code_of(lambda: iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=key_id, Encoding="DER")) == "ValidationError"
    iam.delete_ssh_public_key(UserName=name, SSHPublicKeyId=key_id)
    assert iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"] == []


def test_service_specific_credential_lifecycle(iam: Any, server: TesseraServer) -> None:
    name = unique("svc")
    iam.create_user(UserName=name)
    cred = iam.create_service_specific_credential(UserName=name, ServiceName="cassandra.amazonaws.com")["ServiceSpecificCredential"]
    cred_id = cred["ServiceSpecificCredentialId"]
    assert cred["ServiceName"] == "cassandra.amazonaws.com" and cred["ServiceUserName"] == f"{name}-at-{server.account_id}"
    new = iam.reset_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id)["ServiceSpecificCredential"]
    assert new["ServicePassword"] != cred["ServicePassword"]
    iam.update_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id, Status="Inactive")
    listed = iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]
    assert [(c["ServiceSpecificCredentialId"], c["Status"]) for c in listed] == [(cred_id, "Inactive")]
    iam.delete_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id)
    code, status, _ = failure(lambda: iam.delete_service_specific_credential(UserName=name, ServiceSpecificCredentialId=cred_id))
    assert (code, status) == ("NoSuchEntity", 404)


def test_server_certificate_lifecycle(iam: Any, server: TesseraServer) -> None:
    name, path = unique("tls"), f"/{unique('srv')}/"
    body, key = certificate_pem(21), private_key_pem(21)
    up = iam.upload_server_certificate(ServerCertificateName=name, Path=path, CertificateBody=body, PrivateKey=key)
    meta = up["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{server.account_id}:server-certificate{path}{name}" and meta["ServerCertificateId"].startswith(
        "ASCA"
    )
    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert got["CertificateBody"] == body and got["ServerCertificateMetadata"]["ServerCertificateId"] == meta["ServerCertificateId"]
    assert (
        code_of(lambda: iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key))
        == "EntityAlreadyExists"
    )
    bad = failure(
        lambda: iam.upload_server_certificate(ServerCertificateName=unique("x"), CertificateBody=body, PrivateKey=private_key_pem(22))
    )
    assert bad[:2] == ("KeyPairMismatch", 400)
    iam.tag_server_certificate(ServerCertificateName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_server_certificate(ServerCertificateName=name, TagKeys=["a"])
    assert iam.list_server_certificate_tags(ServerCertificateName=name)["Tags"] == [{"Key": "b", "Value": "2"}]
    renamed = unique("tls")
    iam.update_server_certificate(ServerCertificateName=name, NewServerCertificateName=renamed)
    listed = iam.list_server_certificates(PathPrefix=path)["ServerCertificateMetadataList"]
    assert [m["ServerCertificateName"] for m in listed] == [renamed]
    iam.delete_server_certificate(ServerCertificateName=renamed)
    assert failure(lambda: iam.get_server_certificate(ServerCertificateName=renamed))[:2] == ("NoSuchEntity", 404)


# -- SAML providers (more in test_sts_saml.py) ----------------------------------------
def test_saml_provider_lifecycle(iam: Any, server: TesseraServer) -> None:
    metadata = Idp().metadata()
    name = unique("saml")
    arn = iam.create_saml_provider(Name=name, SAMLMetadataDocument=metadata)["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:saml-provider/{name}"
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == metadata
    assert arn in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]
    assert code_of(lambda: iam.create_saml_provider(Name=name.upper(), SAMLMetadataDocument=metadata)) == "EntityAlreadyExists"
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["a"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=metadata)
    iam.delete_saml_provider(SAMLProviderArn=arn)
    assert failure(lambda: iam.get_saml_provider(SAMLProviderArn=arn))[:2] == ("NoSuchEntity", 404)


# -- OpenID Connect providers (more in test_iam_oidc_providers.py) ----------------------
def test_oidc_provider_lifecycle(iam: Any, server: TesseraServer) -> None:
    url = f"https://{unique('idp').lower()}.example.test/realm"
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["app"], ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:oidc-provider/{url.removeprefix('https://')}"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["b" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == ["other"] and got["ThumbprintList"] == ["b" * 40]
    assert arn in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["a"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert failure(lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn))[:2] == ("NoSuchEntity", 404)


# -- groups ---------------------------------------------------------------------------
def test_group_lifecycle_and_membership(iam: Any, server: TesseraServer) -> None:
    group, user, path = unique("Grp"), unique("guser"), f"/{unique('gp')}/"
    created = iam.create_group(GroupName=group, Path=path)["Group"]
    assert created["Arn"] == f"arn:aws:iam::{server.account_id}:group{path}{group}"
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group.lower(), UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)  # idempotent
    got = iam.get_group(GroupName=group)
    assert got["Group"]["GroupId"] == created["GroupId"] and [u["UserName"] for u in got["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups(PathPrefix=path)["Groups"]] == [group]
    renamed, new_path = unique("Renamed"), f"/{unique('np')}/"
    iam.update_group(GroupName=group, NewGroupName=renamed, NewPath=new_path)
    groups = iam.list_groups_for_user(UserName=user)["Groups"]
    assert [(g["GroupName"], g["Path"], g["GroupId"]) for g in groups] == [(renamed, new_path, created["GroupId"])]
    assert code_of(lambda: iam.get_group(GroupName=group)) == "NoSuchEntity"
    iam.remove_user_from_group(GroupName=renamed, UserName=user)
    assert iam.get_group(GroupName=renamed)["Users"] == []
    iam.delete_group(GroupName=renamed)
    assert failure(lambda: iam.delete_group(GroupName=renamed))[:2] == ("NoSuchEntity", 404)


def test_group_membership_errors(iam: Any) -> None:
    group, user, ghost = unique("mg"), unique("mu"), unique("ghost")
    iam.create_group(GroupName=group)
    iam.create_user(UserName=user)
    assert failure(lambda: iam.add_user_to_group(GroupName=group, UserName=ghost))[2] == (f"The user with name {ghost} cannot be found.")
    assert failure(lambda: iam.remove_user_from_group(GroupName=group, UserName=user)) == (
        "NoSuchEntity",
        404,
        f"The user with name {user} cannot be found in group {group}.",
    )
    assert code_of(lambda: iam.list_groups_for_user(UserName=ghost)) == "NoSuchEntity"
    other = unique("og")
    iam.create_group(GroupName=other)
    assert code_of(lambda: iam.update_group(GroupName=other, NewGroupName=group.upper())) == "EntityAlreadyExists"


def test_a_user_belongs_to_at_most_ten_groups(iam: Any) -> None:
    user = unique("joiner")
    iam.create_user(UserName=user)
    for _ in range(10):
        group = unique("many")
        iam.create_group(GroupName=group)
        iam.add_user_to_group(GroupName=group, UserName=user)
    extra = unique("eleventh")
    iam.create_group(GroupName=extra)
    assert failure(lambda: iam.add_user_to_group(GroupName=extra, UserName=user)) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for GroupsPerUser: 10",
    )


# -- roles ----------------------------------------------------------------------------
def test_role_lifecycle(iam: Any, server: TesseraServer) -> None:
    name, path = unique("Role"), f"/{unique('rp')}/"
    role = iam.create_role(
        RoleName=name,
        Path=path,
        AssumeRolePolicyDocument=trust(server.account_id),
        Description="first",
        MaxSessionDuration=7200,
        PermissionsBoundary=IAM_READ_ONLY,
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{server.account_id}:role{path}{name}" and role["RoleId"].startswith("AROA")
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == IAM_READ_ONLY
    listed = iam.list_roles(PathPrefix=path)["Roles"]
    assert [r["RoleName"] for r in listed] == [name] and "PermissionsBoundary" not in listed[0]
    iam.update_role(RoleName=name, Description="second", MaxSessionDuration=43200)
    got = iam.get_role(RoleName=name.upper())["Role"]
    assert (got["Description"], got["MaxSessionDuration"], got["RoleLastUsed"]) == ("second", 43200, {})
    assert iam.update_role_description(RoleName=name, Description="third")["Role"]["Description"] == "third"
    user = unique("trusted")
    iam.create_user(UserName=user)
    new_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/{user}"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    iam.delete_role(RoleName=name)
    assert failure(lambda: iam.get_role(RoleName=name)) == ("NoSuchEntity", 404, f"The role with name {name} cannot be found.")


def _statement(**fields: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [fields]})


TRUST_ERRORS = [
    (
        "resource-prohibited",
        _statement(Effect="Allow", Principal={"AWS": "arn:aws:iam::111122223333:root"}, Action="sts:AssumeRole", Resource="*"),
        "MalformedPolicyDocument",
        "Resource",
    ),
    (
        "unknown-user",
        _statement(Effect="Allow", Principal={"AWS": "arn:aws:iam::111122223333:user/nobody-here"}, Action="sts:AssumeRole"),
        "MalformedPolicyDocument",
        'Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/nobody-here"',
    ),
    ("not-json", "{", "MalformedPolicyDocument", ""),
    (
        "too-large",
        _statement(Effect="Allow", Principal={"AWS": ["arn:aws:iam::111122223333:root"] * 60}, Action="sts:AssumeRole"),
        "LimitExceeded",
        "ACLSizePerRole: 2048",
    ),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), [c[1:] for c in TRUST_ERRORS], ids=[c[0] for c in TRUST_ERRORS])
def test_trust_policy_errors_on_create_and_update(iam: Any, server: TesseraServer, text: str, expected: str, fragment: str) -> None:
    name = unique("trusty")
    code, _, message = failure(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=text))
    assert code == expected and fragment in message
    _create_role(iam, server, name)
    code, _, message = failure(lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=text))
    assert code == expected and fragment in message


@pytest.mark.parametrize("method", ["update_role", "update_role_description", "delete_role", "get_role"])
def test_missing_role(iam: Any, method: str) -> None:
    name = unique("norole")
    kwargs = {"RoleName": name, **({"Description": "d"} if method == "update_role_description" else {})}
    assert failure(lambda: getattr(iam, method)(**kwargs))[:2] == ("NoSuchEntity", 404)


# -- managed policies and versions ----------------------------------------------------
def test_managed_policy_create_get_list_delete(iam: Any, server: TesseraServer) -> None:
    name, path = unique("Pol"), f"/{unique('pp')}/"
    created = iam.create_policy(
        PolicyName=name, Path=path, PolicyDocument=document(), Description="about", Tags=[{"Key": "k", "Value": "v"}]
    )["Policy"]
    arn = policy_arn(server, name, path)
    assert (created["Arn"], created["DefaultVersionId"], created["AttachmentCount"], created["IsAttachable"]) == (arn, "v1", 0, True)
    assert created["PolicyId"].startswith("ANPA")
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "about" and got["Tags"] == [{"Key": "k", "Value": "v"}]
    listed = iam.list_policies(Scope="Local", PathPrefix=path)["Policies"]
    assert [p["PolicyName"] for p in listed] == [name] and "Tags" not in listed[0]
    assert iam.list_policies(Scope="AWS", PathPrefix=path)["Policies"] == []
    iam.delete_policy(PolicyArn=arn)
    assert failure(lambda: iam.get_policy(PolicyArn=arn)) == ("NoSuchEntity", 404, f"Policy {arn} was not found.")


def test_policy_versions(iam: Any, server: TesseraServer) -> None:
    name = unique("ver")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=document())["Policy"]["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("s3:PutObject"), SetAsDefault=True)
    assert v2["PolicyVersion"]["VersionId"] == "v2" and v2["PolicyVersion"]["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("s3:ListBucket"))
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v3", False), ("v2", True), ("v1", False)]
    assert "Document" not in versions[0]
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    v1 = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v1["IsDefaultVersion"] and v1["Document"] == json.loads(document())
    iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document())
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v4", "v2", "v1"]
    assert failure(lambda: iam.get_policy_version(PolicyArn=arn, VersionId="v3")) == (
        "NoSuchEntity",
        404,
        f"Policy {arn} version v3 does not exist or is not attachable.",
    )
    assert code_of(lambda: iam.set_default_policy_version(PolicyArn=arn, VersionId="v9")) == "NoSuchEntity"
    assert failure(lambda: iam.delete_policy_version(PolicyArn=arn, VersionId="v1")) == (
        "DeleteConflict",
        409,
        "Cannot delete the default version of a policy.",
    )


def test_five_versions_at_most(iam: Any) -> None:
    arn = iam.create_policy(PolicyName=unique("five"), PolicyDocument=document())["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document())
    code, status, message = failure(lambda: iam.create_policy_version(PolicyArn=arn, PolicyDocument=document()))
    assert (code, status) == ("LimitExceeded", 409) and message.startswith("A managed policy can have up to 5 versions.")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=document())["PolicyVersion"]["VersionId"] == "v6"


@pytest.mark.parametrize("use", ["attached", "boundary"])
def test_policy_in_use_cannot_be_deleted(iam: Any, use: str) -> None:
    arn = iam.create_policy(PolicyName=unique("used"), PolicyDocument=document())["Policy"]["Arn"]
    user = unique("user-of")
    iam.create_user(UserName=user)
    if use == "attached":
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
    else:
        iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=arn)
    assert failure(lambda: iam.delete_policy(PolicyArn=arn)) == ("DeleteConflict", 409, "Cannot delete a policy attached to entities.")


POLICY_DOCUMENT_ERRORS = [
    ("syntax", '{"Version": "2012-10-17", "Statement": [}', "MalformedPolicyDocument"),
    ("principal-in-identity-policy", _statement(Effect="Allow", Principal="*", Action="s3:*", Resource="*"), "MalformedPolicyDocument"),
    ("bad-effect", _statement(Effect="Maybe", Action="s3:*", Resource="*"), "MalformedPolicyDocument"),
    ("no-action", _statement(Effect="Allow", Resource="*"), "MalformedPolicyDocument"),
    ("unknown-version", json.dumps({"Version": "2020-01-01", "Statement": []}), "MalformedPolicyDocument"),
    (
        "unknown-condition-operator",
        _statement(Effect="Allow", Action="s3:*", Resource="*", Condition={"StringSorta": {"aws:username": "x"}}),
        "MalformedPolicyDocument",
    ),
    ("over-6144", padded(6300), "LimitExceeded"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in POLICY_DOCUMENT_ERRORS], ids=[c[0] for c in POLICY_DOCUMENT_ERRORS])
def test_bad_managed_policy_documents(iam: Any, text: str, expected: str) -> None:
    assert code_of(lambda: iam.create_policy(PolicyName=unique("bad"), PolicyDocument=text)) == expected
    arn = iam.create_policy(PolicyName=unique("good"), PolicyDocument=document())["Policy"]["Arn"]
    assert code_of(lambda: iam.create_policy_version(PolicyArn=arn, PolicyDocument=text)) == expected


AWS_POLICY_CHANGES = [
    ("delete", "delete_policy", {}),
    ("create-version", "create_policy_version", {"PolicyDocument": document()}),
    ("set-default", "set_default_policy_version", {"VersionId": "v1"}),
    ("delete-version", "delete_policy_version", {"VersionId": "v1"}),
    ("tag", "tag_policy", {"Tags": [{"Key": "k", "Value": "v"}]}),
    ("untag", "untag_policy", {"TagKeys": ["k"]}),
]


@pytest.mark.parametrize(("method", "kwargs"), [c[1:] for c in AWS_POLICY_CHANGES], ids=[c[0] for c in AWS_POLICY_CHANGES])
def test_aws_managed_policies_are_read_only(iam: Any, method: str, kwargs: dict[str, Any]) -> None:
    code, status, message = failure(lambda: getattr(iam, method)(PolicyArn=IAM_FULL, **kwargs))
    assert (code, status) == ("InvalidInput", 400) and "AWS managed policy" in message


@pytest.mark.parametrize("arn", ["arn:aws:iam::111122223333:user/not-a-policy", "arn:aws:s3:::bucket/policy/x"], ids=["user-arn", "s3-arn"])
def test_non_policy_arns_are_invalid_input(iam: Any, arn: str) -> None:
    assert failure(lambda: iam.get_policy(PolicyArn=arn)) == ("InvalidInput", 400, f"ARN {arn} is not valid.")


def test_list_policies_usage_filters(iam: Any, server: TesseraServer) -> None:
    path = f"/{unique('usage')}/"
    attached, bounding, idle = (
        iam.create_policy(PolicyName=unique(n), Path=path, PolicyDocument=document())["Policy"]["Arn"] for n in ("att", "bnd", "idle")
    )
    user = unique("usage-user")
    iam.create_user(UserName=user, PermissionsBoundary=bounding)
    iam.attach_user_policy(UserName=user, PolicyArn=attached)

    def arns(**kwargs: Any) -> set[str]:
        return {p["Arn"] for p in iam.list_policies(Scope="Local", PathPrefix=path, **kwargs)["Policies"]}

    assert arns() == {attached, bounding, idle}
    assert arns(OnlyAttached=True) == {attached, bounding}
    assert arns(PolicyUsageFilter="PermissionsPolicy") == {attached}
    assert arns(PolicyUsageFilter="PermissionsBoundary") == {bounding}
    got = iam.get_policy(PolicyArn=bounding)["Policy"]
    assert (got["AttachmentCount"], got["PermissionsBoundaryUsageCount"]) == (0, 1)


# -- tags -----------------------------------------------------------------------------
TAGGABLES = ["user", "role", "policy", "instance-profile", "mfa-device"]
TAG_OPS = {  # kind → (tag, untag, list tags)
    "user": ("tag_user", "untag_user", "list_user_tags"),
    "role": ("tag_role", "untag_role", "list_role_tags"),
    "policy": ("tag_policy", "untag_policy", "list_policy_tags"),
    "instance-profile": ("tag_instance_profile", "untag_instance_profile", "list_instance_profile_tags"),
    "mfa-device": ("tag_mfa_device", "untag_mfa_device", "list_mfa_device_tags"),
}


def _taggable(iam: Any, server: TesseraServer, kind: str) -> dict[str, str]:
    """Create one taggable entity; return the member that names it."""
    name = unique(f"tag{kind}")
    if kind == "policy":
        return {"PolicyArn": _create_policy(iam, server, name)["Policy"]["Arn"]}
    if kind == "instance-profile":
        _create_instance_profile(iam, server, name)
        return {"InstanceProfileName": name}
    if kind == "mfa-device":
        return {"SerialNumber": _create_device(iam, server, name)["VirtualMFADevice"]["SerialNumber"]}
    {"user": _create_user, "role": _create_role}[kind](iam, server, name)
    return {f"{kind.title()}Name": name}


@pytest.mark.parametrize("kind", TAGGABLES)
def test_tag_list_untag(iam: Any, server: TesseraServer, kind: str) -> None:
    target = _taggable(iam, server, kind)
    tag, untag, list_tags = (getattr(iam, op) for op in TAG_OPS[kind])
    tag(**target, Tags=[{"Key": "Dept", "Value": "eng"}, {"Key": "env", "Value": "prod"}])
    tag(**target, Tags=[{"Key": "dept", "Value": "ops"}])  # keys are case-insensitive: replaces Dept
    assert sorted((t["Key"], t["Value"]) for t in list_tags(**target)["Tags"]) == [("dept", "ops"), ("env", "prod")]
    untag(**target, TagKeys=["DEPT", "absent"])
    assert list_tags(**target)["Tags"] == [{"Key": "env", "Value": "prod"}]


@pytest.mark.parametrize("kind", TAGGABLES)
def test_tag_errors(iam: Any, server: TesseraServer, kind: str) -> None:
    target = _taggable(iam, server, kind)
    tag = getattr(iam, TAG_OPS[kind][0])
    assert failure(lambda: tag(**target, Tags=[{"Key": "aws:team", "Value": "x"}]))[:2] == ("InvalidInput", 400)
    assert code_of(lambda: tag(**target, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])) == "InvalidInput"
    tag(**target, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert failure(lambda: tag(**target, Tags=[{"Key": "one-more", "Value": "v"}]))[:2] == ("LimitExceeded", 409)
    tag(**target, Tags=[{"Key": "K0", "Value": "replaced"}])  # replacing keeps the count at 50


@pytest.mark.parametrize("kind", TAGGABLES)
def test_tagging_a_missing_entity(iam: Any, server: TesseraServer, kind: str) -> None:
    missing = {
        "policy": {"PolicyArn": policy_arn(server, unique("gone"))},
        "instance-profile": {"InstanceProfileName": unique("gone")},
        "mfa-device": {"SerialNumber": f"arn:aws:iam::{server.account_id}:mfa/{unique('gone')}"},
    }
    target = missing.get(kind) or {f"{kind.title()}Name": unique("gone")}
    tag, untag, list_tags = (getattr(iam, op) for op in TAG_OPS[kind])
    assert code_of(lambda: tag(**target, Tags=[{"Key": "k", "Value": "v"}])) == "NoSuchEntity"
    assert code_of(lambda: untag(**target, TagKeys=["k"])) == "NoSuchEntity"
    assert code_of(lambda: list_tags(**target)) == "NoSuchEntity"


# -- inline policies ------------------------------------------------------------------
HOLDERS = ["user", "group", "role"]
INLINE_OPS = {  # kind → (put, get, delete, list)
    "user": ("put_user_policy", "get_user_policy", "delete_user_policy", "list_user_policies"),
    "group": ("put_group_policy", "get_group_policy", "delete_group_policy", "list_group_policies"),
    "role": ("put_role_policy", "get_role_policy", "delete_role_policy", "list_role_policies"),
}
ATTACH_OPS = {  # kind → (attach, detach, list attached)
    "user": ("attach_user_policy", "detach_user_policy", "list_attached_user_policies"),
    "group": ("attach_group_policy", "detach_group_policy", "list_attached_group_policies"),
    "role": ("attach_role_policy", "detach_role_policy", "list_attached_role_policies"),
}
BOUNDARY_OPS = {  # kind → (put, delete, get entity)
    "user": ("put_user_permissions_boundary", "delete_user_permissions_boundary", "get_user"),
    "role": ("put_role_permissions_boundary", "delete_role_permissions_boundary", "get_role"),
}


def _holder(iam: Any, server: TesseraServer, kind: str) -> dict[str, str]:
    name = unique(f"hold{kind}")
    {"user": _create_user, "group": _create_group, "role": _create_role}[kind](iam, server, name)
    return {f"{kind.title()}Name": name}


@pytest.mark.parametrize("kind", HOLDERS)
def test_inline_policy_put_get_list_replace_delete(iam: Any, server: TesseraServer, kind: str) -> None:
    holder = _holder(iam, server, kind)
    put, get, delete, listing = (getattr(iam, op) for op in INLINE_OPS[kind])
    put(**holder, PolicyName="b", PolicyDocument=document())
    put(**holder, PolicyName="a", PolicyDocument=document())
    put(**holder, PolicyName="b", PolicyDocument=document("s3:PutObject"))
    got = get(**holder, PolicyName="b")
    assert got["PolicyName"] == "b" and got["PolicyDocument"] == json.loads(document("s3:PutObject"))
    assert got[f"{kind.title()}Name"] == next(iter(holder.values()))
    assert listing(**holder)["PolicyNames"] == ["a", "b"]
    delete(**holder, PolicyName="b")
    assert failure(lambda: get(**holder, PolicyName="b")) == ("NoSuchEntity", 404, f"The {kind} policy with name b cannot be found.")
    assert code_of(lambda: delete(**holder, PolicyName="b")) == "NoSuchEntity"
    assert code_of(lambda: put(**holder, PolicyName="bad", PolicyDocument="{")) == "MalformedPolicyDocument"


@pytest.mark.parametrize(("kind", "limit"), [("group", 5120), ("role", 10240)])
def test_inline_policies_share_a_size_budget(iam: Any, server: TesseraServer, kind: str, limit: int) -> None:
    holder = _holder(iam, server, kind)
    put = getattr(iam, INLINE_OPS[kind][0])
    put(**holder, PolicyName="half", PolicyDocument=padded(limit // 2 + 50))
    code, status, message = failure(lambda: put(**holder, PolicyName="other", PolicyDocument=padded(limit // 2 + 50)))
    assert (code, status) == ("LimitExceeded", 409) and f"Maximum policy size of {limit} bytes exceeded" in message
    put(**holder, PolicyName="half", PolicyDocument=padded(limit - 200))  # replacing is measured without the old text


@pytest.mark.parametrize("kind", HOLDERS)
def test_inline_policy_of_a_missing_entity(iam: Any, kind: str) -> None:
    holder = {f"{kind.title()}Name": unique("missing")}
    put, get, delete, listing = (getattr(iam, op) for op in INLINE_OPS[kind])
    assert code_of(lambda: put(**holder, PolicyName="p", PolicyDocument=document())) == "NoSuchEntity"
    assert code_of(lambda: get(**holder, PolicyName="p")) == "NoSuchEntity"
    assert code_of(lambda: delete(**holder, PolicyName="p")) == "NoSuchEntity"
    assert code_of(lambda: listing(**holder)) == "NoSuchEntity"


# -- attachments and boundaries -------------------------------------------------------
@pytest.mark.parametrize("kind", HOLDERS)
def test_attach_list_detach(iam: Any, server: TesseraServer, kind: str) -> None:
    holder = _holder(iam, server, kind)
    path = f"/{unique('ap')}/"
    mine = iam.create_policy(PolicyName=unique("mine"), Path=path, PolicyDocument=document())["Policy"]
    attach, detach, listing = (getattr(iam, op) for op in ATTACH_OPS[kind])
    attach(**holder, PolicyArn=mine["Arn"])
    attach(**holder, PolicyArn=mine["Arn"])  # idempotent
    attach(**holder, PolicyArn=READ_ONLY)
    assert listing(**holder, PathPrefix=path)["AttachedPolicies"] == [{"PolicyName": mine["PolicyName"], "PolicyArn": mine["Arn"]}]
    assert {p["PolicyArn"] for p in listing(**holder)["AttachedPolicies"]} == {mine["Arn"], READ_ONLY}
    assert iam.get_policy(PolicyArn=mine["Arn"])["Policy"]["AttachmentCount"] == 1
    detach(**holder, PolicyArn=mine["Arn"])
    assert failure(lambda: detach(**holder, PolicyArn=mine["Arn"])) == ("NoSuchEntity", 404, f"Policy {mine['Arn']} was not found.")
    missing = policy_arn(server, unique("nope"))
    assert failure(lambda: attach(**holder, PolicyArn=missing)) == (
        "NoSuchEntity",
        404,
        f"Policy {missing} does not exist or is not attachable.",
    )


def test_at_most_ten_attached_policies(iam: Any, server: TesseraServer) -> None:
    role = _holder(iam, server, "role")
    arns = [ADMIN, IAM_FULL, IAM_READ_ONLY, READ_ONLY] + [
        iam.create_policy(PolicyName=unique("ten"), PolicyDocument=document())["Policy"]["Arn"] for _ in range(7)
    ]
    for arn in arns[:10]:
        iam.attach_role_policy(**role, PolicyArn=arn)
    assert failure(lambda: iam.attach_role_policy(**role, PolicyArn=arns[10])) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for PoliciesPerRole: 10",
    )
    assert code_of(lambda: iam.delete_role(**role)) == "DeleteConflict"


@pytest.mark.parametrize("kind", ["user", "role"])
def test_permissions_boundary_put_replace_delete(iam: Any, server: TesseraServer, kind: str) -> None:
    holder = _holder(iam, server, kind)
    put, delete, get = (getattr(iam, op) for op in BOUNDARY_OPS[kind])

    def boundary() -> str | None:
        shape = get(**holder)[kind.title()].get("PermissionsBoundary")
        return None if shape is None else str(shape["PermissionsBoundaryArn"])

    delete(**holder)  # removing an unset boundary succeeds
    put(**holder, PermissionsBoundary=IAM_READ_ONLY)
    assert boundary() == IAM_READ_ONLY
    mine = iam.create_policy(PolicyName=unique("bound"), PolicyDocument=document())["Policy"]["Arn"]
    put(**holder, PermissionsBoundary=mine)
    assert boundary() == mine
    delete(**holder)
    assert boundary() is None
    missing = policy_arn(server, unique("nope"))
    assert code_of(lambda: put(**holder, PermissionsBoundary=missing)) == "NoSuchEntity"
    assert code_of(lambda: delete(**{f"{kind.title()}Name": unique("ghost")})) == "NoSuchEntity"


def test_list_entities_for_policy_filters(iam: Any, server: TesseraServer) -> None:
    arn = iam.create_policy(PolicyName=unique("shared"), PolicyDocument=document())["Policy"]["Arn"]
    path = f"/{unique('lef')}/"
    user, bounded, group, role = unique("leu"), unique("leb"), unique("leg"), unique("ler")
    iam.create_user(UserName=user, Path=path)
    iam.create_user(UserName=bounded, PermissionsBoundary=arn)
    iam.create_group(GroupName=group)
    _create_role(iam, server, role)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)

    def names(**kwargs: Any) -> tuple[list[str], list[str], list[str]]:
        out = iam.list_entities_for_policy(PolicyArn=arn, **kwargs)
        return (
            [u["UserName"] for u in out["PolicyUsers"]],
            [g["GroupName"] for g in out["PolicyGroups"]],
            [r["RoleName"] for r in out["PolicyRoles"]],
        )

    assert names() == (sorted([user, bounded], key=str.lower), [group], [role])
    assert names(EntityFilter="User") == (sorted([user, bounded], key=str.lower), [], [])
    assert names(EntityFilter="Group") == ([], [group], [])
    assert names(EntityFilter="Role") == ([], [], [role])
    assert names(PathPrefix=path) == ([user], [], [])
    assert names(PolicyUsageFilter="PermissionsPolicy") == ([user], [group], [role])
    assert names(PolicyUsageFilter="PermissionsBoundary") == ([bounded], [], [])
    ids = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")["PolicyRoles"][0]["RoleId"]
    assert ids == iam.get_role(RoleName=role)["Role"]["RoleId"]
    assert code_of(lambda: iam.list_entities_for_policy(PolicyArn=policy_arn(server, unique("x")))) == "NoSuchEntity"


# -- account views --------------------------------------------------------------------
def test_account_summary_counts_follow_changes(iam: Any) -> None:
    before = iam.get_account_summary()["SummaryMap"]
    iam.create_user(UserName=unique("counted"))
    iam.create_group(GroupName=unique("counted"))
    after = iam.get_account_summary()["SummaryMap"]
    assert (after["Users"], after["Groups"]) == (before["Users"] + 1, before["Groups"] + 1)
    assert after["VersionsPerPolicyQuota"] == 5 and after["AttachedPoliciesPerRoleQuota"] == 10


def test_account_authorization_details_filters(iam: Any, server: TesseraServer) -> None:
    user, group, role, name = unique("gu"), unique("gg"), unique("gr"), unique("gp")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=document())["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("s3:PutObject"), SetAsDefault=True)
    iam.create_user(UserName=user, Tags=[{"Key": "t", "Value": "1"}])
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_group_policy(GroupName=group, PolicyName="gpol", PolicyDocument=document())
    _create_role(iam, server, role)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=IAM_FULL)

    def details(*filters: str) -> dict[str, list[Any]]:
        pages = iam.get_paginator("get_account_authorization_details").paginate(Filter=list(filters))
        out: dict[str, list[Any]] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        for page in pages:
            for member in out:
                out[member] += page[member]
        return out

    roles_only = details("Role")
    assert roles_only["UserDetailList"] == roles_only["GroupDetailList"] == roles_only["Policies"] == []
    detail = next(r for r in roles_only["RoleDetailList"] if r["RoleName"] == role)
    assert detail["AssumeRolePolicyDocument"] == json.loads(trust(server.account_id))
    assert {p["PolicyArn"] for p in detail["AttachedManagedPolicies"]} == {arn, IAM_FULL}
    users = {u["UserName"]: u for u in details("User")["UserDetailList"]}
    assert users[user]["GroupList"] == [group] and users[user]["Tags"] == [{"Key": "t", "Value": "1"}]
    groups = {g["GroupName"]: g for g in details("Group")["GroupDetailList"]}
    assert groups[group]["GroupPolicyList"] == [{"PolicyName": "gpol", "PolicyDocument": json.loads(document())}]
    local = {p["Arn"]: p for p in details("LocalManagedPolicy")["Policies"]}
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in local[arn]["PolicyVersionList"]] == [("v2", True), ("v1", False)]
    assert local[arn]["PolicyVersionList"][0]["Document"] == json.loads(document("s3:PutObject"))
    aws = {p["Arn"] for p in details("AWSManagedPolicy")["Policies"]}
    assert IAM_FULL in aws and all(a.startswith("arn:aws:iam::aws:policy/") for a in aws)


# -- MFA devices ----------------------------------------------------------------------
def test_virtual_mfa_device_lifecycle(iam: Any, server: TesseraServer) -> None:
    user, name, path = unique("mfa"), unique("token"), f"/{unique('mp')}/"
    iam.create_user(UserName=user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path=path, Tags=[{"Key": "kind", "Value": "phone"}])[
        "VirtualMFADevice"
    ]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{server.account_id}:mfa{path}{name}" and len(device["Base32StringSeed"]) == 32
    assert device["Tags"] == [{"Key": "kind", "Value": "phone"}]
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert serial in [d["SerialNumber"] for d in unassigned]
    code1, code2 = totp_pair(device["Base32StringSeed"], offset=-1)
    iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
    assigned = {d["SerialNumber"]: d for d in iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]}
    assert assigned[serial]["User"]["UserName"] == user and "EnableDate" in assigned[serial]
    listed = iam.list_mfa_devices(UserName=user)["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in listed] == [(user, serial)]
    code3, code4 = totp_pair(device["Base32StringSeed"], offset=1)
    iam.resync_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1=code3, AuthenticationCode2=code4)
    assert (
        code_of(lambda: iam.resync_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1=code3, AuthenticationCode2=code4))
        == "InvalidAuthenticationCode"
    )
    other = unique("second-user")
    iam.create_user(UserName=other)
    assert failure(
        lambda: iam.enable_mfa_device(UserName=other, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
    ) == ("EntityAlreadyExists", 409, "MFA Device is already in use.")
    iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=user)["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert failure(lambda: iam.delete_virtual_mfa_device(SerialNumber=serial)) == (
        "NoSuchEntity",
        404,
        f"VirtualMFADevice with serial number {serial} doesn't exist.",
    )


def test_mfa_device_errors(iam: Any, server: TesseraServer) -> None:
    user = unique("mfaerr")
    iam.create_user(UserName=user)
    serial = f"arn:aws:iam::{server.account_id}:mfa/{unique('none')}"
    assert (
        code_of(
            lambda: iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321")
        )
        == "NoSuchEntity"
    )
    assert code_of(lambda: iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)) == "NoSuchEntity"
    assert code_of(lambda: iam.list_mfa_devices(UserName=unique("ghost"))) == "NoSuchEntity"
    assert failure(lambda: iam.list_mfa_devices())[:2] == ("ValidationError", 400)  # root must name the user


# -- the simulator --------------------------------------------------------------------
def test_simulate_principal_policy_combines_group_boundary_and_context(iam: Any, server: TesseraServer) -> None:
    user, group = unique("simu"), unique("simg")
    iam.create_user(UserName=user, PermissionsBoundary=IAM_READ_ONLY)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_group_policy(GroupName=group, PolicyName="gp", PolicyDocument=document("iam:*"))
    conditional = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:ListRoles",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
                }
            ],
        }
    )
    arn = f"arn:aws:iam::{server.account_id}:user/{user}"
    results = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["iam:GetUser", "iam:CreateUser"])
    got = {r["EvalActionName"]: r for r in results["EvaluationResults"]}
    assert got["iam:GetUser"]["EvalDecision"] == "allowed"
    assert got["iam:GetUser"]["MatchedStatements"][0]["SourcePolicyType"] == "group"
    assert got["iam:CreateUser"]["EvalDecision"] == "implicitDeny"
    assert got["iam:CreateUser"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    custom = iam.simulate_custom_policy(PolicyInputList=[conditional], ActionNames=["iam:ListRoles"])
    assert custom["EvaluationResults"][0]["MissingContextValues"] == ["aws:RequestedRegion"]
    entries = [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["eu-west-1"], "ContextKeyType": "string"}]
    custom = iam.simulate_custom_policy(PolicyInputList=[conditional], ActionNames=["iam:ListRoles"], ContextEntries=entries)
    assert custom["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_simulator_errors(iam: Any, server: TesseraServer) -> None:
    missing = f"arn:aws:iam::{server.account_id}:user/{unique('nobody')}"
    assert failure(lambda: iam.simulate_principal_policy(PolicySourceArn=missing, ActionNames=["s3:GetObject"])) == (
        "NoSuchEntity",
        404,
        f"PolicySourceArn {missing} does not exist.",
    )
    assert failure(lambda: iam.simulate_custom_policy(PolicyInputList=["{"], ActionNames=["s3:GetObject"]))[:2] == ("InvalidInput", 400)


# -- instance profiles ----------------------------------------------------------------
def test_instance_profile_lifecycle_and_errors(iam: Any, server: TesseraServer) -> None:
    name, role, path = unique("Prof"), unique("profrole"), f"/{unique('prof')}/"
    made = iam.create_instance_profile(InstanceProfileName=name, Path=path)["InstanceProfile"]
    assert made["Arn"] == f"arn:aws:iam::{server.account_id}:instance-profile{path}{name}" and made["Roles"] == []
    assert "Tags" not in made and made["InstanceProfileId"].startswith("AIPA")
    created_role = _create_role(iam, server, role)["Role"]
    iam.add_role_to_instance_profile(InstanceProfileName=name.lower(), RoleName=role.upper())
    got = iam.get_instance_profile(InstanceProfileName=name.upper())["InstanceProfile"]
    assert got["InstanceProfileName"] == name and [r["RoleId"] for r in got["Roles"]] == [created_role["RoleId"]]
    assert "Tags" not in got["Roles"][0] and "RoleLastUsed" not in got["Roles"][0]
    listed = iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"]
    assert [p["InstanceProfileId"] for p in listed] == [made["InstanceProfileId"]] and listed[0]["Roles"][0]["RoleName"] == role
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]] == [name]
    assert failure(lambda: iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
    )
    conflict = ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")
    assert failure(lambda: iam.delete_instance_profile(InstanceProfileName=name)) == conflict
    assert failure(lambda: iam.delete_role(RoleName=role)) == conflict
    gone = unique("gone")
    assert failure(lambda: iam.get_instance_profile(InstanceProfileName=gone)) == (
        "NoSuchEntity",
        404,
        f"Instance Profile {gone} cannot be found.",
    )
    assert code_of(lambda: iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=gone)) == "NoSuchEntity"
    assert code_of(lambda: iam.list_instance_profiles_for_role(RoleName=gone)) == "NoSuchEntity"
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    assert code_of(lambda: iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)) == "NoSuchEntity"
    iam.delete_role(RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=name)
    assert code_of(lambda: iam.delete_instance_profile(InstanceProfileName=name)) == "NoSuchEntity"


def test_get_mfa_device(iam: Any, server: TesseraServer) -> None:
    user, other = unique("getmfa"), unique("getmfa")
    iam.create_user(UserName=user)
    iam.create_user(UserName=other)
    serial = enable_device(iam, user, unique("getdev"))
    got = iam.get_mfa_device(SerialNumber=serial, UserName=user.upper())
    assert (got["UserName"], got["SerialNumber"]) == (user, serial) and got["EnableDate"].tzinfo is not None
    assert "Certifications" not in got
    assert failure(lambda: iam.get_mfa_device(SerialNumber=serial, UserName=other))[:2] == ("NoSuchEntity", 404)
    creds = server.make_user(unique("getmfaself"), document("iam:GetMFADevice", resource="arn:aws:iam::*:user/${aws:username}"))
    client = server.client("iam", creds)
    assert code_of(lambda: client.get_mfa_device(SerialNumber=serial)) == "NoSuchEntity"  # its own user has none
    assert code_of(lambda: client.get_mfa_device(SerialNumber=serial, UserName=user)) == "AccessDenied"


def test_simulator_answers_per_action_over_several_resources_as_aws(iam: Any, server: TesseraServer) -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"},
            ],
        }
    )
    resources = ["arn:aws:s3:::public/a", "arn:aws:s3:::secret/b"]
    results = iam.simulate_custom_policy(PolicyInputList=[text], ActionNames=["s3:GetObject", "s3:PutObject"], ResourceArns=resources)
    get, put = results["EvaluationResults"]
    assert (get["EvalActionName"], get["EvalDecision"], put["EvalDecision"]) == ("s3:GetObject", "explicitDeny", "implicitDeny")
    assert [(r["EvalResourceName"], r["EvalResourceDecision"]) for r in get["ResourceSpecificResults"]] == [
        ("arn:aws:s3:::public/a", "allowed"),
        ("arn:aws:s3:::secret/b", "explicitDeny"),
    ]
    assert get["MatchedStatements"] == get["ResourceSpecificResults"][1]["MatchedStatements"] and len(get["MatchedStatements"]) == 1
    assert get["EvalDecisionDetails"] == {}
    alone = iam.simulate_custom_policy(PolicyInputList=[text], ActionNames=["s3:GetObject"])["EvaluationResults"][0]
    assert alone["EvalResourceName"] == "*" and "ResourceSpecificResults" not in alone and "EvalDecisionDetails" not in alone


def test_simulator_accounts_variables_and_typed_context(iam: Any, server: TesseraServer) -> None:
    # a policy copied from AWS's docs (another account's table) is evaluated as written
    table = "arn:aws:dynamodb:us-west-2:123456789012:table/Books"
    assert server.account_id != "123456789012"
    copied = document("dynamodb:GetItem", resource=table)
    result = iam.simulate_custom_policy(PolicyInputList=[copied], ActionNames=["dynamodb:GetItem"], ResourceArns=[table])
    assert result["EvaluationResults"][0]["EvalDecision"] == "allowed"
    # with a resource policy of another account both sides must allow
    caller = f"arn:aws:iam::{server.account_id}:user/{unique('caller')}"
    bucket_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    cross = {"ResourcePolicy": bucket_policy, "ResourceOwner": "arn:aws:iam::444455556666:root", "CallerArn": caller}
    both = iam.simulate_custom_policy(
        PolicyInputList=[document()], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::b/k"], **cross
    )
    one = iam.simulate_custom_policy(
        PolicyInputList=[document("s3:PutObject")], ActionNames=["s3:GetObject"], ResourceArns=["arn:aws:s3:::b/k"], **cross
    )
    assert both["EvaluationResults"][0]["EvalDecision"] == "allowed"
    assert both["EvaluationResults"][0]["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert one["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    assert one["EvaluationResults"][0]["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}
    # ${aws:username} and ${aws:PrincipalTag/team} from the simulated user
    user = unique("simvar")
    iam.create_user(UserName=user, Tags=[{"Key": "team", "Value": "blue"}])
    home = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"},
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}, "NumericLessThan": {"s3:max-keys": "10"}},
                },
            ],
        }
    )
    iam.put_user_policy(UserName=user, PolicyName="home", PolicyDocument=home)
    arn = f"arn:aws:iam::{server.account_id}:user/{user}"
    resources = [f"arn:aws:s3:::home/{user}/x", "arn:aws:s3:::home/other/x"]
    got = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"], ResourceArns=resources)["EvaluationResults"][0]
    assert [r["EvalResourceDecision"] for r in got["ResourceSpecificResults"]] == ["allowed", "implicitDeny"]
    put = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:PutObject"])["EvaluationResults"][0]
    assert put["EvalDecision"] == "implicitDeny" and put["MissingContextValues"] == ["s3:max-keys"]
    entries = [{"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["5"], "ContextKeyType": "numeric"}]
    put = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:PutObject"], ContextEntries=entries)["EvaluationResults"][0]
    assert put["EvalDecision"] == "allowed" and put["MissingContextValues"] == []
    bad = [{"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["five"], "ContextKeyType": "numeric"}]
    assert failure(lambda: iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:PutObject"], ContextEntries=bad))[:2] == (
        "InvalidInput",
        400,
    )
    # the context keys the policies use
    assert iam.get_context_keys_for_principal_policy(PolicySourceArn=arn)["ContextKeyNames"] == [
        "aws:username",
        "aws:PrincipalTag/team",
        "s3:max-keys",
    ]
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[home, document()])["ContextKeyNames"] == [
        "aws:username",
        "aws:PrincipalTag/team",
        "s3:max-keys",
    ]
    assert failure(lambda: iam.get_context_keys_for_custom_policy(PolicyInputList=["{"]))[:2] == ("InvalidInput", 400)
    missing = f"arn:aws:iam::{server.account_id}:user/{unique('nobody')}"
    assert code_of(lambda: iam.get_context_keys_for_principal_policy(PolicySourceArn=missing)) == "NoSuchEntity"


def test_context_keys_for_principal_policy_needs_permission_on_the_principal(iam: Any, server: TesseraServer) -> None:
    target, actor = unique("ckt"), unique("cka")
    iam.create_user(UserName=target)
    iam.create_user(UserName=actor)
    target_arn = f"arn:aws:iam::{server.account_id}:user/{target}"
    iam.put_user_policy(UserName=actor, PolicyName="p", PolicyDocument=document("iam:GetContextKeysForCustomPolicy"))
    key = iam.create_access_key(UserName=actor)["AccessKey"]
    client = server.client("iam", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    assert failure(lambda: client.get_context_keys_for_principal_policy(PolicySourceArn=target_arn))[:2] == ("AccessDenied", 403)
    assert client.get_context_keys_for_custom_policy(PolicyInputList=[document()])["ContextKeyNames"] == []
    iam.put_user_policy(
        UserName=actor, PolicyName="p", PolicyDocument=document("iam:GetContextKeysForPrincipalPolicy", resource=target_arn)
    )
    assert client.get_context_keys_for_principal_policy(PolicySourceArn=target_arn)["ContextKeyNames"] == []
    assert failure(lambda: client.get_context_keys_for_custom_policy(PolicyInputList=[document()]))[:2] == ("AccessDenied", 403)


# -- pagination -----------------------------------------------------------------------
Setup = Callable[[Any, TesseraServer], tuple[dict[str, Any], list[str]]]


def _three(prefix: str) -> list[str]:
    return sorted((unique(prefix) for _ in range(3)), key=str.lower)


def _users(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    path, names = f"/{unique('pg')}/", _three("pu")
    for name in names:
        iam.create_user(UserName=name, Path=path)
    return {"PathPrefix": path}, names


def _groups(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    path, names = f"/{unique('pg')}/", _three("pg")
    for name in names:
        iam.create_group(GroupName=name, Path=path)
    return {"PathPrefix": path}, names


def _roles(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    path, names = f"/{unique('pg')}/", _three("pr")
    for name in names:
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust(server.account_id))
    return {"PathPrefix": path}, names


def _policies(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    path, names = f"/{unique('pg')}/", _three("pp")
    for name in names:
        iam.create_policy(PolicyName=name, Path=path, PolicyDocument=document())
    return {"PathPrefix": path, "Scope": "Local"}, names


def _members(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    group, names = unique("pgroup"), _three("pm")
    iam.create_group(GroupName=group)
    for name in names:
        iam.create_user(UserName=name)
        iam.add_user_to_group(GroupName=group, UserName=name)
    return {"GroupName": group}, names


def _groups_for_user(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    user, names = unique("pjoiner"), _three("pgu")
    iam.create_user(UserName=user)
    for name in names:
        iam.create_group(GroupName=name)
        iam.add_user_to_group(GroupName=name, UserName=user)
    return {"UserName": user}, names


def _access_keys(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    user = unique("pkeys")
    iam.create_user(UserName=user)
    ids = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)]  # the quota is 2
    return {"UserName": user}, ids


def _inline_names(kind: str) -> Setup:
    def setup(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
        holder = _holder(iam, server, kind)
        for name in ("p1", "p2", "p3"):
            getattr(iam, INLINE_OPS[kind][0])(**holder, PolicyName=name, PolicyDocument=document())
        return holder, ["p1", "p2", "p3"]

    return setup


def _attached_names(kind: str) -> Setup:
    def setup(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
        holder = _holder(iam, server, kind)
        names = _three("pa")
        for name in names:
            arn = iam.create_policy(PolicyName=name, PolicyDocument=document())["Policy"]["Arn"]
            getattr(iam, ATTACH_OPS[kind][0])(**holder, PolicyArn=arn)
        return holder, names

    return setup


def _tag_keys(kind: str) -> Setup:
    def setup(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
        target = _taggable(iam, server, kind)
        getattr(iam, TAG_OPS[kind][0])(**target, Tags=[{"Key": k, "Value": "v"} for k in ("t1", "t2", "t3")])
        return target, ["t1", "t2", "t3"]

    return setup


def _versions(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    arn = iam.create_policy(PolicyName=unique("pver"), PolicyDocument=document())["Policy"]["Arn"]
    for _ in range(2):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document())
    return {"PolicyArn": arn}, ["v3", "v2", "v1"]


def _entities(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    arn = iam.create_policy(PolicyName=unique("pent"), PolicyDocument=document())["Policy"]["Arn"]
    user, group, role = unique("peu"), unique("peg"), unique("per")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    _create_role(iam, server, role)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return {"PolicyArn": arn}, [group, role, user]


def _mfa_devices(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    user = unique("pmfa")
    iam.create_user(UserName=user)
    return {"UserName": user}, sorted(enable_device(iam, user, unique("pdev")) for _ in range(3))


def _simulated(method: str) -> Setup:
    actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]

    def setup(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
        if method == "custom":
            return {"PolicyInputList": [document()], "ActionNames": actions}, actions
        user = unique("psim")
        iam.create_user(UserName=user)
        return {"PolicySourceArn": f"arn:aws:iam::{server.account_id}:user/{user}", "ActionNames": actions}, actions

    return setup


def _instance_profiles(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    path, names = f"/{unique('pip')}/", _three("pip")
    for name in names:
        iam.create_instance_profile(InstanceProfileName=name, Path=path)
    return {"PathPrefix": path}, names


def _profiles_for_role(iam: Any, server: TesseraServer) -> tuple[dict[str, Any], list[str]]:
    role, names = unique("pipr"), _three("pipr")
    _create_role(iam, server, role)
    for name in names:
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    return {"RoleName": role}, names


def _entity_names(page: dict[str, Any]) -> list[str]:
    return (
        [g["GroupName"] for g in page["PolicyGroups"]]
        + [r["RoleName"] for r in page["PolicyRoles"]]
        + [u["UserName"] for u in page["PolicyUsers"]]
    )


PAGINATED: list[tuple[str, Setup, Callable[[dict[str, Any]], list[str]]]] = [
    ("list_users", _users, lambda p: [u["UserName"] for u in p["Users"]]),
    ("list_groups", _groups, lambda p: [g["GroupName"] for g in p["Groups"]]),
    ("list_roles", _roles, lambda p: [r["RoleName"] for r in p["Roles"]]),
    ("list_policies", _policies, lambda p: [x["PolicyName"] for x in p["Policies"]]),
    ("get_group", _members, lambda p: [u["UserName"] for u in p["Users"]]),
    ("list_groups_for_user", _groups_for_user, lambda p: [g["GroupName"] for g in p["Groups"]]),
    ("list_access_keys", _access_keys, lambda p: [k["AccessKeyId"] for k in p["AccessKeyMetadata"]]),
    ("list_user_policies", _inline_names("user"), lambda p: list(p["PolicyNames"])),
    ("list_group_policies", _inline_names("group"), lambda p: list(p["PolicyNames"])),
    ("list_role_policies", _inline_names("role"), lambda p: list(p["PolicyNames"])),
    ("list_attached_user_policies", _attached_names("user"), lambda p: [a["PolicyName"] for a in p["AttachedPolicies"]]),
    ("list_attached_group_policies", _attached_names("group"), lambda p: [a["PolicyName"] for a in p["AttachedPolicies"]]),
    ("list_attached_role_policies", _attached_names("role"), lambda p: [a["PolicyName"] for a in p["AttachedPolicies"]]),
    ("list_user_tags", _tag_keys("user"), lambda p: [t["Key"] for t in p["Tags"]]),
    ("list_role_tags", _tag_keys("role"), lambda p: [t["Key"] for t in p["Tags"]]),
    ("list_policy_tags", _tag_keys("policy"), lambda p: [t["Key"] for t in p["Tags"]]),
    ("list_policy_versions", _versions, lambda p: [v["VersionId"] for v in p["Versions"]]),
    ("list_entities_for_policy", _entities, _entity_names),
    ("list_mfa_devices", _mfa_devices, lambda p: [d["SerialNumber"] for d in p["MFADevices"]]),
    ("simulate_custom_policy", _simulated("custom"), lambda p: [r["EvalActionName"] for r in p["EvaluationResults"]]),
    ("simulate_principal_policy", _simulated("principal"), lambda p: [r["EvalActionName"] for r in p["EvaluationResults"]]),
    ("list_instance_profiles", _instance_profiles, lambda p: [x["InstanceProfileName"] for x in p["InstanceProfiles"]]),
    ("list_instance_profiles_for_role", _profiles_for_role, lambda p: [x["InstanceProfileName"] for x in p["InstanceProfiles"]]),
    ("list_instance_profile_tags", _tag_keys("instance-profile"), lambda p: [t["Key"] for t in p["Tags"]]),
    ("list_mfa_device_tags", _tag_keys("mfa-device"), lambda p: [t["Key"] for t in p["Tags"]]),
]


@pytest.mark.parametrize(("operation", "setup", "items"), PAGINATED, ids=[p[0] for p in PAGINATED])
def test_paginator_walks_one_item_per_page(
    iam: Any, server: TesseraServer, operation: str, setup: Setup, items: Callable[[dict[str, Any]], list[str]]
) -> None:
    kwargs, expected = setup(iam, server)
    first = getattr(iam, operation)(**kwargs, MaxItems=1)
    assert first["IsTruncated"] is True and first["Marker"] and len(items(first)) == 1
    pages = list(iam.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": 1}))
    assert [len(items(p)) for p in pages] == [1] * len(expected)
    assert sorted(i for p in pages for i in items(p)) == sorted(expected)  # each item once, none skipped
    assert [p["IsTruncated"] for p in pages] == [True] * (len(expected) - 1) + [False]


def test_paginators_over_account_wide_lists(iam: Any) -> None:
    """ListVirtualMFADevices and GetAccountAuthorizationDetails take no path filter: the
    paged walk must equal the unpaged answer, one item per page."""
    for _ in range(3):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("pv"))
    whole = iam.list_virtual_mfa_devices()["VirtualMFADevices"]
    pages = list(iam.get_paginator("list_virtual_mfa_devices").paginate(PaginationConfig={"PageSize": 1}))
    assert len(whole) >= 3 and [d for p in pages for d in p["VirtualMFADevices"]] == whole
    assert all(len(p["VirtualMFADevices"]) == 1 for p in pages)
    unpaged = iam.get_account_authorization_details(Filter=["Group", "Role"], MaxItems=1000)
    paged = list(
        iam.get_paginator("get_account_authorization_details").paginate(Filter=["Group", "Role"], PaginationConfig={"PageSize": 1})
    )
    assert all(len(p["GroupDetailList"]) + len(p["RoleDetailList"]) == 1 for p in paged)
    assert [g for p in paged for g in p["GroupDetailList"]] == unpaged["GroupDetailList"]
    assert [r for p in paged for r in p["RoleDetailList"]] == unpaged["RoleDetailList"]


def test_invalid_marker_is_rejected(iam: Any) -> None:
    assert failure(lambda: iam.list_users(Marker="not-one-of-ours")) == ("InvalidInput", 400, "Invalid Marker.")


# -- restart --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_restart_keeps_every_kind_of_iam_state(fresh_server: Callable[..., TesseraServer], backend: str) -> None:
    server = fresh_server(backend)
    iam = server.client("iam")
    creds = server.make_user("keeper", document("iam:List*"), path="/kept/")
    iam.tag_user(UserName="keeper", Tags=[{"Key": "team", "Value": "blue"}])
    iam.put_user_permissions_boundary(UserName="keeper", PermissionsBoundary=IAM_READ_ONLY)
    iam.create_group(GroupName="keepers")
    iam.add_user_to_group(GroupName="keepers", UserName="keeper")
    arn = iam.create_policy(PolicyName="kept", PolicyDocument=document())["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("s3:PutObject"), SetAsDefault=True)
    iam.attach_group_policy(GroupName="keepers", PolicyArn=arn)
    _create_role(iam, server, "kept-role")
    iam.put_role_policy(RoleName="kept-role", PolicyName="inline", PolicyDocument=document())
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="kept-device")["VirtualMFADevice"]
    iam.create_instance_profile(InstanceProfileName="kept-profile", Tags=[{"Key": "team", "Value": "blue"}])
    iam.add_role_to_instance_profile(InstanceProfileName="kept-profile", RoleName="kept-role")

    iam.create_login_profile(UserName="keeper", Password="Kept-Password-1", PasswordResetRequired=True)
    iam.update_account_password_policy(MinimumPasswordLength=10, PasswordReusePrevention=3)
    iam.create_account_alias(AccountAlias=f"kept-{backend}")
    before = iam.get_account_authorization_details()
    assert [p["InstanceProfileName"] for d in before["RoleDetailList"] for p in d["InstanceProfileList"]] == ["kept-profile"]
    server.restart()
    iam = server.client("iam")
    after = iam.get_account_authorization_details()
    for member in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
        assert after[member] == before[member]
    assert iam.get_user(UserName="keeper")["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert iam.get_instance_profile(InstanceProfileName="kept-profile")["InstanceProfile"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert code_of(lambda: iam.delete_role(RoleName="kept-role")) == "DeleteConflict"

    assert iam.get_login_profile(UserName="keeper")["LoginProfile"]["PasswordResetRequired"] is True
    assert iam.get_account_password_policy()["PasswordPolicy"]["PasswordReusePrevention"] == 3
    assert iam.list_account_aliases()["AccountAliases"] == [f"kept-{backend}"]
    client = server.client("iam", creds)  # the sealed secret still verifies, the policies still decide
    assert [u["UserName"] for u in client.list_users(PathPrefix="/kept/")["Users"]] == ["keeper"]
    assert code_of(lambda: client.create_user(UserName="refused")) == "AccessDenied"
    code1, code2 = totp_pair(device["Base32StringSeed"])  # and so does the sealed MFA seed
    iam.enable_mfa_device(UserName="keeper", SerialNumber=device["SerialNumber"], AuthenticationCode1=code1, AuthenticationCode2=code2)


# -- passwords, aliases, credential report (details: test_iam_passwords.py) ----------------
def test_password_alias_and_report_operations(iam: Any, server: TesseraServer) -> None:
    name = unique("console")
    creds = server.make_user(name)
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=document("iam:ChangePassword"))
    iam.create_login_profile(UserName=name, Password="Console-Pass-1")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name
    iam.update_login_profile(UserName=name, PasswordResetRequired=True)
    server.client("iam", creds).change_password(OldPassword="Console-Pass-1", NewPassword="Console-Pass-2")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    iam.delete_login_profile(UserName=name)
    iam.update_account_password_policy(MinimumPasswordLength=9)
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 9
    iam.delete_account_password_policy()
    alias = unique("ops")
    iam.create_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    iam.delete_account_alias(AccountAlias=alias)
    assert iam.generate_credential_report()["State"] in ("STARTED", "COMPLETE")
    assert iam.get_credential_report()["Content"].startswith(b"user,arn,user_creation_time,")


# -- concurrency ----------------------------------------------------------------------
THREADS = 16


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in range(count) on ``count`` threads released together;
    return each result or the ClientError it raised."""
    barrier = threading.Barrier(count)

    def call(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except ClientError as error:
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


@pytest.fixture
def clients(server: TesseraServer) -> Iterator[list[Any]]:
    """One root client per thread: boto3 clients are thread-safe, but separate
    connection pools make the requests really concurrent."""
    return [server.client("iam") for _ in range(THREADS)]


def test_concurrent_creates_and_attachments_all_land(iam: Any, clients: list[Any]) -> None:
    path = f"/{unique('conc')}/"
    names = [unique(f"c{i}") for i in range(THREADS)]

    def work(i: int) -> None:
        client = clients[i]
        client.create_user(UserName=names[i], Path=path)
        client.attach_user_policy(UserName=names[i], PolicyArn=IAM_READ_ONLY)
        client.attach_user_policy(UserName=names[i], PolicyArn=READ_ONLY)
        client.detach_user_policy(UserName=names[i], PolicyArn=IAM_READ_ONLY)

    results = run_concurrently(THREADS, work)
    assert [r for r in results if r is not None] == []
    listed = [u["UserName"] for p in iam.get_paginator("list_users").paginate(PathPrefix=path) for u in p["Users"]]
    assert sorted(listed) == sorted(names)
    for name in names:
        assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]] == [READ_ONLY]


def test_concurrent_creates_of_one_name_yield_one_user(iam: Any, clients: list[Any]) -> None:
    name, path = unique("same"), f"/{unique('one')}/"
    results = run_concurrently(THREADS, lambda i: clients[i].create_user(UserName=name, Path=path)["User"]["UserId"])
    created = [r for r in results if isinstance(r, str)]
    errors = [r.response["Error"]["Code"] for r in results if isinstance(r, ClientError)]
    assert len(created) == 1 and errors == ["EntityAlreadyExists"] * (THREADS - 1)
    assert [u["UserId"] for u in iam.list_users(PathPrefix=path)["Users"]] == created


def test_concurrent_access_keys_never_exceed_two(iam: Any, clients: list[Any]) -> None:
    name = unique("keyrace")
    iam.create_user(UserName=name)
    results = run_concurrently(THREADS, lambda i: clients[i].create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])
    created = [r for r in results if isinstance(r, str)]
    errors = {r.response["Error"]["Code"] for r in results if isinstance(r, ClientError)}
    assert len(created) == 2 and errors == {"LimitExceeded"}
    assert sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == sorted(created)


def test_concurrent_signing_certificates_never_exceed_two(iam: Any, clients: list[Any]) -> None:
    name = unique("certrace")
    iam.create_user(UserName=name)
    bodies = [certificate_pem(30 + i) for i in range(THREADS)]
    results = run_concurrently(THREADS, lambda i: clients[i].upload_signing_certificate(UserName=name, CertificateBody=bodies[i]))
    created = [r["Certificate"]["CertificateId"] for r in results if isinstance(r, dict)]
    errors = {r.response["Error"]["Code"] for r in results if isinstance(r, ClientError)}
    assert len(created) == 2 and errors == {"LimitExceeded"}
    assert sorted(c["CertificateId"] for c in iam.list_signing_certificates(UserName=name)["Certificates"]) == sorted(created)
