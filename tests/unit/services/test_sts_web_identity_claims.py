"""The pure parts of AssumeRoleWithWebIdentity (services/sts/web_identity.py): default
session names, claim condition keys, session tags and source identity from a token."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tessera.errors import InvalidIdentityTokenException
from tessera.services.sts.web_identity import (
    SOURCE_IDENTITY_CLAIM,
    TAGS_CLAIM,
    anonymous,
    claimed_source_identity,
    claimed_tags,
    provider_keys,
    session_name_for,
)

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


@pytest.mark.parametrize("subject", ["alice", "repo:org/app:ref:refs/heads/main", "x", "é" * 300, "a b", "::", "a" * 64, "a" * 65])
def test_default_session_names_are_valid_and_stable(subject: str) -> None:
    name = session_name_for(subject)
    assert SESSION_NAME.fullmatch(name) and name == session_name_for(subject)


def test_a_valid_subject_is_its_own_session_name_and_others_stay_distinct() -> None:
    assert session_name_for("alice@example.com") == "alice@example.com"
    assert session_name_for("a:b") != session_name_for("a/b")  # both read "a-b" before the digest


def test_provider_keys() -> None:
    claims: dict[str, Any] = {"sub": "s", "aud": ["x", "y"], "azp": "app", "amr": "mfa"}
    assert provider_keys("idp.example.com/t", claims, "app") == {
        "idp.example.com/t:aud": "app",
        "idp.example.com/t:sub": "s",
        "idp.example.com/t:azp": "app",
        "idp.example.com/t:oaud": ["x", "y"],
        "idp.example.com/t:amr": ["mfa"],
    }
    assert provider_keys("i", {"sub": "s", "aud": "app"}, "app") == {"i:aud": "app", "i:sub": "s"}


def test_github_actions_claims_are_keys_of_its_issuers_only() -> None:
    claims: dict[str, Any] = {
        "sub": "repo:o/r:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "repository": "o/r",
        "repository_id": 42,
        "run_id": "7",
    }
    keys = provider_keys("token.actions.githubusercontent.com", claims, "sts.amazonaws.com")
    assert keys["token.actions.githubusercontent.com:repository"] == "o/r"
    assert keys["token.actions.githubusercontent.com:repository_id"] == "42"
    assert "token.actions.githubusercontent.com:run_id" not in keys  # not one AWS exposes
    assert "token.actions.octo.ghe.com:repository" in provider_keys("token.actions.octo.ghe.com", claims, "sts.amazonaws.com")
    assert "idp.example.com:repository" not in provider_keys("idp.example.com", claims, "sts.amazonaws.com")


def test_tags_from_the_token() -> None:
    claim = {"principal_tags": {"team": ["blue"], "cost center": ["4 2"]}, "transitive_tag_keys": ["team"]}
    tags = claimed_tags({TAGS_CLAIM: claim}, anonymous())
    assert [(t.key, t.value) for t in tags.passed] == [("team", "blue"), ("cost center", "4 2")]
    assert tags.transitive_keys == ("team",) and tags.tagging
    assert not claimed_tags({}, anonymous()).tagging


@pytest.mark.parametrize(
    "claim",
    [
        "team=blue",
        {"principal_tags": {"team": ["a", "b"]}},
        {"principal_tags": {"team": [5]}},
        {"principal_tags": {"bad#key": ["v"]}},
        {"principal_tags": {"k": ["v" * 257]}},
        {"principal_tags": {f"k{n}": ["v"] for n in range(51)}},
        {"principal_tags": {"k": ["v"]}, "transitive_tag_keys": "k"},
    ],
)
def test_malformed_tag_claims_are_invalid_tokens(claim: object) -> None:
    with pytest.raises(InvalidIdentityTokenException):
        claimed_tags({TAGS_CLAIM: claim}, anonymous())


def test_tag_rules_of_assume_role_apply_and_a_breach_is_an_invalid_token() -> None:
    """As for a SAML assertion's tags: the token is at fault, not a request parameter."""
    with pytest.raises(InvalidIdentityTokenException):
        claimed_tags({TAGS_CLAIM: {"principal_tags": {"aws:x": ["v"]}}}, anonymous())
    with pytest.raises(InvalidIdentityTokenException):
        claimed_tags({TAGS_CLAIM: {"principal_tags": {"Team": ["a"], "team": ["b"]}}}, anonymous())
    with pytest.raises(InvalidIdentityTokenException):
        claimed_tags({TAGS_CLAIM: {"principal_tags": {"k": ["v"]}, "transitive_tag_keys": ["other"]}}, anonymous())


def test_source_identity_from_the_token() -> None:
    assert claimed_source_identity({SOURCE_IDENTITY_CLAIM: "alice@example.com"}) == "alice@example.com"
    assert claimed_source_identity({}) == ""
    for bad in ("a", "aws:me", "has space", 5, "x" * 65):
        with pytest.raises(InvalidIdentityTokenException):
            claimed_source_identity({SOURCE_IDENTITY_CLAIM: bad})
