"""OpenID Connect providers, through the registered handlers over a real store."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from iamhandlers import ACCOUNT, NOW, Call, root_caller

from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.errors import (
    AccessDenied,
    ConcurrentModificationException,
    EntityAlreadyExistsException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services.iam import quotas
from tessera.services.iam.oidc_providers import parse_provider_arn, provider_identifier, require_provider, resolve_provider
from tessera.services.request import OperationContext, RequestInfo
from tessera.services.runtime import Runtime

ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider"
GITHUB = "https://token.actions.githubusercontent.com"
THUMB = "6938fd4d98bab03faadb97b34396831e3780aea1"
THUMB2 = "1c58a3a8518e8759bf075b76b750d4f2df264fcd"


def _create(call: Call, url: str = GITHUB, **extra: object) -> str:
    arn: str = call("CreateOpenIDConnectProvider", Url=url, **extra)["OpenIDConnectProviderArn"]
    return arn


@pytest.mark.parametrize(
    ("url", "identifier"),
    [
        ("https://token.actions.githubusercontent.com", "token.actions.githubusercontent.com"),
        ("https://Token.Actions.GitHubUserContent.com/", "token.actions.githubusercontent.com/"),
        ("HTTPS://idp.example.com/Realms/Main/", "idp.example.com/Realms/Main/"),
        ("https://tenant.auth0.com/", "tenant.auth0.com/"),
        ("https://idp.example.com:8443/realms/main", "idp.example.com:8443/realms/main"),
        ("https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123", "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123"),
        ("https://accounts.google.com", "accounts.google.com"),
        ("https://idp.example.com/a%2Fb/~c", "idp.example.com/a%2Fb/~c"),
    ],
    ids=["plain", "host-case-slash-kept", "path-case-and-slash-kept", "auth0", "port", "eks", "google", "pchars"],
)
def test_identifier_of_url(url: str, identifier: str) -> None:
    assert provider_identifier(url) == identifier


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com",
        "idp.example.com",
        "https://",
        "https:///path",
        "https://idp.example.com?x=1",
        "https://idp.example.com/p#frag",
        "https://user@idp.example.com",
        "https://idp.example.com:0",
        "https://idp.example.com:65536",
        "https://idp.example.com:",
        "https://idp.example.com:https",
        "https://[::1]/x",
        "https://idp_example.com",
        "https://-idp.example.com",
        "https://idp.example.com/a//b",
        "https://idp.example.com//",
        "https://idp.example.com/a//",
        "https://idp.example.com/a/../b",
        "https://idp.example.com/a b",
        "https://idp.exämple.com",
        "https://idp.example.com/" + "a" * 240,
    ],
    ids=[
        "http",
        "no-scheme",
        "empty",
        "no-host",
        "query",
        "fragment",
        "userinfo",
        "port-0",
        "port-too-big",
        "port-empty",
        "port-name",
        "ipv6",
        "underscore",
        "leading-hyphen",
        "empty-segment",
        "empty-path-slashes",
        "empty-trailing-segment",
        "dot-segment",
        "space",
        "non-ascii",
        "too-long",
    ],
)
def test_refused_urls(url: str, call: Call) -> None:
    with pytest.raises(InvalidInputException, match="Invalid OpenID Connect provider URL"):
        provider_identifier(url)
    with pytest.raises(InvalidInputException):
        call("CreateOpenIDConnectProvider", Url=url)
    assert call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"] == []


def test_create_get_list_delete(call: Call, runtime: Runtime) -> None:
    arn = _create(
        call,
        GITHUB,
        ClientIDList=["sts.amazonaws.com", "b", "sts.amazonaws.com"],
        ThumbprintList=[THUMB.upper()],
        Tags=[{"Key": "team", "Value": "ci"}],
    )
    assert arn == f"{ARN}/token.actions.githubusercontent.com"
    got = call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got == {
        "Url": "token.actions.githubusercontent.com",
        "ClientIDList": ["sts.amazonaws.com", "b"],
        "ThumbprintList": [THUMB],
        "CreateDate": NOW,
        "Tags": [{"Key": "team", "Value": "ci"}],
    }
    rec = runtime.view.account(ACCOUNT).oidc_providers["token.actions.githubusercontent.com"]  # type: ignore[union-attr]
    assert rec == {
        "url": "token.actions.githubusercontent.com",
        "client_ids": ["sts.amazonaws.com", "b"],
        "thumbprints": [THUMB],
        "create_date": "2026-01-02T03:04:05Z",
        "tags": [{"Key": "team", "Value": "ci"}],
    }
    other = _create(call, "https://idp.example.com:8443/realms/main")
    listed = call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"]
    assert listed == [{"Arn": other}, {"Arn": arn}]
    call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"] == [{"Arn": other}]
    with pytest.raises(NoSuchEntityException, match=f"^OpenIDConnect Provider not found for arn {arn}$"):
        call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    with pytest.raises(NoSuchEntityException):
        call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn)


def test_thumbprints_are_optional_and_tags_only_echoed_when_given(call: Call) -> None:
    out = call("CreateOpenIDConnectProvider", Url=GITHUB)
    assert set(out) == {"OpenIDConnectProviderArn"}
    got = call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=out["OpenIDConnectProviderArn"])
    assert got["ClientIDList"] == [] and got["ThumbprintList"] == [] and got["Tags"] == []


def test_duplicate_url_in_any_spelling(call: Call) -> None:
    _create(call)
    for url in (GITHUB, GITHUB.upper().replace("HTTPS", "https")):
        with pytest.raises(EntityAlreadyExistsException, match=f"^Provider with url {GITHUB} already exists\\.$"):
            _create(call, url)


def test_trailing_slash_is_part_of_the_identity(call: Call) -> None:
    """Auth0's issuers end in a slash: the provider keeps it, in its ARN and its URL."""
    bare = _create(call, "https://tenant.auth0.com")
    slashed = _create(call, "https://Tenant.auth0.com/")
    assert (bare, slashed) == (f"{ARN}/tenant.auth0.com", f"{ARN}/tenant.auth0.com/")
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=slashed)["Url"] == "tenant.auth0.com/"
    with pytest.raises(EntityAlreadyExistsException, match=r"^Provider with url https://tenant\.auth0\.com/ already exists\.$"):
        _create(call, "https://tenant.auth0.com/")


def test_arn_lookup_is_by_identifier(call: Call) -> None:
    arn = _create(call, "https://idp.example.com/Realm")
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=f"{ARN}/IDP.Example.com/Realm")["Url"] == "idp.example.com/Realm"
    with pytest.raises(NoSuchEntityException):  # the path keeps its case
        call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=f"{ARN}/idp.example.com/realm")
    with pytest.raises(NoSuchEntityException):  # another account's ARN names nothing here
        call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn.replace(ACCOUNT, "999988887777"))


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/",
        f"arn:aws:iam::{ACCOUNT}:saml-provider/idp.example.com",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com/a//b",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com?x",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example.com:99999",
        f"arn:aws:iam:us-east-1:{ACCOUNT}:oidc-provider/idp.example.com",
        "arn:aws:iam::12345:oidc-provider/idp.example.com",
        f"arn:aws-cn:iam::{ACCOUNT}:oidc-provider/idp.example.com",
        "not an arn at all",
    ],
    ids=["empty", "saml", "empty-segment", "query", "port", "region", "short-account", "partition", "garbage"],
)
def test_malformed_arns_are_invalid_input(arn: str, call: Call) -> None:
    with pytest.raises(InvalidInputException, match="is not valid"):
        parse_provider_arn(arn)
    for op in ("GetOpenIDConnectProvider", "DeleteOpenIDConnectProvider", "ListOpenIDConnectProviderTags"):
        with pytest.raises(InvalidInputException):
            call(op, OpenIDConnectProviderArn=arn)


def test_arn_outside_the_model_pattern_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="regular expression pattern"):
        parse_provider_arn(f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp\u0100.example.com")


def test_client_ids(call: Call) -> None:
    arn = _create(call, ClientIDList=["a"])
    call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="b")
    call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="a")  # already there: no-op
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)["ClientIDList"] == ["a", "b"]
    call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="a")
    call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="zzz")  # absent: no-op
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)["ClientIDList"] == ["b"]
    missing = f"{ARN}/missing.example.com"
    for op in ("AddClientIDToOpenIDConnectProvider", "RemoveClientIDFromOpenIDConnectProvider"):
        with pytest.raises(NoSuchEntityException):
            call(op, OpenIDConnectProviderArn=missing, ClientID="a")


def test_client_id_quota(call: Call) -> None:
    full = [f"client-{i}" for i in range(quotas.CLIENT_IDS_PER_OIDC_PROVIDER)]
    with pytest.raises(LimitExceededException, match="ClientIdsPerOpenIdConnectProvider: 100"):
        _create(call, ClientIDList=[*full, "one-more"])
    arn = _create(call, ClientIDList=full)
    call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="client-0")  # no-op even when full
    with pytest.raises(LimitExceededException, match="ClientIdsPerOpenIdConnectProvider: 100"):
        call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=arn, ClientID="one-more")


def test_thumbprints(call: Call) -> None:
    arn = _create(call, ThumbprintList=[THUMB])
    call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn, ThumbprintList=[THUMB2.upper(), THUMB])
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)["ThumbprintList"] == [THUMB2, THUMB]
    with pytest.raises(InvalidInputException, match="40 hexadecimal digits"):
        call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn, ThumbprintList=["g" * 40])
    six = [f"{i:040x}" for i in range(6)]
    with pytest.raises(InvalidInputException, match="at most 5 thumbprints"):
        call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn, ThumbprintList=six)
    with pytest.raises(InvalidInputException, match="at most 5 thumbprints"):
        _create(call, "https://other.example.com", ThumbprintList=six)
    call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=arn, ThumbprintList=six[:5])
    assert call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)["ThumbprintList"] == six[:5]
    with pytest.raises(NoSuchEntityException):
        call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=f"{ARN}/missing.example.com", ThumbprintList=[THUMB])


def test_provider_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "OIDC_PROVIDERS_PER_ACCOUNT", 2)
    _create(call, "https://one.example.com")
    _create(call, "https://two.example.com")
    with pytest.raises(LimitExceededException, match="OpenIdConnectProvidersPerAccount: 2"):
        _create(call, "https://three.example.com")


def test_tags(call: Call) -> None:
    arn = _create(call, Tags=[{"Key": "a", "Value": "1"}])
    call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, Tags=[{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}])
    assert call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "A", "Value": "2"},
        {"Key": "b", "Value": "3"},
    ]
    call("UntagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, TagKeys=["a", "absent"])
    assert call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=arn)["Tags"] == [{"Key": "b", "Value": "3"}]
    with pytest.raises(InvalidInputException, match="reserved prefix"):
        call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}])
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(quotas.TAGS_PER_ENTITY)]
    with pytest.raises(LimitExceededException):
        call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, Tags=many)
    with pytest.raises(NoSuchEntityException):
        call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=f"{ARN}/missing.example.com", Tags=[{"Key": "a", "Value": "1"}])


def test_get_account_summary_does_not_count_oidc_providers(call: Call) -> None:
    _create(call)
    assert call("GetAccountSummary")["SummaryMap"]["Providers"] == 0


def _policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_authorized_on_the_stored_arn_and_its_tags(call: Call, user_with_policy: Callable[[str, str | None], Caller]) -> None:
    prod = _create(call, "https://prod.example.com", Tags=[{"Key": "env", "Value": "prod"}])
    dev = _create(call, "https://dev.example.com", Tags=[{"Key": "env", "Value": "dev"}])
    alice = user_with_policy(
        "alice",
        _policy(
            {"Effect": "Allow", "Action": "iam:*OpenIDConnectProvider*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}}},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*", "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}},
        ),
    )
    # the ARN as sent spells the host in upper case: the decision is on the stored ARN, and its tags
    with pytest.raises(AccessDenied):
        call("GetOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=prod.replace("prod.example", "PROD.EXAMPLE"))
    with pytest.raises(AccessDenied):
        call("AddClientIDToOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=prod, ClientID="x")
    with pytest.raises(AccessDenied):
        call("DeleteOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=prod)
    assert call("GetOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=dev)["Url"] == "dev.example.com"
    call("AddClientIDToOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=dev, ClientID="x")
    with pytest.raises(AccessDenied):  # tagging dev as prod
        call("TagOpenIDConnectProvider", caller=alice, OpenIDConnectProviderArn=dev, Tags=[{"Key": "env", "Value": "prod"}])
    with pytest.raises(AccessDenied):  # creating one tagged prod
        _create(call_as(call, alice), "https://new.example.com", Tags=[{"Key": "env", "Value": "prod"}])
    _create(call_as(call, alice), "https://new.example.com", Tags=[{"Key": "env", "Value": "dev"}])
    assert len(call("ListOpenIDConnectProviders", caller=alice)["OpenIDConnectProviderList"]) == 3


def call_as(call: Call, caller: Caller) -> Call:
    return lambda op, **params: call(op, caller=caller, **params)


def test_creating_with_tags_needs_the_tag_action(call: Call, user_with_policy: Callable[[str, str | None], Caller]) -> None:
    bob = user_with_policy("bob", _policy({"Effect": "Allow", "Action": "iam:CreateOpenIDConnectProvider", "Resource": f"{ARN}/*"}))
    with pytest.raises(AccessDenied):
        _create(call_as(call, bob), Tags=[{"Key": "a", "Value": "1"}])
    _create(call_as(call, bob))
    with pytest.raises(AccessDenied):
        call("ListOpenIDConnectProviders", caller=bob)
    carol = user_with_policy("carol")
    with pytest.raises(AccessDenied):
        _create(call_as(call, carol), "https://carol.example.com")
    assert len(call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"]) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda call, arn: call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}]),
        lambda call, arn: (
            call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn),
            call("CreateOpenIDConnectProvider", Url=GITHUB),  # the same tags (none): a later create date
        ),
    ],
    ids=["tagged", "recreated"],
)
def test_write_refuses_a_provider_changed_since_authorization(
    call: Call, runtime: Runtime, clock: FixedClock, change: Callable[[Call, str], object]
) -> None:
    arn = _create(call)
    ctx = OperationContext(runtime, root_caller(), RequestInfo("req-1", clock.now(), "127.0.0.1", "pytest", "us-east-1"))
    provider = resolve_provider(ctx, arn)
    clock.advance(1)
    change(call, arn)  # between authorization and write
    with pytest.raises(ConcurrentModificationException), runtime.store.write(ACCOUNT) as tx:
        require_provider(tx, ACCOUNT, provider)


def test_write_refuses_a_provider_deleted_since_authorization(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    arn = _create(call)
    ctx = OperationContext(runtime, root_caller(), RequestInfo("req-1", clock.now(), "127.0.0.1", "pytest", "us-east-1"))
    provider = resolve_provider(ctx, arn)
    call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    with pytest.raises(NoSuchEntityException), runtime.store.write(ACCOUNT) as tx:
        require_provider(tx, ACCOUNT, provider)
