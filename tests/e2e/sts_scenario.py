"""Building blocks for the STS end-to-end tests (test_sts_rules, test_sts_tags,
test_sts_cli): policy documents, per-test unique names on a shared server, and the
error of a refused boto3 call."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from policies import allow as allow
from policies import deny as deny
from policies import policy as doc
from policies import trust as trust
from serverproc import Credentials, TesseraServer

UNVALIDATED = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
"""A client config that sends what botocore would refuse, so the server's own checks run."""


def refusal(call: Callable[[], Any]) -> dict[str, Any]:
    """The ``response`` of the ClientError that ``call`` must raise."""
    with pytest.raises(ClientError) as error:
        call()
    return dict(error.value.response)


def code_of(call: Callable[[], Any]) -> str:
    return str(refusal(call)["Error"]["Code"])


def message_of(call: Callable[[], Any]) -> str:
    return str(refusal(call)["Error"]["Message"])


def reason_of(server: TesseraServer, call: Callable[[], Any]) -> str:
    """Why ``call`` was refused, read from the decodable authorization message the
    refusal carries (decoded by the account's root user, who may decode it)."""
    headers = refusal(call)["ResponseMetadata"]["HTTPHeaders"]
    decoded = server.client("sts").decode_authorization_message(EncodedMessage=headers["x-amzn-authorization-message"])["DecodedMessage"]
    return " ".join(json.loads(decoded)["failures"]["items"])


class Scenario:
    """Users, roles and clients with names unique to one test on a module-shared server."""

    def __init__(self, server: TesseraServer) -> None:
        self.server = server
        self.suffix = uuid.uuid4().hex[:8]
        self.account = server.account_id
        self.iam = server.client("iam")

    def name(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def user(self, base: str, *statements: dict[str, Any], tags: dict[str, str] | None = None) -> tuple[str, Credentials]:
        """A user with an access key (and an inline policy of ``statements``); returns (arn, keys)."""
        name = self.name(base)
        creds = self.server.make_user(name, doc(*statements) if statements else None)
        if tags:
            self.iam.tag_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return f"arn:aws:iam::{self.account}:user/{name}", creds

    def role(self, base: str, *trust_statements: dict[str, Any], policy: list[dict[str, Any]] | None = None, **kwargs: Any) -> str:
        """A role trusting ``trust_statements`` with an inline policy ``p`` of ``policy``; returns its ARN."""
        name = self.name(base)
        created = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(*trust_statements), **kwargs)
        if policy is not None:
            self.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc(*policy))
        return str(created["Role"]["Arn"])

    def managed_policy(self, base: str, *statements: dict[str, Any]) -> str:
        return str(self.iam.create_policy(PolicyName=self.name(base), PolicyDocument=doc(*statements))["Policy"]["Arn"])

    def client(self, service: str, creds: Credentials, **kwargs: Any) -> Any:
        return self.server.client(service, creds, **kwargs)

    def sts(self, creds: Credentials, **kwargs: Any) -> Any:
        return self.server.client("sts", creds, **kwargs)

    def assume_response(self, creds: Credentials, role_arn: str, session: str = "s1", **params: Any) -> dict[str, Any]:
        return dict(self.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName=session, **params))

    def assume(self, creds: Credentials, role_arn: str, session: str = "s1", **params: Any) -> Credentials:
        return Credentials.from_response(self.assume_response(creds, role_arn, session, **params)["Credentials"])

    def mfa_device(self, user_arn: str) -> tuple[str, pyotp.TOTP]:
        """A virtual MFA device created and enabled for the user through IAM: (serial, totp).
        It is enabled with codes of the two previous steps, so the current step's code is unused."""
        user = user_arn.rsplit("/", 1)[1]
        device = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")["VirtualMFADevice"]
        seed = device["Base32StringSeed"]
        totp = pyotp.TOTP(seed.decode() if isinstance(seed, bytes) else seed)
        now = int(time.time())
        self.iam.enable_mfa_device(
            UserName=user,
            SerialNumber=device["SerialNumber"],
            AuthenticationCode1=totp.at(now - 60),
            AuthenticationCode2=totp.at(now - 30),
        )
        return str(device["SerialNumber"]), totp
