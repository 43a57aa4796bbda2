"""Records → the output structures of the Organizations model (botocore member names)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tessera.services.organizations import ids
from tessera.services.organizations.model import AwsManagedScp, Organization
from tessera.services.records import OrgAccountRecord, OrgCreateAccountStatusRecord, OrgOuRecord, OrgPolicyRecord


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def policy_type_summaries(org: Organization) -> list[dict[str, str]]:
    return [{"Type": t, "Status": "ENABLED"} for t in org.policy_types]


def organization(org: Organization) -> dict[str, Any]:
    record = org.record
    management = org.management_account
    out: dict[str, Any] = {
        "Id": org.id,
        "Arn": org.org_arn,
        "FeatureSet": org.feature_set,
        "MasterAccountArn": ids.account_arn(management, org.id, management),
        "MasterAccountId": management,
        "AvailablePolicyTypes": policy_type_summaries(org),
    }
    if record["management_email"]:  # the bootstrapped account may have none
        out["MasterAccountEmail"] = record["management_email"]
    return out


def root(org: Organization) -> dict[str, Any]:
    return {
        "Id": org.root_id,
        "Arn": org.arn(org.root_id),
        "Name": "Root",
        "PolicyTypes": policy_type_summaries(org),
    }


def account(org: Organization, rec: OrgAccountRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": rec["id"],
        "Arn": org.arn(rec["id"]),
        "Name": rec["name"],
        "Status": rec["state"],
        "State": rec["state"],
        "Paths": [org.path(rec["id"])],
        "JoinedMethod": rec["joined_method"],
        "JoinedTimestamp": parse_time(rec["joined"]),
    }
    if rec["email"]:
        out["Email"] = rec["email"]
    return out


def organizational_unit(org: Organization, rec: OrgOuRecord) -> dict[str, Any]:
    return {
        "Id": rec["id"],
        "Arn": org.arn(rec["id"]),
        "Name": rec["name"],
        "Path": org.path(rec["id"]),
    }


def policy_summary(org: Organization, rec: OrgPolicyRecord | AwsManagedScp) -> dict[str, Any]:
    return {
        "Id": rec["id"],
        "Arn": org.arn(rec["id"]),
        "Name": rec["name"],
        "Description": rec["description"],
        "Type": rec["type"],
        "AwsManaged": "aws_managed" in rec and rec["aws_managed"],
    }


def policy(org: Organization, rec: OrgPolicyRecord | AwsManagedScp) -> dict[str, Any]:
    return {"PolicySummary": policy_summary(org, rec), "Content": rec["content"]}


def target_summary(org: Organization, target_id: str) -> dict[str, Any]:
    kind = org.kind_of(target_id) or ids.ACCOUNT
    if kind == ids.ROOT:
        name = "Root"
    else:
        rec: OrgOuRecord | OrgAccountRecord | None = org.ous.get(target_id) or org.accounts.get(target_id)
        name = rec["name"] if rec is not None else ""
    return {"TargetId": target_id, "Arn": org.arn(target_id), "Name": name, "Type": kind}


def create_account_status(rec: OrgCreateAccountStatusRecord, *, as_submitted: bool = False) -> dict[str, Any]:
    """A request's status; ``as_submitted`` shows it as CreateAccount returns it (IN_PROGRESS)."""
    out: dict[str, Any] = {
        "Id": rec["id"],
        "AccountName": rec["account_name"],
        "State": "IN_PROGRESS" if as_submitted else rec["state"],
        "RequestedTimestamp": parse_time(rec["requested"]),
    }
    if as_submitted:
        return out
    if rec["completed"]:
        out["CompletedTimestamp"] = parse_time(rec["completed"])
    if rec["account_id"]:
        out["AccountId"] = rec["account_id"]
    if rec["failure_reason"]:
        out["FailureReason"] = rec["failure_reason"]
    return out
