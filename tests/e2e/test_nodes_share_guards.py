"""What guards against replay and guessing holds for all the processes sharing a store,
not for each: two nodes on one PostgreSQL schema, two processes on one SQLite data
directory, driven by stock boto3.

* A SAML assertion whose Conditions carry ``<OneTimeUse/>`` (SAML core 2.5.1.5) is
  accepted once (AssumeRoleWithSAML, unsigned; assertions signed by hand with
  ``samlidp.crafted``).
* Failed guesses (here ChangePassword's old password) count against one budget: five
  failures spread over the two lock the user out on both."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pgutil import base_pg_url, fresh_pg_url
from samlidp import ATTR, ENDPOINT, Idp, crafted
from serverproc import Credentials, TesseraServer, new_data_dir

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


@pytest.fixture(params=BACKENDS)
def nodes(request: pytest.FixtureRequest) -> Iterator[tuple[TesseraServer, TesseraServer]]:
    data_dir = new_data_dir()
    url, drop = fresh_pg_url(base_pg_url()) if request.param == "postgres" else (None, lambda: None)
    first = TesseraServer(data_dir=data_dir, database_url=url)
    second = TesseraServer(data_dir=data_dir, database_url=url)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()
        drop()
        shutil.rmtree(data_dir, ignore_errors=True)


def federate(server: TesseraServer, idp: Idp) -> tuple[str, str]:
    """A SAML provider for ``idp`` and a role it may assume: (provider ARN, role ARN)."""
    iam = server.client("iam")
    provider = iam.create_saml_provider(Name="Corp", SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": ENDPOINT}},
            }
        ],
    }
    role = iam.create_role(RoleName="Once", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return provider, role


def outcome(server: TesseraServer, provider: str, role: str, assertion: str) -> str:
    """``accepted`` or the error's code and message."""
    sts = server.client("sts", Credentials("AKIAUNUSED0000000000", "unused"))  # sent unsigned, as stock boto3 does
    try:
        sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion)
    except ClientError as error:
        return f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
    return "accepted"


def within(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.05)


USED = "InvalidIdentityToken: Invalid SAML response: this OneTimeUse assertion has already been used"


def test_a_one_time_use_assertion_is_accepted_once_by_all_the_nodes(nodes: tuple[TesseraServer, TesseraServer], idp: Idp) -> None:
    first, second = nodes
    provider, role = federate(first, idp)
    attributes = {ATTR + "Role": [f"{provider},{role}"], ATTR + "RoleSessionName": ["alice"]}
    ordinary = crafted(idp, attributes, assertion_id="_ordinary")
    within(lambda: outcome(second, provider, role, ordinary) == "accepted")  # the second node knows the provider
    # an ordinary assertion may be presented again, to either node (AWS keeps no record)
    assert outcome(first, provider, role, ordinary) == "accepted"

    once = crafted(idp, attributes, assertion_id="_once", one_time_use=True)
    assert outcome(first, provider, role, once) == "accepted"
    assert outcome(second, provider, role, once) == USED
    assert outcome(first, provider, role, once) == USED

    # presented to both at once, eight times: one acceptance
    contested = crafted(idp, attributes, assertion_id="_contested", one_time_use=True)
    with ThreadPoolExecutor(8) as pool:
        answers: list[Any] = list(pool.map(lambda n: outcome((first, second)[n % 2], provider, role, contested), range(8)))
    assert answers.count("accepted") == 1 and answers.count(USED) == 7, answers


SELF_SERVICE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": "*"}]}


def change_password(server: TesseraServer, creds: Credentials, old: str) -> str:
    """``changed``, ``wrong`` (the old password was checked and is not the user's), or
    the error's code."""
    try:
        server.client("iam", creds).change_password(OldPassword=old, NewPassword="Another-Password-2")
    except ClientError as error:
        code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
        return "wrong" if code == "AccessDenied" and "old password" in message else str(code)
    return "changed"


def test_failed_guesses_on_two_nodes_spend_one_budget(nodes: tuple[TesseraServer, TesseraServer]) -> None:
    first, second = nodes
    creds = first.make_user("guessed", SELF_SERVICE)
    first.client("iam").create_login_profile(UserName="guessed", Password="The-Password-1")
    within(lambda: change_password(second, creds, "Wrong-Password-0") == "wrong")  # the second node knows the password
    answers = [change_password((first, second)[n % 2], creds, f"Wrong-Password-{n}") for n in range(1, 5)]
    assert answers == ["wrong"] * 4  # five failures in all: the budget is spent
    # locked on both, the right password included (refused before it is looked at)
    assert change_password(first, creds, "The-Password-1") == "LimitExceeded"
    assert change_password(second, creds, "The-Password-1") == "LimitExceeded"
