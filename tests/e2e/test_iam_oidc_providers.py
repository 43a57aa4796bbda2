"""IAM OpenID Connect providers end to end: real boto3 and the AWS CLI against
``tessera serve`` on SQLite and PostgreSQL, the denied side, and the audit trail."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from policies import unique
from serverproc import CLIENT_CONFIG, TesseraServer
from test_iam_cli import aws_json, run_aws

THUMB = "6938fd4d98bab03faadb97b34396831e3780aea1"
THUMB2 = "1c58a3a8518e8759bf075b76b750d4f2df264fcd"


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def policy(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_provider_lifecycle(iam: Any, server: TesseraServer) -> None:
    host = f"{unique('idp')}.example.com"
    url = f"https://{host.upper()}:8443/realms/Main/"
    made = iam.create_open_id_connect_provider(
        Url=url, ClientIDList=["sts.amazonaws.com", "app"], ThumbprintList=[THUMB.upper()], Tags=[{"Key": "team", "Value": "ci"}]
    )
    arn = made["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:oidc-provider/{host}:8443/realms/Main/"
    assert made["Tags"] == [{"Key": "team", "Value": "ci"}]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (f"{host}:8443/realms/Main/", ["sts.amazonaws.com", "app"], [THUMB])
    assert got["Tags"] == [{"Key": "team", "Value": "ci"}] and got["CreateDate"].tzinfo is not None
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app")  # already there
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="never-added")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[THUMB2, THUMB])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["ClientIDList"], got["ThumbprintList"]) == (["app", "other"], [THUMB2, THUMB])
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == []

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["team"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert {"Arn": arn} not in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert error_of(lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)) == ("NoSuchEntity", 404)
    assert error_of(lambda: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)) == ("NoSuchEntity", 404)


def test_refusals_on_the_wire(iam: Any, server: TesseraServer) -> None:
    url = f"https://{unique('dup')}.example.com"
    arn = iam.create_open_id_connect_provider(Url=url)["OpenIDConnectProviderArn"]
    unchecked = server.client("iam", config=CLIENT_CONFIG.merge(Config(parameter_validation=False)))
    with pytest.raises(ClientError) as dup:
        iam.create_open_id_connect_provider(Url=url.upper().replace("HTTPS", "https"))
    assert dup.value.response["Error"]["Code"] == "EntityAlreadyExists"
    assert dup.value.response["Error"]["Message"] == f"Provider with url {url} already exists."
    assert error_of(lambda: iam.create_open_id_connect_provider(Url="http://insecure.example.com")) == ("InvalidInput", 400)
    assert error_of(lambda: iam.create_open_id_connect_provider(Url=url + "?q=1")) == ("InvalidInput", 400)
    assert error_of(lambda: unchecked.create_open_id_connect_provider(Url="https://x.example.com/" + "a" * 250)) == ("ValidationError", 400)
    assert error_of(lambda: unchecked.create_open_id_connect_provider(Url=url + "/t", ThumbprintList=["abc"])) == ("ValidationError", 400)
    assert error_of(lambda: iam.create_open_id_connect_provider(Url=url + "/t", ThumbprintList=["z" * 40])) == ("InvalidInput", 400)
    six = [f"{i:040x}" for i in range(6)]
    assert error_of(lambda: iam.create_open_id_connect_provider(Url=url + "/t", ThumbprintList=six)) == ("InvalidInput", 400)
    many = [f"client-{i}" for i in range(101)]
    assert error_of(lambda: iam.create_open_id_connect_provider(Url=url + "/t", ClientIDList=many)) == ("LimitExceeded", 409)
    assert error_of(lambda: unchecked.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="")) == (
        "ValidationError",
        400,
    )
    missing = f"arn:aws:iam::{server.account_id}:oidc-provider/{unique('none')}.example.com"
    assert error_of(lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=missing)) == ("NoSuchEntity", 404)
    assert error_of(lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=missing, ClientID="a")) == (
        "NoSuchEntity",
        404,
    )
    bad = f"arn:aws:iam::{server.account_id}:oidc-provider/a//b"
    assert error_of(lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=bad)) == ("InvalidInput", 400)
    user_arn = f"arn:aws:iam::{server.account_id}:user/x"
    assert error_of(lambda: iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=user_arn)) == ("InvalidInput", 400)
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"].count({"Arn": arn}) == 1
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_denied_callers_write_nothing(iam: Any, server: TesseraServer) -> None:
    prod_url, dev_url = f"https://{unique('prod')}.example.com", f"https://{unique('dev')}.example.com"
    prod = iam.create_open_id_connect_provider(Url=prod_url, Tags=[{"Key": "env", "Value": "prod"}])["OpenIDConnectProviderArn"]
    dev = iam.create_open_id_connect_provider(Url=dev_url, Tags=[{"Key": "env", "Value": "dev"}])["OpenIDConnectProviderArn"]

    nobody = server.client("iam", server.make_user(unique("nooidc")))
    for call in (
        lambda: nobody.create_open_id_connect_provider(Url=f"https://{unique('nobody')}.example.com"),
        lambda: nobody.list_open_id_connect_providers(),
        lambda: nobody.get_open_id_connect_provider(OpenIDConnectProviderArn=dev),
        lambda: nobody.delete_open_id_connect_provider(OpenIDConnectProviderArn=dev),
    ):
        assert error_of(call) == ("AccessDenied", 403)

    not_prod = policy(
        {"Effect": "Allow", "Action": "iam:*OpenIDConnectProvider*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}}},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}},
    )
    ops = server.client("iam", server.make_user(unique("oidcops"), not_prod))
    assert ops.get_open_id_connect_provider(OpenIDConnectProviderArn=dev)["Url"] == dev_url.removeprefix("https://")
    assert error_of(lambda: ops.get_open_id_connect_provider(OpenIDConnectProviderArn=prod)) == ("AccessDenied", 403)
    denied = ("AccessDenied", 403)
    assert error_of(lambda: ops.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=prod, ClientID="x")) == denied
    assert error_of(lambda: ops.delete_open_id_connect_provider(OpenIDConnectProviderArn=prod)) == ("AccessDenied", 403)
    retag = [{"Key": "env", "Value": "prod"}]
    assert error_of(lambda: ops.tag_open_id_connect_provider(OpenIDConnectProviderArn=dev, Tags=retag)) == ("AccessDenied", 403)
    new_url = f"https://{unique('new')}.example.com"
    assert error_of(lambda: ops.create_open_id_connect_provider(Url=new_url, Tags=retag)) == ("AccessDenied", 403)
    listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert {"Arn": prod} in listed and {"Arn": dev} in listed and all(new_url[8:] not in p["Arn"] for p in listed)
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=prod)["ClientIDList"] == []
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=dev)["Tags"] == [{"Key": "env", "Value": "dev"}]
    ops.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=dev, ClientID="x")
    ops.delete_open_id_connect_provider(OpenIDConnectProviderArn=dev)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=prod)


def test_providers_through_the_cli(server: TesseraServer) -> None:
    root = server.root
    host = f"{unique('cli')}.example.com"
    made = aws_json(
        server,
        root,
        "iam",
        "create-open-id-connect-provider",
        "--url",
        f"https://{host}",
        "--client-id-list",
        "sts.amazonaws.com",
        "--thumbprint-list",
        THUMB,
        "--tags",
        "Key=team,Value=ci",
    )
    arn = made["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:oidc-provider/{host}"
    on_arn = ("--open-id-connect-provider-arn", arn)
    assert aws_json(server, root, "iam", "add-client-id-to-open-id-connect-provider", *on_arn, "--client-id", "app") == {}
    aws_json(server, root, "iam", "update-open-id-connect-provider-thumbprint", *on_arn, "--thumbprint-list", THUMB2)
    got = aws_json(server, root, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == (host, ["sts.amazonaws.com", "app"], [THUMB2])
    listed = aws_json(server, root, "iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    assert {"Arn": arn} in listed
    tags = aws_json(server, root, "iam", "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"]
    assert tags == [{"Key": "team", "Value": "ci"}]

    reader = server.make_user(unique("clioidc"), policy({"Effect": "Allow", "Action": "iam:ListOpenIDConnectProviders", "Resource": "*"}))
    assert {"Arn": arn} in aws_json(server, reader, "iam", "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    refused = run_aws(server, reader, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr
    aws_json(server, root, "iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    gone = run_aws(server, root, "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert gone.returncode != 0 and "NoSuchEntity" in gone.stderr


def test_writes_are_audited(fresh_server: Any) -> None:
    server = fresh_server()
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(Url="https://audit.example.com", ClientIDList=["a"])["OpenIDConnectProviderArn"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="b")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert server.stop() == 0  # flushes the audit trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    events = {r["eventName"]: r for r in map(json.loads, out.stdout.splitlines()) if "OpenIDConnect" in r["eventName"]}
    assert set(events) == {"CreateOpenIDConnectProvider", "AddClientIDToOpenIDConnectProvider", "DeleteOpenIDConnectProvider"}
    assert events["CreateOpenIDConnectProvider"]["requestParameters"]["url"] == "https://audit.example.com"
    assert events["CreateOpenIDConnectProvider"]["responseElements"]["openIDConnectProviderArn"] == arn
    assert events["DeleteOpenIDConnectProvider"]["readOnly"] is False
