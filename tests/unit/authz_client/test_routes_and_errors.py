"""The client library's route table, AuthorizeRequest input and error rendering (each error
read back by botocore's own parser for the protocol, as a stock client reads it)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore.stub import Stubber
from tessera_authz import (
    MODELS,
    Authorizer,
    AuthzMiddleware,
    AuthzWSGIMiddleware,
    ErrorReply,
    Received,
    Resource,
    Route,
    RouteTable,
    make_client,
    render,
)

import tessera

ACCOUNT = "111122223333"
NOTEBOOK = "arn:{partition}:notes:{region}:{account}:notebook/{notebook}"
ROUTES = RouteTable(
    [
        Route("GET", "/healthz", "", public=True),
        Route("PUT", "/notebooks/{notebook}", "notes:CreateNotebook", NOTEBOOK),
        Route("GET", "/notebooks/{notebook}/notes/{note}", "notes:GetNote", NOTEBOOK + "/note/{note}"),
        Route("GET", "/files/{key+}", "notes:GetFile", "arn:aws:notes:::file/{key}"),
    ]
)


def test_the_shipped_model_is_the_servers() -> None:
    server = Path(tessera.__file__).parent / "data" / "models" / "tessera-authz" / "2026-12-01" / "service-2.json"
    copy = MODELS / "tessera-authz" / "2026-12-01" / "service-2.json"
    assert copy.read_bytes() == server.read_bytes()


def test_routes_match_method_and_segments_and_decode_parameters() -> None:
    found = ROUTES.match("GET", "/notebooks/team%20a/notes/n1")
    assert found is not None
    assert (found.route.action, dict(found.params)) == ("notes:GetNote", {"notebook": "team a", "note": "n1"})
    assert ROUTES.match("POST", "/notebooks/a/notes/n1") is None
    assert ROUTES.match("GET", "/notebooks/a%2Fb/notes/n1").params["notebook"] == "a/b"  # type: ignore[union-attr]
    assert ROUTES.match("GET", "/notebooks/a/b/notes/n1") is None
    assert ROUTES.match("GET", "/files/a/b/c").params == {"key": "a/b/c"}  # type: ignore[union-attr]
    assert ROUTES.match("GET", "/healthz").route.public  # type: ignore[union-attr]


def test_resource_templates_are_filled() -> None:
    route = ROUTES.routes[2]
    arn = route.resource_arn({"notebook": "nb", "note": "n1"}, partition="aws", region="eu-west-1", account=ACCOUNT)
    assert arn == f"arn:aws:notes:eu-west-1:{ACCOUNT}:notebook/nb/note/n1"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("GET", "notebooks", "notes:GetNote"), "must start with '/'"),
        (("GET", "/a", "GetNote"), "service:Action"),
        (("GET", "/a/{x}/{x}", "notes:GetNote"), "repeats a parameter"),
        (("GET", "/a/{x}", "notes:GetNote", "arn:aws:notes:::{y}"), "unknown parameters"),
    ],
)
def test_bad_routes_are_refused_when_built(args: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Route(*args)


DENIED = ErrorReply(403, "AccessDenied", "AccessDeniedException", "User: arn:aws:iam::1:user/a is not authorized", "ENC<&>")


def _parse(protocol: str, reply: ErrorReply) -> dict[str, Any]:
    status, headers, body = render(reply, protocol, request_id="req-1")
    parser = botocore.parsers.create_parser(protocol)
    response = {"status_code": status, "headers": dict(headers), "body": body}
    shape = None
    return dict(parser.parse(response, shape))


@pytest.mark.parametrize(
    ("protocol", "code"),
    [("json", "AccessDeniedException"), ("rest-json", "AccessDeniedException"), ("rest-xml", "AccessDenied"), ("query", "AccessDenied")],
)
def test_errors_read_back_by_botocore(protocol: str, code: str) -> None:
    parsed = _parse(protocol, DENIED)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == DENIED.message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_encoded_message_is_carried_and_escaped() -> None:
    _, _, body = render(DENIED, "rest-xml")
    assert b"<EncodedAuthorizationMessage>ENC&lt;&amp;&gt;</EncodedAuthorizationMessage>" in body
    _, _, body = render(DENIED, "json")
    assert json.loads(body)["encodedAuthorizationMessage"] == "ENC<&>"


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown protocol"):
        render(DENIED, "ec2")


# -- the Authorizer and the middleware, over botocore's stubber (the model validates the input) --


def _authorizer(**kw: Any) -> tuple[Authorizer, Stubber]:
    client = make_client("http://127.0.0.1:9", "us-east-1", session=_session())
    lookup = {"shared": Resource(account="444455556666", policy='{"Version":"2012-10-17","Statement":[]}', tags={"team": "blue"})}
    routes = RouteTable(
        [
            *ROUTES.routes[:1],
            Route(
                "GET",
                "/notebooks/{notebook}/notes/{note}",
                "notes:GetNote",
                NOTEBOOK + "/note/{note}",
                lookup=lambda m: lookup.get(m.params["notebook"]),
            ),
        ]
    )
    return Authorizer(routes, service="notes", region="us-east-1", account=ACCOUNT, client=client, **kw), Stubber(client)


def _session() -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_credentials("AKIDRESOURCESERVER01", "secret")
    return session


def _received(path: str = "/notebooks/shared/notes/n1", body: bytes = b"") -> Received:
    return Received("GET", path, "a=1", [("Host", "notes.example.com"), ("Authorization", "AWS4-HMAC-SHA256 …")], body, "192.0.2.1", True)


ALLOW = {
    "Decision": "Allow",
    "Principal": {"Arn": "arn:aws:iam::444455556666:user/bob", "Account": "444455556666", "UserId": "AIDAEXAMPLE", "Type": "User"},
}


def test_input_names_the_resource_its_owner_policy_tags_and_the_body_hash() -> None:
    authorizer, stub = _authorizer()
    expected = {
        "Service": "notes",
        "Region": "us-east-1",
        "Request": {
            "Method": "GET",
            "Path": "/notebooks/shared/notes/n1",
            "QueryString": "a=1",
            "Headers": [{"Name": "Host", "Value": "notes.example.com"}, {"Name": "Authorization", "Value": "AWS4-HMAC-SHA256 …"}],
            "BodySha256": hashlib.sha256(b"hello").hexdigest(),
            "SecureTransport": True,
            "SourceIp": "192.0.2.1",
        },
        "Action": "notes:GetNote",
        "Resource": "arn:aws:notes:us-east-1:444455556666:notebook/shared/note/n1",
        "ResourceAccount": "444455556666",
        "ResourcePolicy": '{"Version":"2012-10-17","Statement":[]}',
        "ResourceTags": [{"Key": "team", "Value": "blue"}],
    }
    stub.add_response("authorize_request", ALLOW, expected)
    with stub:
        outcome = authorizer.decide(_received(body=b"hello"))
    assert outcome.allowed and outcome.principal == ALLOW["Principal"]
    assert outcome.resource == "arn:aws:notes:us-east-1:444455556666:notebook/shared/note/n1"


def test_unknown_resource_defaults_to_the_servers_account() -> None:
    authorizer, _ = _authorizer()
    params = authorizer.parameters(_received("/notebooks/mine/notes/n1"), authorizer.routes.match("GET", "/notebooks/mine/notes/n1"))  # type: ignore[arg-type]
    assert (params["ResourceAccount"], params["Resource"]) == (ACCOUNT, f"arn:aws:notes:us-east-1:{ACCOUNT}:notebook/mine/note/n1")
    assert "ResourcePolicy" not in params and "ResourceTags" not in params


def test_deny_carries_the_answers_error() -> None:
    authorizer, stub = _authorizer()
    error = {
        "Code": "SignatureDoesNotMatch",
        "JsonCode": "InvalidSignatureException",
        "HttpStatus": 403,
        "Message": "The request signature…",
    }
    stub.add_response("authorize_request", {"Decision": "Deny", "Error": error})
    with stub:
        outcome = authorizer.decide(_received())
    assert outcome.error == ErrorReply(403, "SignatureDoesNotMatch", "InvalidSignatureException", "The request signature…")


def test_a_refused_call_fails_closed() -> None:
    authorizer, stub = _authorizer()
    stub.add_client_error("authorize_request", "AccessDeniedException", "not allowed", http_status_code=400)
    stub.add_client_error("authorize_request", "ThrottlingException", "slow down", http_status_code=400)
    with stub:
        assert authorizer.decide(_received()).error.status == 500  # type: ignore[union-attr]
        assert authorizer.decide(_received()).error.status == 503  # type: ignore[union-attr]


def test_unreachable_tessera_fails_closed_with_503() -> None:
    client = make_client("http://127.0.0.1:9", "us-east-1", session=_session(), connect_timeout=0.5)
    authorizer = Authorizer(ROUTES, service="notes", region="us-east-1", account=ACCOUNT, client=client)
    outcome = authorizer.decide(_received())
    assert not outcome.allowed
    assert (outcome.error.status, outcome.error.code) == (503, "ServiceUnavailable")  # type: ignore[union-attr]


def test_unknown_route_and_public_route_need_no_call() -> None:
    authorizer, stub = _authorizer()
    with stub:  # no response queued: any call would fail the test
        assert authorizer.decide(_received("/nowhere")).error.status == 404  # type: ignore[union-attr]
        assert authorizer.decide(Received("GET", "/healthz", "", [], b"", None, False)).allowed


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    body = json.dumps({"principal": scope["tessera.principal"]["Arn"], "params": scope["tessera.params"], "echo": message["body"].decode()})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body.encode()})


def _call_asgi(app: Any, path: str, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    chunks = [{"type": "http.request", "body": body[:2], "more_body": True}, {"type": "http.request", "body": body[2:], "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"a=1",
        "headers": [(b"host", b"notes.example.com")],
        "client": ("192.0.2.1", 5000),
        "scheme": "http",
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_asgi_middleware_replays_the_body_and_gives_the_principal() -> None:
    authorizer, stub = _authorizer()
    stub.add_response("authorize_request", ALLOW)
    with stub:
        status, _, body = _call_asgi(AuthzMiddleware(_app, authorizer), "/notebooks/shared/notes/n1", b"hello")
    assert status == 200
    assert json.loads(body) == {
        "principal": "arn:aws:iam::444455556666:user/bob",
        "params": {"notebook": "shared", "note": "n1"},
        "echo": "hello",
    }


def test_asgi_middleware_answers_a_denial_in_the_services_protocol() -> None:
    authorizer, stub = _authorizer()
    error = {"Code": "AccessDenied", "JsonCode": "AccessDeniedException", "HttpStatus": 403, "Message": "User: x is not authorized"}
    stub.add_response("authorize_request", {"Decision": "Deny", "Error": error})
    with stub:
        status, headers, body = _call_asgi(AuthzMiddleware(_app, authorizer, protocol="rest-json"), "/notebooks/shared/notes/n1", b"")
    assert status == 403 and headers[b"x-amzn-errortype"] == b"AccessDeniedException"
    assert json.loads(body)["message"] == "User: x is not authorized"


def test_wsgi_middleware() -> None:
    authorizer, stub = _authorizer()
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(principal=environ["tessera.principal"], body=environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ok"]

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/notebooks/shared/notes/n1",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": "5",
        "HTTP_HOST": "notes.example.com",
        "REMOTE_ADDR": "192.0.2.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"hello"),
    }
    statuses: list[str] = []
    stub.add_response("authorize_request", ALLOW)
    stub.add_response(
        "authorize_request",
        {"Decision": "Deny", "Error": {"Code": "AccessDenied", "JsonCode": "AccessDeniedException", "HttpStatus": 403, "Message": "no"}},
    )
    with stub:
        assert AuthzWSGIMiddleware(app, authorizer)(dict(environ), lambda s, h: statuses.append(s)) == [b"ok"]
        assert seen == {"principal": ALLOW["Principal"], "body": b"hello"}
        environ["wsgi.input"] = io.BytesIO(b"hello")
        denied = AuthzWSGIMiddleware(app, authorizer, protocol="rest-xml")(dict(environ), lambda s, h: statuses.append(s))
    assert statuses == ["200 OK", "403 Forbidden"]
    assert b"<Code>AccessDenied</Code>" in b"".join(denied)
