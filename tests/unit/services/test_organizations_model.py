"""The pure parts of Organizations: ids and ARNs, the tree and its paths, SCP levels,
pagination tokens."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.loaders import Loader

from tessera.errors import OrganizationsError
from tessera.protocol.model import compile_pattern
from tessera.services import records as R
from tessera.services.organizations import ids
from tessera.services.organizations.model import FULL_AWS_ACCESS_ID, Organization, build_organizations
from tessera.services.organizations.paging import decode_token, encode_token, page

MGMT, DEV, PROD = "111111111111", "222222222222", "333333333333"
ORG, ROOT = "o-abcdefghij", "r-ab12"
OU_WORK, OU_PROD = "ou-ab12-11111111", "ou-ab12-22222222"


def model_pattern(shape: str) -> str:
    return str(Loader().load_service_model("organizations", "service-2")["shapes"][shape]["pattern"])


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (ids.new_organization_id, "OrganizationId"),
        (ids.new_root_id, "RootId"),
        (lambda: ids.new_ou_id("r-ab12"), "OrganizationalUnitId"),
        (ids.new_policy_id, "PolicyId"),
        (ids.new_request_id, "CreateAccountRequestId"),
    ],
    ids=["organization", "root", "ou", "policy", "create-account-request"],
)
def test_generated_ids_match_the_model_patterns(make: Any, shape: str) -> None:
    pattern = compile_pattern(model_pattern(shape))
    for _ in range(50):
        assert pattern.fullmatch(make())


def test_ou_id_embeds_the_root_suffix() -> None:
    assert ids.new_ou_id("r-x9z8").startswith("ou-x9z8-")


@pytest.mark.parametrize(
    ("entity_id", "kind"),
    [
        ("r-ab12", ids.ROOT),
        ("ou-ab12-11111111", ids.ORGANIZATIONAL_UNIT),
        ("123456789012", ids.ACCOUNT),
        ("p-FullAWSAccess", ids.POLICY),
        ("p-abcd1234", ids.POLICY),
        ("o-abcdefghij", None),
        ("12345", None),
    ],
    ids=["root", "ou", "account", "aws-policy", "policy", "organization", "short-number"],
)
def test_entity_type_follows_the_id_shape(entity_id: str, kind: str | None) -> None:
    assert ids.entity_type(entity_id) == kind


def records(**overrides: Any) -> list[tuple[str, dict[str, Any]]]:
    """An organization: root → OU_WORK → OU_PROD → PROD; DEV and MGMT under the root."""
    org = {
        "id": ORG,
        "feature_set": "ALL",
        "management_account": MGMT,
        "management_email": "m@example.com",
        "root_id": ROOT,
        "root_tags": [],
        "policy_types": ["SERVICE_CONTROL_POLICY"],
        "created": "2026-01-01T00:00:00Z",
    }
    org.update(overrides)

    def account(acct: str, parent: str, joined: str) -> tuple[str, dict[str, Any]]:
        return R.ORG_ACCOUNT, {
            "id": acct,
            "org": ORG,
            "name": acct,
            "email": f"{acct}@example.com",
            "state": "ACTIVE",
            "joined_method": "CREATED",
            "joined": joined,
            "parent": parent,
            "tags": [],
        }

    def ou(ou_id: str, parent: str, created: str) -> tuple[str, dict[str, Any]]:
        return R.ORG_OU, {"id": ou_id, "org": ORG, "name": ou_id, "parent": parent, "created": created, "tags": []}

    def attach(target: str, policy: str, when: str = "2026-01-01T00:00:00Z") -> tuple[str, dict[str, Any]]:
        return R.ORG_ATTACHMENT, {"org": ORG, "target": target, "policy": policy, "attached": when}

    deny = {
        "id": "p-deny0001",
        "org": ORG,
        "type": "SERVICE_CONTROL_POLICY",
        "name": "deny",
        "description": "",
        "content": "{}",
        "created": "2026-01-02T00:00:00Z",
        "tags": [],
    }
    return [
        (R.ORG, org),
        account(MGMT, ROOT, "2026-01-01T00:00:00Z"),
        account(DEV, ROOT, "2026-01-03T00:00:00Z"),
        account(PROD, OU_PROD, "2026-01-02T00:00:00Z"),
        ou(OU_PROD, OU_WORK, "2026-01-02T00:00:00Z"),
        ou(OU_WORK, ROOT, "2026-01-01T00:00:00Z"),
        (R.ORG_POLICY, deny),
        attach(ROOT, FULL_AWS_ACCESS_ID),
        attach(OU_WORK, FULL_AWS_ACCESS_ID),
        attach(OU_PROD, FULL_AWS_ACCESS_ID),
        attach(OU_PROD, "p-deny0001", "2026-01-02T00:00:00Z"),
        attach(PROD, FULL_AWS_ACCESS_ID),
        attach(DEV, FULL_AWS_ACCESS_ID),
    ]


def organization(**overrides: Any) -> Organization:
    org = build_organizations(records(**overrides)).get(ORG)
    assert org is not None
    return org


@pytest.mark.parametrize(
    ("entity_id", "path"),
    [
        (ROOT, f"{ORG}/{ROOT}/"),
        (OU_PROD, f"{ORG}/{ROOT}/{OU_WORK}/{OU_PROD}/"),
        (PROD, f"{ORG}/{ROOT}/{OU_WORK}/{OU_PROD}/{PROD}/"),
        (DEV, f"{ORG}/{ROOT}/{DEV}/"),
    ],
    ids=["root", "nested-ou", "account-in-nested-ou", "account-under-root"],
)
def test_entity_paths_run_from_the_organization_to_the_entity(entity_id: str, path: str) -> None:
    assert organization().path(entity_id) == path
    assert compile_pattern(model_pattern("Path")).fullmatch(path)


@pytest.mark.parametrize(
    ("account", "org_path"),
    [(PROD, f"{ORG}/{ROOT}/{OU_WORK}/{OU_PROD}/"), (DEV, f"{ORG}/{ROOT}/")],
    ids=["nested", "under-root"],
)
def test_org_path_condition_value_ends_at_the_parent(account: str, org_path: str) -> None:
    assert organization().org_path(account) == org_path


def test_scp_levels_run_root_then_each_ou_then_the_account() -> None:
    assert organization().scp_levels(PROD) == (
        (FULL_AWS_ACCESS_ID,),
        (FULL_AWS_ACCESS_ID,),
        (FULL_AWS_ACCESS_ID, "p-deny0001"),
        (FULL_AWS_ACCESS_ID,),
    )


def test_scp_level_with_nothing_attached_is_empty() -> None:
    org = build_organizations([r for r in records() if r[1].get("target") != DEV]).get(ORG)
    assert org is not None and org.scp_levels(DEV) == ((FULL_AWS_ACCESS_ID,), ())


@pytest.mark.parametrize(
    ("account", "overrides", "applies"),
    [
        (PROD, {}, True),
        (MGMT, {}, False),
        (PROD, {"policy_types": []}, False),
        ("999999999999", {}, False),
    ],
    ids=["member", "management-account", "scps-disabled", "not-a-member"],
)
def test_scps_apply_only_to_member_accounts_while_enabled(account: str, overrides: dict[str, Any], applies: bool) -> None:
    assert organization(**overrides).scps_apply_to(account) is applies


def test_full_aws_access_exists_only_with_all_features() -> None:
    assert organization().policy(FULL_AWS_ACCESS_ID) is not None
    assert organization(feature_set="CONSOLIDATED_BILLING").policy(FULL_AWS_ACCESS_ID) is None


def test_children_are_listed_oldest_first_and_by_type() -> None:
    org = organization()
    assert [a["id"] for a in org.children(ROOT, ids.ACCOUNT)] == [MGMT, DEV]
    assert [o["id"] for o in org.children(ROOT, ids.ORGANIZATIONAL_UNIT)] == [OU_WORK]


def test_targets_of_a_policy_list_root_then_ous_then_accounts() -> None:
    assert organization().targets_of(FULL_AWS_ACCESS_ID) == [ROOT, OU_WORK, OU_PROD, DEV, PROD]


def test_records_of_two_organizations_stay_apart() -> None:
    other = [
        (
            R.ORG,
            {
                "id": "o-zzzzzzzzzz",
                "feature_set": "ALL",
                "management_account": "444444444444",
                "management_email": "",
                "root_id": ROOT,
                "root_tags": [],
                "policy_types": [],
                "created": "",
            },
        ),
        (
            R.ORG_ACCOUNT,
            {
                "id": "444444444444",
                "org": "o-zzzzzzzzzz",
                "name": "x",
                "email": "",
                "state": "ACTIVE",
                "joined_method": "INVITED",
                "joined": "",
                "parent": ROOT,
                "tags": [],
            },
        ),
    ]
    orgs = build_organizations(records() + other)
    assert orgs.of_account("444444444444").id == "o-zzzzzzzzzz"  # type: ignore[union-attr]
    assert orgs.of_account(PROD).id == ORG  # type: ignore[union-attr]
    assert list(orgs.get("o-zzzzzzzzzz").accounts) == ["444444444444"]  # type: ignore[union-attr]


def test_arns_follow_the_documented_formats() -> None:
    org = organization()
    assert org.arn(OU_PROD) == f"arn:aws:organizations::{MGMT}:ou/{ORG}/{OU_PROD}"
    assert org.arn(PROD) == f"arn:aws:organizations::{MGMT}:account/{ORG}/{PROD}"
    assert org.arn(ROOT) == f"arn:aws:organizations::{MGMT}:root/{ORG}/{ROOT}"
    assert org.arn("p-deny0001") == f"arn:aws:organizations::{MGMT}:policy/{ORG}/service_control_policy/p-deny0001"
    assert org.arn(FULL_AWS_ACCESS_ID) == "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess"


def test_pages_carry_a_token_until_the_last_item() -> None:
    items = list(range(45))
    first = page("ListAccounts", items, {}, "Accounts")
    assert first["Accounts"] == list(range(20))
    second = page("ListAccounts", items, {"NextToken": first["NextToken"], "MaxResults": 20}, "Accounts")
    third = page("ListAccounts", items, {"NextToken": second["NextToken"]}, "Accounts")
    assert third == {"Accounts": list(range(40, 45))}


@pytest.mark.parametrize(
    "token",
    [encode_token("ListRoots", 1), "not base64!", encode_token("ListAccounts", -1), "bm9jb2xvbg=="],
    ids=["other-operation", "garbage", "negative", "no-separator"],
)
def test_foreign_tokens_are_invalid_input(token: str) -> None:
    with pytest.raises(OrganizationsError) as caught:
        decode_token("ListAccounts", token)
    assert (caught.value.code, caught.value.reason) == ("InvalidInputException", "INVALID_NEXT_TOKEN")
