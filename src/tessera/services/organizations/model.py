"""Organizations as plain values: the tree, paths and SCP levels, built from records. Pure.

One ``Organization`` is an immutable snapshot of one organization's records; handlers
and authorization both read it, so "which SCPs apply to account X" has one answer.
The FullAWSAccess policy is not stored: it exists in every organization whose feature
set allows SCPs, and only its attachments are records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, final

from tessera.services import records as R
from tessera.services.organizations import ids

if TYPE_CHECKING:  # organizations.records builds organizations with this module
    from tessera.services.records import (
        OrgAccountRecord,
        OrgAttachmentRecord,
        OrgOuRecord,
        OrgPolicyRecord,
        OrgRecord,
        Tag,
    )

SCP = "SERVICE_CONTROL_POLICY"
ALL_FEATURES = "ALL"
FULL_AWS_ACCESS_ID = "p-FullAWSAccess"
FULL_AWS_ACCESS_CONTENT = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


@final
class AwsManagedScp(TypedDict):
    """An AWS managed SCP: not stored, the same in every organization."""

    id: str
    type: str
    name: str
    description: str
    content: str
    aws_managed: bool  # always True: tells it from an ``OrgPolicyRecord``
    tags: list[Tag]


FULL_AWS_ACCESS: AwsManagedScp = {
    "id": FULL_AWS_ACCESS_ID,
    "type": SCP,
    "name": "FullAWSAccess",
    "description": "Allows access to every operation",
    "content": FULL_AWS_ACCESS_CONTENT,
    "aws_managed": True,
    "tags": [],
}


@dataclass(frozen=True)
class Organization:
    """One organization: its record plus its OUs, accounts, policies and attachments."""

    record: OrgRecord
    ous: Mapping[str, OrgOuRecord] = field(default_factory=dict)  # ou id → record
    accounts: Mapping[str, OrgAccountRecord] = field(default_factory=dict)  # account id → record
    policies: Mapping[str, OrgPolicyRecord] = field(default_factory=dict)  # customer policy id → record
    attachments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # target → policy ids

    # -- the organization itself ---------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def management_account(self) -> str:
        return self.record["management_account"]

    @property
    def root_id(self) -> str:
        return self.record["root_id"]

    @property
    def feature_set(self) -> str:
        return self.record["feature_set"]

    @property
    def policy_types(self) -> tuple[str, ...]:
        return tuple(self.record["policy_types"])

    @property
    def scps_enabled(self) -> bool:
        return SCP in self.policy_types

    def arn(self, entity_id: str) -> str:
        """The ARN of a root, OU, account or policy of this organization (by id shape)."""
        if entity_id == FULL_AWS_ACCESS_ID:
            return ids.aws_managed_policy_arn(SCP, entity_id)
        policy = self.policies.get(entity_id)
        policy_type = policy["type"] if policy else SCP
        return ids.entity_arn(self.management_account, self.id, entity_id, policy_type)

    @property
    def org_arn(self) -> str:
        return ids.organization_arn(self.management_account, self.id)

    # -- the tree ------------------------------------------------------------------------
    def kind_of(self, entity_id: str) -> str | None:
        """ROOT, ORGANIZATIONAL_UNIT or ACCOUNT when this organization has that entity."""
        if entity_id == self.root_id:
            return ids.ROOT
        if entity_id in self.ous:
            return ids.ORGANIZATIONAL_UNIT
        if entity_id in self.accounts:
            return ids.ACCOUNT
        return None

    def is_parent(self, entity_id: str) -> bool:
        return entity_id == self.root_id or entity_id in self.ous

    def parent_of(self, child_id: str) -> str | None:
        record: OrgOuRecord | OrgAccountRecord | None = self.ous.get(child_id) or self.accounts.get(child_id)
        return record["parent"] if record else None

    def ancestors(self, entity_id: str) -> tuple[str, ...]:
        """Root first, down to the entity's parent (empty for the root)."""
        chain: list[str] = []
        parent = self.parent_of(entity_id)
        while parent is not None:
            chain.append(parent)
            parent = self.parent_of(parent)
        return tuple(reversed(chain))

    def ou_depth(self, ou_id: str) -> int:
        """1 for an OU directly under the root."""
        return len(self.ancestors(ou_id))

    def path(self, entity_id: str) -> str:
        """``o-…/r-…/ou-…/<entity>/``: the entity path Organizations reports in ``Paths``."""
        return "/".join([self.id, *self.ancestors(entity_id), entity_id]) + "/"

    def org_path(self, account_id: str) -> str:
        """``aws:PrincipalOrgPaths``/``aws:ResourceOrgPaths`` value: the path to the
        account's parent, trailing slash, without the account id."""
        return "/".join([self.id, *self.ancestors(account_id)]) + "/"

    def children(self, parent_id: str, child_type: str) -> list[OrgOuRecord] | list[OrgAccountRecord]:
        """Children of a root or OU, oldest first."""
        return self.child_ous(parent_id) if child_type == ids.ORGANIZATIONAL_UNIT else self.child_accounts(parent_id)

    def child_ous(self, parent_id: str) -> list[OrgOuRecord]:
        """The OUs directly under a root or OU, oldest first."""
        return sorted((rec for rec in self.ous.values() if rec["parent"] == parent_id), key=_created_order)

    def child_accounts(self, parent_id: str) -> list[OrgAccountRecord]:
        """The accounts directly under a root or OU, ordered as OUs are (accounts have no
        ``created``: by id)."""
        return sorted((rec for rec in self.accounts.values() if rec["parent"] == parent_id), key=_created_order)

    def ou_named(self, parent_id: str, name: str) -> OrgOuRecord | None:
        return next((ou for ou in self.child_ous(parent_id) if ou["name"] == name), None)

    def accounts_in_order(self) -> list[OrgAccountRecord]:
        return sorted(self.accounts.values(), key=_joined_order)

    # -- policies ------------------------------------------------------------------------
    def policy(self, policy_id: str) -> OrgPolicyRecord | AwsManagedScp | None:
        """A customer policy, or FullAWSAccess while this organization can use SCPs."""
        if policy_id == FULL_AWS_ACCESS_ID:
            return FULL_AWS_ACCESS if self.feature_set == ALL_FEATURES else None
        return self.policies.get(policy_id)

    def policy_named(self, name: str) -> OrgPolicyRecord | AwsManagedScp | None:
        return next((p for p in self.all_policies() if p["name"] == name), None)

    def all_policies(self) -> list[OrgPolicyRecord | AwsManagedScp]:
        """FullAWSAccess (when available) first, then customer policies by creation."""
        managed: list[OrgPolicyRecord | AwsManagedScp] = [FULL_AWS_ACCESS] if self.feature_set == ALL_FEATURES else []
        return managed + sorted(self.policies.values(), key=_created_order)

    def policies_on(self, target_id: str) -> tuple[str, ...]:
        return self.attachments.get(target_id, ())

    def targets_of(self, policy_id: str) -> list[str]:
        """Targets a policy is attached to: the root, then OUs, then accounts."""
        targets = [t for t, pids in self.attachments.items() if policy_id in pids]
        order = {ids.ROOT: 0, ids.ORGANIZATIONAL_UNIT: 1, ids.ACCOUNT: 2}
        return sorted(targets, key=lambda t: (order.get(self.kind_of(t) or "", 3), t))

    def scp_levels(self, account_id: str) -> tuple[tuple[str, ...], ...]:
        """Policy ids attached at each level from the root down to the account itself.

        The engine requires an Allow at every level; a level with nothing attached
        therefore allows nothing (which AWS prevents by refusing to detach the last
        SCP, so it only happens if records were edited by hand)."""
        chain = (*self.ancestors(account_id), account_id)
        return tuple(self.policies_on(target) for target in chain)

    def scps_apply_to(self, account_id: str) -> bool:
        """SCPs limit every member account, never the management account."""
        return self.scps_enabled and account_id in self.accounts and account_id != self.management_account


@dataclass(frozen=True)
class Organizations:
    """Every organization on this server, and which one each account belongs to."""

    by_id: Mapping[str, Organization] = field(default_factory=dict)
    membership: Mapping[str, str] = field(default_factory=dict)  # account id → org id

    def of_account(self, account_id: str) -> Organization | None:
        org_id = self.membership.get(account_id)
        return self.by_id.get(org_id) if org_id else None

    def get(self, org_id: str) -> Organization | None:
        return self.by_id.get(org_id)

    def emails(self) -> set[str]:
        """Every member account's e-mail address, lower-cased."""
        return {acct["email"].lower() for org in self.by_id.values() for acct in org.accounts.values()}


def build_organizations(records: Iterable[tuple[str, Mapping[str, Any]]]) -> Organizations:
    """Group raw ``(kind, data)`` records of the GLOBAL scope into organizations."""
    orgs: dict[str, OrgRecord] = {}
    ous: dict[str, dict[str, OrgOuRecord]] = {}
    accounts: dict[str, dict[str, OrgAccountRecord]] = {}
    policies: dict[str, dict[str, OrgPolicyRecord]] = {}
    attachments: dict[str, list[OrgAttachmentRecord]] = {}
    for kind, data in records:
        if kind == R.ORG:
            org = R.load(R.ORG, data)
            orgs[org["id"]] = org
        elif kind == R.ORG_OU:
            ou = R.load(R.ORG_OU, data)
            ous.setdefault(ou["org"], {})[ou["id"]] = ou
        elif kind == R.ORG_ACCOUNT:
            account = R.load(R.ORG_ACCOUNT, data)
            accounts.setdefault(account["org"], {})[account["id"]] = account
        elif kind == R.ORG_POLICY:
            policy = R.load(R.ORG_POLICY, data)
            policies.setdefault(policy["org"], {})[policy["id"]] = policy
        elif kind == R.ORG_ATTACHMENT:
            link = R.load(R.ORG_ATTACHMENT, data)
            attachments.setdefault(link["org"], []).append(link)
    by_id = {
        org_id: _organization(record, ous.get(org_id, {}), accounts.get(org_id, {}), policies.get(org_id, {}), attachments.get(org_id, []))
        for org_id, record in orgs.items()
    }
    membership = {acct: org.id for org in by_id.values() for acct in org.accounts}
    return Organizations(by_id=by_id, membership=membership)


def _organization(
    record: OrgRecord,
    ous: Mapping[str, OrgOuRecord],
    accounts: Mapping[str, OrgAccountRecord],
    policies: Mapping[str, OrgPolicyRecord],
    links: list[OrgAttachmentRecord],
) -> Organization:
    attached: dict[str, list[str]] = {}
    for link in sorted(links, key=lambda r: (r["attached"], r["policy"])):
        attached.setdefault(link["target"], []).append(link["policy"])
    return Organization(
        record=record,
        ous=dict(ous),
        accounts=dict(accounts),
        policies=dict(policies),
        attachments={target: tuple(pids) for target, pids in attached.items()},
    )


def _created_order(rec: OrgOuRecord | OrgAccountRecord | OrgPolicyRecord) -> tuple[str, str]:
    return (str(rec.get("created", "")), rec["id"])


def _joined_order(rec: OrgAccountRecord) -> tuple[str, str]:
    return (rec["joined"], rec["id"])
