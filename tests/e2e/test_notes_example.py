"""The example notes service (examples/notes) end to end: a real ``tessera serve`` on SQLite
and PostgreSQL, the service under a real uvicorn with the ``tessera_authz`` middleware, and
stock clients — boto3 and the AWS CLI through ``AWS_DATA_PATH`` and the example's model —
allowed and denied by identity policies, a cross-account notebook policy, tags (ABAC),
revoked sessions, a bad signature, a presigned GetNote, and Tessera stopped (503)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import wsgiref.simple_server
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from notesproc import MODELS, NotesService
from policies import allow, deny, policy, trust, unique
from serverproc import ACCOUNT_ID, REGION, Credentials, TesseraServer
from tessera_authz import Authorizer, AuthzWSGIMiddleware, Route, RouteTable, make_client


class World:
    """The service's account (the organization's management account) and a member account."""

    def __init__(self, server: TesseraServer, notes: NotesService) -> None:
        self.server = server
        self.notes = notes
        self.iam = server.client("iam")
        org = server.client("organizations")
        org.create_organization()
        admin = server.make_user(unique("admin"), policy(allow("*")))
        request = org.create_account(Email="notes-member@example.com", AccountName="member")["CreateAccountStatus"]
        self.member = str(org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"])
        access = f"arn:aws:iam::{self.member}:role/OrganizationAccountAccessRole"
        session = server.client("sts", admin).assume_role(RoleArn=access, RoleSessionName="setup")["Credentials"]
        self.member_iam = server.client("iam", Credentials.from_response(session))
        self.admin = self.user(policy(allow("*")))[1]

    def user(self, document: str, *, iam: Any = None, **create: Any) -> tuple[str, Credentials]:
        iam = iam or self.iam
        name = unique("u")
        arn = iam.create_user(UserName=name, **create)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def notebook(self, **tags: str) -> str:
        name = unique("nb")
        client = self.notes.client(self.admin)
        client.create_notebook(NotebookName=name)
        client.put_note(NotebookName=name, NoteId="n1", Text="hello")
        if tags:
            client.tag_resource(ResourceArn=arn(name), Tags=tags)
        return name


def arn(notebook: str, account: str = ACCOUNT_ID) -> str:
    return f"arn:aws:notes:{REGION}:{account}:notebook/{notebook}"


@pytest.fixture(scope="module")
def world(server: TesseraServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    creds = server.make_user(
        unique("notes-service"), policy(allow("tessera:AuthorizeRequest", f"arn:aws:tessera::{ACCOUNT_ID}:authorizer/notes"))
    )
    notes = NotesService(server.endpoint, ACCOUNT_ID, creds, str(tmp_path_factory.mktemp("notes") / "notes.db")).start()
    try:
        yield World(server, notes)
    finally:
        notes.stop()


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return dict(caught.value.response)


def test_identity_policy_allows_and_the_handler_sees_the_principal(world: World) -> None:
    name = unique("nb")
    user_arn, creds = world.user(
        policy(allow(["notes:CreateNotebook", "notes:PutNote", "notes:GetNote", "notes:ListNotes"], [arn(name), arn(name) + "/*"]))
    )
    client = world.notes.client(creds)
    assert client.create_notebook(NotebookName=name)["Notebook"] == {"Name": name, "Arn": arn(name), "Owner": ACCOUNT_ID}
    client.put_note(NotebookName=name, NoteId="n1", Text="first")
    assert client.get_note(NotebookName=name, NoteId="n1")["Note"] == {"NoteId": "n1", "Text": "first", "Author": user_arn}
    assert client.list_notes(NotebookName=name)["Notes"] == [{"NoteId": "n1", "Author": user_arn}]
    response = error_of(client.get_note, NotebookName=name, NoteId="missing")
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ResourceNotFoundException", 404)


def test_denial_reads_as_aws_and_its_message_decodes(world: World) -> None:
    name = world.notebook()
    user_arn, creds = world.user(policy(allow("notes:GetNote"), allow("sts:DecodeAuthorizationMessage")))
    client = world.notes.client(creds)
    assert client.get_note(NotebookName=name, NoteId="n1")["Note"]["Text"] == "hello"
    response = error_of(client.delete_note, NotebookName=name, NoteId="n1")
    note = f"{arn(name)}/note/n1"
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert response["Error"]["Message"] == (
        f"User: {user_arn} is not authorized to perform: notes:DeleteNote on resource: {note} "
        "because no identity-based policy allows the notes:DeleteNote action"
    )
    decoded = world.server.client("sts", creds).decode_authorization_message(EncodedMessage=response["EncodedAuthorizationMessage"])
    context = json.loads(decoded["DecodedMessage"])["context"]
    assert (context["action"], context["resource"]) == ("notes:DeleteNote", note)
    assert world.notes.client(world.admin).get_note(NotebookName=name, NoteId="n1")["Note"]["Text"] == "hello"


def test_a_bad_signature_is_refused(world: World) -> None:
    _, creds = world.user(policy(allow("notes:*")))
    forged = Credentials(creds.access_key_id, "not-the-secret-" + creds.secret_access_key[15:])
    response = error_of(world.notes.client(forged).list_notes, NotebookName=world.notebook())
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 403)


def test_cross_account_access_needs_the_notebook_policy(world: World) -> None:
    name = world.notebook()
    member_arn, creds = world.user(policy(allow(["notes:GetNote", "notes:ListNotes"])), iam=world.member_iam)
    client = world.notes.client(creds)
    response = error_of(client.get_note, NotebookName=name, NoteId="n1")
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert "because no resource-based policy allows the notes:GetNote action" in response["Error"]["Message"]
    shared = policy(allow("notes:GetNote", f"{arn(name)}/note/*", Principal={"AWS": f"arn:aws:iam::{world.member}:root"}))
    world.notes.client(world.admin).put_notebook_policy(NotebookName=name, Policy=shared)
    assert client.get_note(NotebookName=name, NoteId="n1")["Note"]["Text"] == "hello"
    assert error_of(client.list_notes, NotebookName=name)["Error"]["Code"] == "AccessDeniedException"  # not in the notebook policy
    assert member_arn.startswith(f"arn:aws:iam::{world.member}:user/")


def test_abac_by_notebook_tags(world: World) -> None:
    blue, red = world.notebook(team="blue"), world.notebook(team="red")
    same_team = {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
    _, creds = world.user(policy(allow("notes:GetNote", Condition=same_team)), Tags=[{"Key": "team", "Value": "blue"}])
    client = world.notes.client(creds)
    assert client.get_note(NotebookName=blue, NoteId="n1")["Note"]["Text"] == "hello"
    assert error_of(client.get_note, NotebookName=red, NoteId="n1")["Error"]["Code"] == "AccessDeniedException"
    world.notes.client(world.admin).tag_resource(ResourceArn=arn(red), Tags={"team": "blue"})
    assert client.get_note(NotebookName=red, NoteId="n1")["Note"]["Text"] == "hello"


def test_tagging_is_decided_on_the_request_tags(world: World) -> None:
    name = world.notebook()
    only_blue = {"StringEquals": {"aws:RequestTag/team": "blue"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}
    _, creds = world.user(policy(allow("notes:TagResource", Condition=only_blue)))
    client = world.notes.client(creds)
    client.tag_resource(ResourceArn=arn(name), Tags={"team": "blue"})
    assert error_of(client.tag_resource, ResourceArn=arn(name), Tags={"team": "red"})["Error"]["Code"] == "AccessDeniedException"
    assert (
        error_of(client.tag_resource, ResourceArn=arn(name), Tags={"team": "blue", "cost": "1"})["Error"]["Code"] == "AccessDeniedException"
    )


def test_a_revoked_session_is_refused_on_its_next_call(world: World) -> None:
    name = world.notebook()
    role = unique("r")
    world.iam.create_role(RoleName=role, AssumeRolePolicyDocument=policy(trust({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"})))
    world.iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=policy(allow("notes:*")))
    session = world.server.client("sts", world.admin).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{role}", RoleSessionName="reader"
    )
    client = world.notes.client(Credentials.from_response(session["Credentials"]))
    assert client.get_note(NotebookName=name, NoteId="n1")["Note"]["Text"] == "hello"
    cutoff = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    revoke = policy(deny("*", Condition={"DateLessThan": {"aws:TokenIssueTime": cutoff}}))
    world.iam.put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke)
    response = error_of(client.get_note, NotebookName=name, NoteId="n1")
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert "with an explicit deny in an identity-based policy" in response["Error"]["Message"]


def test_presigned_get_note(world: World) -> None:
    name = world.notebook()
    _, creds = world.user(policy(allow("notes:GetNote", f"{arn(name)}/note/n1")))
    client = world.notes.client(creds)
    url = client.generate_presigned_url("get_note", Params={"NotebookName": name, "NoteId": "n1"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert json.load(response)["Note"]["Text"] == "hello"
    other = client.generate_presigned_url("get_note", Params={"NotebookName": name, "NoteId": "n2"}, ExpiresIn=300)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(other, timeout=10)
    caught.value.close()
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(tampered, timeout=10)
    caught.value.close()
    assert (caught.value.code, caught.value.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")


def _aws(world: World, creds: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DATA_PATH=MODELS,
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    aws = str(Path(sys.executable).parent / "aws")
    command = [aws, "notes", *args, "--endpoint-url", world.notes.endpoint, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_aws_cli(world: World) -> None:
    name = world.notebook()
    _, creds = world.user(policy(allow(["notes:PutNote", "notes:GetNote"])))
    put = _aws(world, creds, "put-note", "--notebook-name", name, "--note-id", "cli", "--text", "from the CLI")
    assert put.returncode == 0, put.stderr
    got = _aws(world, creds, "get-note", "--notebook-name", name, "--note-id", "cli")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Note"]["Text"] == "from the CLI"
    denied = _aws(world, creds, "delete-note", "--notebook-name", name, "--note-id", "cli")
    assert denied.returncode != 0
    assert "An error occurred (AccessDeniedException) when calling the DeleteNote operation: User: " in denied.stderr


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_wsgi_middleware_over_a_real_server(world: World) -> None:
    """The WSGI middleware in front of a WSGI app served by wsgiref, asking the real Tessera."""
    session = botocore.session.Session()
    session.set_credentials(world.notes.creds.access_key_id, world.notes.creds.secret_access_key)
    route = Route(
        "GET", "/notebooks/{notebook}/notes/{note}", "notes:GetNote", "arn:aws:notes:{region}:{account}:notebook/{notebook}/note/{note}"
    )
    authorizer = Authorizer(
        RouteTable([route]),
        service="notes",
        region=REGION,
        account=ACCOUNT_ID,
        client=make_client(world.server.endpoint, REGION, session=session),
    )

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        note = {"NoteId": environ["tessera.params"]["note"], "Text": "from wsgi", "Author": environ["tessera.principal"]["Arn"]}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"Note": note}).encode()]

    httpd = wsgiref.simple_server.make_server("127.0.0.1", 0, AuthzWSGIMiddleware(app, authorizer), handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{httpd.server_port}"
        user_arn, creds = world.user(policy(allow("notes:GetNote", arn("w") + "/note/allowed")))
        client = NotesService(endpoint, ACCOUNT_ID, creds, "", port=httpd.server_port).client(creds)
        assert client.get_note(NotebookName="w", NoteId="allowed")["Note"] == {"NoteId": "allowed", "Text": "from wsgi", "Author": user_arn}
        response = error_of(client.get_note, NotebookName="w", NoteId="other")
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_tessera_down_fails_closed(fresh_server: Callable[..., TesseraServer], tmp_path: Path) -> None:
    """Allowed while Tessera runs; once it stops, 503 and the handler never runs."""
    server = fresh_server()
    rs = server.make_user("notes-service", policy(allow("tessera:AuthorizeRequest", f"arn:aws:tessera::{ACCOUNT_ID}:authorizer/notes")))
    creds = server.make_user("writer", policy(allow("notes:*")))
    notes = NotesService(server.endpoint, ACCOUNT_ID, rs, str(tmp_path / "notes.db")).start()
    try:
        client = notes.client(creds)
        client.create_notebook(NotebookName="nb")
        server.stop()
        response = error_of(client.put_note, NotebookName="nb", NoteId="n1", Text="lost")
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailableException", 503)
        assert "Tessera unreachable, request denied" in notes.log()
    finally:
        notes.stop()
    with closing(sqlite3.connect(tmp_path / "notes.db")) as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone() == (0,)
