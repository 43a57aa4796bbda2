"""GetAccessKeyLastUsed and GetRole's RoleLastUsed report real use, kept across restarts."""

from __future__ import annotations

import json
import uuid
from typing import Any

from serverproc import Credentials, TesseraServer


def test_access_key_and_role_last_used(fresh_server: Any) -> None:
    for backend in ("sqlite", "postgres"):
        server: TesseraServer = fresh_server(backend)
        iam = server.client("iam")
        name = f"user-{uuid.uuid4().hex[:8]}"
        creds = server.make_user(
            name, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        )
        never = iam.get_access_key_last_used(AccessKeyId=creds.access_key_id)["AccessKeyLastUsed"]
        assert never == {"ServiceName": "N/A", "Region": "N/A"}

        server.client("sts", creds).get_caller_identity()
        used = iam.get_access_key_last_used(AccessKeyId=creds.access_key_id)["AccessKeyLastUsed"]
        assert (used["ServiceName"], used["Region"]) == ("sts", "us-east-1") and "LastUsedDate" in used

        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/{name}"}}
            ],
        }
        iam.create_role(RoleName="used-role", AssumeRolePolicyDocument=json.dumps(trust))
        assert iam.get_role(RoleName="used-role")["Role"]["RoleLastUsed"] == {}
        session = server.client("sts", creds).assume_role(
            RoleArn=f"arn:aws:iam::{server.account_id}:role/used-role", RoleSessionName="last-used"
        )["Credentials"]
        server.client("sts", Credentials.from_response(session)).get_caller_identity()
        role_used = iam.get_role(RoleName="used-role")["Role"]["RoleLastUsed"]
        assert role_used["Region"] == "us-east-1" and "LastUsedDate" in role_used

        server.restart()  # a graceful stop writes the notes; the next process reads them
        iam = server.client("iam")
        assert iam.get_role(RoleName="used-role")["Role"]["RoleLastUsed"]["Region"] == "us-east-1"
        after = iam.get_access_key_last_used(AccessKeyId=creds.access_key_id)["AccessKeyLastUsed"]
        assert after["ServiceName"] in ("sts", "iam")
