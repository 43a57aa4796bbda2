"""Several nodes on one database (a SQLite file or PostgreSQL): a write on one node
reaches the others' in-memory views by their next poll (which reads only the changes
since the generation they hold), and sessions minted on one node work on all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds: the other node refreshes every 0.2 s here."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("the other node did not see the change in time")
        time.sleep(0.05)


def authenticates(node: TesseraServer, creds: Credentials) -> bool:
    try:
        node.client("sts", creds).get_caller_identity()
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidClientTokenId":
            raise
        return False
    return True


def has_user(node: TesseraServer, name: str) -> bool:
    try:
        node.client("iam").get_user(UserName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        return False
    return True


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_nodes_share_state_and_sessions(fresh_server: Any, backend: str) -> None:
    first: TesseraServer = fresh_server(backend)
    second = TesseraServer(data_dir=first.data_dir, database_url=first.database_url).start()
    try:
        iam_first = first.client("iam")
        creds = first.make_user(
            "shared", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        )
        eventually(lambda: authenticates(second, creds))

        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{first.account_id}:user/shared"}}
            ],
        }
        iam_first.create_role(RoleName="shared-role", AssumeRolePolicyDocument=json.dumps(trust))
        role_arn = f"arn:aws:iam::{first.account_id}:role/shared-role"

        def assumed_on_second() -> bool:
            try:
                second.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="across")
                return True
            except ClientError:
                return False

        eventually(assumed_on_second)
        session = Credentials.from_response(
            first.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="minted-on-first")["Credentials"]
        )
        assert second.client("sts", session).get_caller_identity()["Arn"].endswith("/shared-role/minted-on-first")

        # writes flow the other way too, and a rename keeps the user's key working
        second.client("iam").update_user(UserName="shared", NewUserName="renamed")
        eventually(lambda: has_user(first, "renamed"))
        assert first.client("sts", creds).get_caller_identity()["Arn"].endswith(":user/renamed")

        iam_first.update_access_key(UserName="renamed", AccessKeyId=creds.access_key_id, Status="Inactive")
        eventually(lambda: not authenticates(second, creds))
    finally:
        second.stop()
