"""``python -m bench.authz_call [N]``: the in-process cost of one AuthorizeRequest.

The workload of ``bench.load``'s AuthorizeRequest (a resource server allowed to authorize
for ``notes`` asks whether a user may ``notes:GetNote`` its signed ``GET /notes/n0``),
provisioned through the app's own IAM API, then one signed POST (signed once and
replayed) driven through ``TesseraApp`` as an ASGI call N times (default 10 000) after a
warm-up; GetCallerIdentity (``bench.app_call``) is measured in the same process for the
ratio. Prints the best and the median of five runs in microseconds of process CPU time
per request; compare two checkouts on the same machine, not against other numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import statistics
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.app_call import _run
from bench.inproc import ACCOUNT, build_app, call, exchange, signed_scope
from bench.load import AUTHORIZE_TARGET, NOTES_SERVICE, REGION, Principal, authorize_body, notes_policy
from tessera.server.app import TesseraApp

USER = "bench"


def _call(app: TesseraApp, params: dict[str, str]) -> str:
    scope, receive, send, sent = exchange(params, "iam")
    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert status == 200, (status, body)
    return body


def _access_key(app: TesseraApp, user: str) -> Credentials:
    answer = _call(app, {"Action": "CreateAccessKey", "Version": "2010-05-08", "UserName": user})
    key = re.search(r"<AccessKeyId>(.*?)</AccessKeyId>", answer)
    secret = re.search(r"<SecretAccessKey>(.*?)</SecretAccessKey>", answer)
    assert key and secret
    return Credentials(key.group(1), secret.group(1))


def provision(app: TesseraApp) -> tuple[Credentials, Credentials]:
    """The resource server's and the bench user's keys."""
    authorizer = f"arn:aws:tessera::{ACCOUNT}:authorizer/notes"
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "tessera:AuthorizeRequest", "Resource": authorizer}]}
    for user in (NOTES_SERVICE, USER):
        _call(app, {"Action": "CreateUser", "Version": "2010-05-08", "UserName": user})
    for user, name, document in ((NOTES_SERVICE, "authorize-notes", json.dumps(allowed)), (USER, "read-notes", notes_policy())):
        _call(app, {"Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": user, "PolicyName": name, "PolicyDocument": document})
    return _access_key(app, NOTES_SERVICE), _access_key(app, USER)


def authorize_scope(server: Credentials, user: Credentials) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body of the resource server's signed AuthorizeRequest."""
    body = authorize_body(Principal(user.access_key, user.secret_key, ""), 0)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": AUTHORIZE_TARGET}
    request = AWSRequest(method="POST", url="http://127.0.0.1:8686/", data=body, headers=headers)
    SigV4Auth(server, "tessera", REGION).add_auth(request)
    scope, _ = signed_scope({}, "sts")
    scope["headers"] = [(b"host", b"127.0.0.1:8686")] + [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    return scope, body


def main(argv: Sequence[str]) -> int:
    n = int(argv[0]) if argv else 10_000
    with tempfile.TemporaryDirectory() as data_dir:
        runtime, app = build_app(data_dir)
        try:
            scope, body = authorize_scope(*provision(app))
            answer = asyncio.run(call(app, scope, body))[1]
            assert b'"Decision":"Allow"' in answer, answer
            gci_scope, gci_body = signed_scope({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts")
            authz: list[float] = []
            gci: list[float] = []
            for runs, (s, b, count) in itertools.product(range(6), ((scope, body, n), (gci_scope, gci_body, n))):
                measured = asyncio.run(_run(app, s, b, count if runs else 2_000))  # run 0: the warm-up
                if runs:
                    (authz if s is scope else gci).append(measured)
                app.audit.flush()  # the writer is not running: drain the events, outside the timing
        finally:
            app.executor.shutdown(wait=True)
            runtime.store.close()
    for name, runs in (("AuthorizeRequest", authz), ("GetCallerIdentity", gci)):
        print(
            f"{name} in-process: best {min(runs):.1f}, median {statistics.median(runs):.1f} µs CPU/request"
            f" (5 x {n}; runs {', '.join(f'{r:.1f}' for r in runs)})"
        )
    print(f"ratio of medians (GetCallerIdentity / AuthorizeRequest): {statistics.median(gci) / statistics.median(authz):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
