"""Organizations identifiers and ARNs, in AWS's formats
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html). Pure.

Ids are drawn from the OS's CSPRNG with AWS's observed lengths: ``o-`` + 10,
``r-`` + 4, ``ou-<root suffix>-`` + 8, ``p-`` + 8, ``car-`` + 32 lower-case letters
and digits. The id's shape alone says what kind of entity it names, which the
``*Id`` parameters of the API rely on (``TargetId`` may be a root, OU or account).
"""

from __future__ import annotations

import re
import secrets
import string

ALPHABET = string.ascii_lowercase + string.digits

ROOT_ID = re.compile(r"r-[0-9a-z]{4,32}")
OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}")
ACCOUNT_ID = re.compile(r"\d{12}")
POLICY_ID = re.compile(r"p-[0-9a-zA-Z_]{8,128}")

ROOT = "ROOT"
ORGANIZATIONAL_UNIT = "ORGANIZATIONAL_UNIT"
ACCOUNT = "ACCOUNT"
POLICY = "POLICY"


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_organization_id() -> str:
    return "o-" + _random(10)


def new_root_id() -> str:
    return "r-" + _random(4)


def new_ou_id(root_id: str) -> str:
    """OU ids embed their root's suffix: ``ou-<root suffix>-<8 random>``."""
    return f"ou-{root_id[2:]}-{_random(8)}"


def new_policy_id() -> str:
    return "p-" + _random(8)


def new_request_id() -> str:
    return "car-" + _random(32)


def entity_type(entity_id: str) -> str | None:
    """ROOT, ORGANIZATIONAL_UNIT, ACCOUNT or POLICY by the id's shape; None if it has none."""
    for pattern, kind in (
        (ROOT_ID, ROOT),
        (OU_ID, ORGANIZATIONAL_UNIT),
        (ACCOUNT_ID, ACCOUNT),
        (POLICY_ID, POLICY),
    ):
        if pattern.fullmatch(entity_id):
            return kind
    return None


# -- ARNs (arn:aws:organizations::<management account>:…) ---------------------------------
def _prefix(management: str) -> str:
    return f"arn:aws:organizations::{management}"


def organization_arn(management: str, org_id: str) -> str:
    return f"{_prefix(management)}:organization/{org_id}"


def root_arn(management: str, org_id: str, root_id: str) -> str:
    return f"{_prefix(management)}:root/{org_id}/{root_id}"


def ou_arn(management: str, org_id: str, ou_id: str) -> str:
    return f"{_prefix(management)}:ou/{org_id}/{ou_id}"


def account_arn(management: str, org_id: str, account_id: str) -> str:
    return f"{_prefix(management)}:account/{org_id}/{account_id}"


def policy_arn(management: str, org_id: str, policy_type: str, policy_id: str) -> str:
    return f"{_prefix(management)}:policy/{org_id}/{policy_type.lower()}/{policy_id}"


def aws_managed_policy_arn(policy_type: str, policy_id: str) -> str:
    return f"arn:aws:organizations::aws:policy/{policy_type.lower()}/{policy_id}"


def entity_arn(management: str, org_id: str, entity_id: str, policy_type: str) -> str:
    """The ARN an id names (used to authorize before existence is known)."""
    kind = entity_type(entity_id)
    if kind == ROOT:
        return root_arn(management, org_id, entity_id)
    if kind == ORGANIZATIONAL_UNIT:
        return ou_arn(management, org_id, entity_id)
    if kind == ACCOUNT:
        return account_arn(management, org_id, entity_id)
    if kind == POLICY:
        return policy_arn(management, org_id, policy_type, entity_id)
    return "*"
