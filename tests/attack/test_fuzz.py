"""A bounded fuzzer against a real server: signed requests with hostile members for every
IAM, STS and Organizations operation of botocore's models, and malformed unsigned ones.

Whatever a client sends, the answer is a 4xx (or a success), never a 5xx; nothing is
logged as an error; and the server still answers afterwards. The run is seeded
(``TESSERA_FUZZ_SEED``, default 20261202) and its size is ``TESSERA_FUZZ_REQUESTS``
(default 3000, some ten seconds of work); ``make fuzz`` runs the same generator with a
much larger count. A failure names the case's index, so ``TESSERA_FUZZ_REQUESTS=<index+1>``
with the same seed replays it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

import fuzzgen
from attackkit import RawClient
from serverproc import Credentials, TesseraServer

SEED = int(os.environ.get("TESSERA_FUZZ_SEED", "20261202"))
COUNT = int(os.environ.get("TESSERA_FUZZ_REQUESTS", "3000"))
_ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |Traceback \(most recent call last\)|InternalFailure", re.MULTILINE)


def _implemented(service: str, operation: str) -> bool:
    from tessera.services.operations import lookup

    return lookup(service, operation) is not None


def _world(server: TesseraServer) -> tuple[list[Credentials], list[str], list[str]]:
    """Entities for fuzzed members to name, so that signed requests reach deep into the handlers."""
    iam = server.client("iam")
    admin = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    user = server.make_user("fuzz-user", admin)
    role = iam.create_role(
        RoleName="fuzz-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    iam.put_role_policy(RoleName="fuzz-role", PolicyName="inline", PolicyDocument=admin)
    policy = iam.create_policy(PolicyName="fuzz-policy", PolicyDocument=admin)["Policy"]
    iam.create_group(GroupName="fuzz-group")
    iam.add_user_to_group(GroupName="fuzz-group", UserName="fuzz-user")
    session = Credentials.from_response(
        server.client("sts", user).assume_role(RoleArn=role["Arn"], RoleSessionName="fuzz-session")["Credentials"]
    )
    names = [
        "fuzz-user",
        "fuzz-role",
        "fuzz-group",
        "fuzz-policy",
        "inline",
        "fuzz-session",
        "FUZZ-USER",
        user.access_key_id,
        server.account_id,
        "/",
        "/fuzz/",
        "v1",
        "v2",
    ]
    arns = [
        role["Arn"],
        policy["Arn"],
        f"arn:aws:iam::{server.account_id}:user/fuzz-user",
        f"arn:aws:iam::{server.account_id}:group/fuzz-group",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        f"arn:aws:iam::{server.account_id}:root",
        f"arn:aws:iam::{server.account_id}:mfa/fuzz-mfa",
        f"arn:aws:iam::{server.account_id}:saml-provider/fuzz",
        f"arn:aws:iam::{server.account_id}:oidc-provider/example.com",
    ]
    return [server.root, user, session], names, arns


def _full_log(server: TesseraServer) -> str:
    with open(server.log_path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def test_fuzzed_requests_never_get_a_5xx(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target()
    creds, names, arns = _world(server)
    generator = fuzzgen.Generator(SEED, f"127.0.0.1:{server.port}", creds, names, arns, _implemented)
    report = fuzzgen.run(server.port, generator.cases(COUNT), lambda: _full_log(server))

    assert report.sent == COUNT
    assert not report.failures, f"seed {SEED}: " + report.summary()
    error_lines = [m.group(0) for m in _ERROR_LINE.finditer(_full_log(server))]
    assert not error_lines, f"the server logged errors: {error_lines[:5]}"
    # the server is alive and still knows who is calling
    reply = RawClient(server).send(RawClient(server).signed("sts", {"Action": "GetCallerIdentity"}))
    assert reply.status == 200, reply.text
    assert f"<Account>{server.account_id}</Account>" in reply.text
    # most of the signed traffic got through authentication, so the handlers were reached
    assert sum(n for status, n in report.statuses.items() if status == 200) > COUNT // 50, report.statuses
