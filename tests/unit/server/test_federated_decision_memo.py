"""AssumeRoleWithWebIdentity's trust decisions go through the decision memo: a
workload's second call is replayed, never a decision about another subject or a
changed trust policy."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oidc_issuer import OidcIssuer
from storefaults import unsigned_get

from bench.inproc import build_app, exchange
from tessera.policy import memo
from tessera.server.app import TesseraApp

ROLE = "arn:aws:iam::111111111111:role/fed"


def _iam(app: TesseraApp, params: dict[str, str]) -> bytes:
    import asyncio

    scope, receive, send, sent = exchange({**params, "Version": "2010-05-08"}, "iam")
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200, sent[1]["body"]
    return bytes(sent[1]["body"])


def _trust(provider: str, subjects: list[str]) -> str:
    host = provider.split(":oidc-provider/")[1]
    condition = {"StringEquals": {f"{host}:aud": "my-app", f"{host}:sub": subjects}}
    statement = {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TesseraApp, OidcIssuer, str, list[str]]]:
    runtime, app = build_app(str(tmp_path))
    evaluated: list[str] = []
    engine = memo.evaluate

    def counting(request: Any, policies: Any) -> Any:
        if request.action == "sts:AssumeRoleWithWebIdentity":
            evaluated.append(str(request.keys.get(next(k for k in request.keys if k.endswith(":sub")))))
        return engine(request, policies)

    monkeypatch.setattr(memo, "evaluate", counting)  # what the memo calls on a miss
    with OidcIssuer() as idp:
        created = _iam(
            app,
            {
                "Action": "CreateOpenIDConnectProvider",
                "Url": idp.issuer,
                "ClientIDList.member.1": "my-app",
                "ThumbprintList.member.1": idp.thumbprint,
            },
        ).decode()
        provider = created.split("<OpenIDConnectProviderArn>")[1].split("<")[0]
        _iam(app, {"Action": "CreateRole", "RoleName": "fed", "AssumeRolePolicyDocument": _trust(provider, ["alice"])})
        yield app, idp, provider, evaluated
    app.executor.shutdown(wait=True)
    runtime.store.close()


def _assume(app: TesseraApp, idp: OidcIssuer, claims: dict[str, Any], name: str = "session") -> tuple[int, bytes]:
    params = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": name,
        "WebIdentityToken": idp.sign(claims),
    }
    return unsigned_get(app, "/", urllib.parse.urlencode(params))


def test_a_subjects_later_calls_are_replayed(world: Any) -> None:
    app, idp, _, evaluated = world
    for name in ("first", "second", "third"):  # each its own token and session name (no condition reads it)
        status, body = _assume(app, idp, {"sub": "alice", "aud": "my-app"}, name)
        assert status == 200 and b"<SubjectFromWebIdentityToken>alice" in body, body
    assert evaluated == ["alice"]


def test_a_replayed_allow_never_answers_another_subject(world: Any) -> None:
    app, idp, _, evaluated = world
    assert _assume(app, idp, {"sub": "alice", "aud": "my-app"})[0] == 200
    status, body = _assume(app, idp, {"sub": "mallory", "aud": "my-app"})
    assert status == 403 and b"Not authorized to perform sts:AssumeRoleWithWebIdentity" in body
    # a refusal is remembered as faithfully as an allow
    assert _assume(app, idp, {"sub": "mallory", "aud": "my-app"})[0] == 403
    assert _assume(app, idp, {"sub": "alice", "aud": "my-app"})[0] == 200
    assert evaluated == ["alice", "mallory"]


def test_a_changed_trust_policy_is_decided_afresh(world: Any) -> None:
    app, idp, provider, evaluated = world
    assert _assume(app, idp, {"sub": "alice", "aud": "my-app"})[0] == 200
    _iam(app, {"Action": "UpdateAssumeRolePolicy", "RoleName": "fed", "PolicyDocument": _trust(provider, ["bob"])})
    status, body = _assume(app, idp, {"sub": "alice", "aud": "my-app"})
    assert status == 403 and b"Not authorized" in body
    assert _assume(app, idp, {"sub": "bob", "aud": "my-app"})[0] == 200
    assert evaluated == ["alice", "alice", "bob"]
