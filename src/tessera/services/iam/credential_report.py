"""The credential report: GenerateCredentialReport and GetCredentialReport.

AWS builds the report in the background (GenerateCredentialReport answers ``STARTED``,
later calls ``COMPLETE``) and reuses a report younger than four hours
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html).
Here the report is built within the call that starts it and kept as one record
(``credential_report``), so the next call answers ``COMPLETE`` and GetCredentialReport
finds it at once; ``ReportInProgress`` is therefore never returned. A report older than
four hours is expired: GetCredentialReport answers ``ReportExpired`` and the next
GenerateCredentialReport builds a new one.

The CSV has AWS's columns in AWS's order, the root user's row (``<root_account>``)
first, then the users by name, with AWS's ``N/A`` / ``not_supported`` /
``no_information`` values. It holds no secret: flags, dates, names and ARNs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

from tessera.arn import root_arn
from tessera.errors import CredentialReportExpiredException, CredentialReportNotPresentException
from tessera.services import records as R
from tessera.services.context import OperationContext, operation
from tessera.services.iam.entities import account_of, iso, last_use, parse_time

REPORT_KEY = "credential_report"
MAX_AGE = dt.timedelta(hours=4)
COLUMNS = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
NA = "N/A"
STARTED_DESCRIPTION = "No report exists. Starting a new report generation task"


def report_time(text: str) -> str:
    """A stored ISO time the way the report writes times (``2026-01-02T03:04:05+00:00``)."""
    return parse_time(text).isoformat()


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _key_columns(ctx: OperationContext, keys: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for index in range(2):
        if index >= len(keys):
            out += ["false", NA, NA, NA, NA]
            continue
        key = keys[index]
        used = last_use(ctx, "access_key", str(key["id"])) or {}
        date = report_time(used["date"]) if used.get("date") else NA
        out += [
            _flag(key.get("status") == "Active"),
            report_time(key["created"]),
            date,
            str(used.get("region") or NA) if used.get("date") else NA,
            str(used.get("service") or NA) if used.get("date") else NA,
        ]
    return out


def _cert_columns(certs: Sequence[Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    for index in range(2):
        if index >= len(certs):
            out += ["false", NA]
        else:
            out += [_flag(certs[index].get("status") == "Active"), report_time(certs[index]["uploaded"])]
    return out


def _owned(items: Sequence[Mapping[str, Any]], owner: str, stamp: str) -> list[Mapping[str, Any]]:
    """The items whose ``user`` is ``owner`` (case-insensitively), oldest first."""
    found = [i for i in items if str(i.get("user") or "").lower() == owner.lower()]
    return sorted(found, key=lambda i: (str(i.get(stamp, "")), str(i.get("id", ""))))


def build_report(
    ctx: OperationContext,
    account: Mapping[str, Any],
    users: Sequence[Mapping[str, Any]],
    keys: Sequence[Mapping[str, Any]],
    devices: Sequence[Mapping[str, Any]],
    profiles: Sequence[Mapping[str, Any]],
    certs: Sequence[Mapping[str, Any]],
    policy: Mapping[str, Any] | None,
) -> str:
    """The report's CSV text over the given records of one account."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    account_id = str(account.get("id") or account_of(ctx))
    root_keys = [k for k in sorted(keys, key=lambda k: (str(k["created"]), str(k["id"]))) if k.get("user") == ""]
    created = report_time(account["created"]) if account.get("created") else NA
    root = [
        "<root_account>",
        root_arn(account_id),
        created,
        "not_supported",
        "no_information",
        "not_supported",
        "not_supported",
        "false",
    ]
    writer.writerow(root + _key_columns(ctx, root_keys) + _cert_columns([]))
    by_user = {str(p["user_id"]): p for p in profiles}
    max_age = policy.get("max_age") if policy else None
    for user in sorted(users, key=lambda u: str(u["name"]).lower()):
        profile = by_user.get(str(user["id"]))
        if profile is None:
            password = ["false", NA, NA, NA]
        else:
            last_used = report_time(profile["last_used"]) if profile.get("last_used") else "no_information"
            rotation = report_time(iso(parse_time(profile["changed"]) + dt.timedelta(days=int(max_age)))) if max_age else NA
            password = ["true", last_used, report_time(profile["changed"]), rotation]
        mfa = any(str(d.get("user") or "").lower() == str(user["name"]).lower() and d.get("enabled_at") for d in devices)
        row = [str(user["name"]), str(user["arn"]), report_time(user["created"]), *password, _flag(mfa)]
        row += _key_columns(ctx, _owned(keys, str(user["name"]), "created"))
        row += _cert_columns(_owned(certs, str(user["name"]), "uploaded"))
        writer.writerow(row)
    return buffer.getvalue()


@operation("iam", "GenerateCredentialReport")
def generate_credential_report(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ctx.authorize("iam:GenerateCredentialReport", "*")
    with ctx.runtime.store.read() as tx:
        current = tx.get(account, R.CREDENTIAL_REPORT, REPORT_KEY)
        if current is not None and ctx.now - parse_time(current.data["generated"]) < MAX_AGE:
            return {"State": "COMPLETE"}
        info = tx.get(account, R.ACCOUNT, "account")
        policy = tx.get(account, R.PASSWORD_POLICY, "password_policy")
        content = build_report(
            ctx,
            info.data if info is not None else {},
            [r.data for r in tx.list(account, R.USER)],
            [r.data for r in tx.list(account, R.ACCESS_KEY)],
            [r.data for r in tx.list(account, R.MFA_DEVICE)],
            [r.data for r in tx.list(account, R.LOGIN_PROFILE)],
            [r.data for r in tx.list(account, R.SIGNING_CERTIFICATE)],
            policy.data if policy is not None else None,
        )
    with ctx.write(account) as wtx:
        wtx.put(account, R.CREDENTIAL_REPORT, REPORT_KEY, {"generated": iso(ctx.now), "content": content})
    return {"State": "STARTED", "Description": STARTED_DESCRIPTION}


@operation("iam", "GetCredentialReport", read_only=True)
def get_credential_report(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ctx.authorize("iam:GetCredentialReport", "*")
    with ctx.runtime.store.read() as tx:
        current = tx.get(account, R.CREDENTIAL_REPORT, REPORT_KEY)
    if current is None:
        raise CredentialReportNotPresentException("Credential report does not exist. Use GenerateCredentialReport to generate a report.")
    generated = parse_time(current.data["generated"])
    if ctx.now - generated >= MAX_AGE:
        raise CredentialReportExpiredException("Credential report has expired. Use GenerateCredentialReport to generate a new report.")
    return {"Content": str(current.data["content"]).encode("utf-8"), "ReportFormat": "text/csv", "GeneratedTime": generated}
