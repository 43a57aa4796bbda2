"""Organization records in the store's GLOBAL scope: their types, and reading them back.

Each kind is one ``TypedDict`` below ("o/" in a key = "<org id>/"); the kind names are in
``tessera.services.records``, whose ``load`` turns stored data into these types. Keys of per-organization
entities are prefixed with the organization id (root, OU and policy ids are random and
short, so two organizations on one server could otherwise collide); account ids and
create-account request ids are globally unique and used as they are. Every write to
these records locks the GLOBAL scope, so organization changes serialise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from tessera.services import records as R
from tessera.services.organizations.model import Organizations, build_organizations
from tessera.services.records import (
    OrgAccountRecord,
    OrgAttachmentRecord,
    OrgOuRecord,
    OrgPolicyRecord,
    OrgRecord,
)
from tessera.services.view import StateView
from tessera.store.base import GLOBAL, Transaction

Tag = dict[str, str]  # {"Key": …, "Value": …}


KINDS = (R.ORG, R.ORG_OU, R.ORG_ACCOUNT, R.ORG_POLICY, R.ORG_ATTACHMENT)


def ou_key(org_id: str, ou_id: str) -> str:
    return f"{org_id}/{ou_id}"


def policy_key(org_id: str, policy_id: str) -> str:
    return f"{org_id}/{policy_id}"


def attachment_key(org_id: str, target_id: str, policy_id: str) -> str:
    return f"{org_id}/{target_id}/{policy_id}"


def from_view(view: StateView) -> Organizations:
    """Every organization as the in-memory view sees it (no SQL)."""
    return build_organizations((kind, rec) for kind in KINDS for rec in view.global_records(kind))


def from_transaction(tx: Transaction) -> Organizations:
    """Every organization as stored, read inside a transaction that locks GLOBAL."""
    return build_organizations((kind, rec.data) for kind in KINDS for rec in tx.list(GLOBAL, kind))


def attach(tx: Transaction, org_id: str, target_id: str, policy_id: str, when: str) -> None:
    link: OrgAttachmentRecord = {"org": org_id, "target": target_id, "policy": policy_id, "attached": when}
    tx.insert(GLOBAL, R.ORG_ATTACHMENT, attachment_key(org_id, target_id, policy_id), link)


def detach(tx: Transaction, org_id: str, target_id: str, policy_id: str) -> None:
    tx.delete(GLOBAL, R.ORG_ATTACHMENT, attachment_key(org_id, target_id, policy_id))


def detach_all_from(tx: Transaction, org_id: str, target_id: str, policy_ids: Iterable[str]) -> None:
    for policy_id in policy_ids:
        detach(tx, org_id, target_id, policy_id)


_Rec = TypeVar("_Rec", OrgRecord, OrgOuRecord, OrgAccountRecord, OrgPolicyRecord)


def replace(tx: Transaction, kind: str, key: str, new: _Rec) -> _Rec:
    """Store ``new`` as the record ``kind``/``key`` (which exists) and return it."""
    tx.update(GLOBAL, kind, key, new)
    return new
