"""The plain functions behind the users' and groups' pages."""

from __future__ import annotations

import pytest

from tessera.console.pages.principal_policies import ACTIONS, Target, pretty
from tessera.console.pages.principals import attempt
from tessera.console.pages.users import USER_ACTIONS
from tessera.errors import AccessDenied


@pytest.mark.parametrize(
    ("document", "shown"),
    [
        ('{"Version":"2012-10-17","Statement":[]}', '{\n  "Version": "2012-10-17",\n  "Statement": []\n}'),
        ("not json {", "not json {"),
        ("", ""),
    ],
    ids=["json-indented", "not-json-as-is", "empty"],
)
def test_pretty_indents_json_and_leaves_anything_else(document: str, shown: str) -> None:
    assert pretty(document) == shown


def test_target_names_the_parameter_of_its_kind() -> None:
    assert Target("User", "alice").param == {"UserName": "alice"}
    assert Target("Group", "admins").param == {"GroupName": "admins"}


def test_attempt_returns_the_value_or_the_refusal_message() -> None:
    assert attempt(lambda: 3) == (3, "")

    def refused() -> int:
        raise AccessDenied("User: x is not authorized to perform: iam:ListUsers")

    assert attempt(refused) == (None, "User: x is not authorized to perform: iam:ListUsers")


def test_every_policy_edit_is_an_action_of_the_users_page() -> None:
    assert {action: USER_ACTIONS[action][0] for action in ACTIONS} == dict.fromkeys(ACTIONS, "policies")
