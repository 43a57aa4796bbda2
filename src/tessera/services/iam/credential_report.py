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
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tessera.arn import root_arn
from tessera.errors import CredentialReportExpiredException, CredentialReportNotPresentException
from tessera.services import records as R
from tessera.services.iam.entities import account_of, iso, parse_time
from tessera.services.iam.paging import creation_key
from tessera.services.request import OperationContext, operation
from tessera.services.usage import ACCESS_KEY
from tessera.services.view import name_key

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


def _key_columns(uses: Mapping[str, Mapping[str, Any]], keys: Sequence[R.AccessKeyRecord]) -> list[str]:
    out: list[str] = []
    for index in range(2):
        if index >= len(keys):
            out += ["false", NA, NA, NA, NA]
            continue
        key = keys[index]
        used = uses.get(key["id"]) or {}
        date = report_time(used["date"]) if used.get("date") else NA
        out += [
            _flag(key["status"] == "Active"),
            report_time(key["created"]),
            date,
            str(used.get("region") or NA) if used.get("date") else NA,
            str(used.get("service") or NA) if used.get("date") else NA,
        ]
    return out


def _cert_columns(certs: Sequence[R.SigningCertificateRecord]) -> list[str]:
    out: list[str] = []
    for index in range(2):
        if index >= len(certs):
            out += ["false", NA]
        else:
            out += [_flag(certs[index]["status"] == "Active"), report_time(certs[index]["uploaded"])]
    return out


_Owned = TypeVar("_Owned", R.AccessKeyRecord, R.SigningCertificateRecord)


def _by_owner(items: Sequence[_Owned], stamp: str) -> dict[str, list[_Owned]]:
    """The items grouped by the ``name_key`` of their ``user`` (root's under ``""``),
    oldest first: one pass over the records, whatever the number of users."""
    groups: dict[str, list[_Owned]] = defaultdict(list)
    for item in items:
        groups[name_key(item["user"] or "")].append(item)
    for found in groups.values():
        found.sort(key=lambda i: creation_key(i, stamp))
    return groups


def build_report(
    ctx: OperationContext,
    account: R.AccountRecord | None,
    users: Sequence[R.UserRecord],
    keys: Sequence[R.AccessKeyRecord],
    devices: Sequence[R.MfaDeviceRecord],
    profiles: Sequence[R.LoginProfileRecord],
    certs: Sequence[R.SigningCertificateRecord],
    policy: R.PasswordPolicyRecord | None,
) -> str:
    """The report's CSV text over the given records of one account."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    account_id = (account["id"] if account is not None else "") or account_of(ctx)
    usage = ctx.runtime.usage
    uses = usage.all_uses(account_of(ctx), ACCESS_KEY) if usage is not None else {}
    keys_of, certs_of = _by_owner(keys, "created"), _by_owner(certs, "uploaded")
    with_mfa = {name_key(d["user"] or "") for d in devices if d["user"] and d["enabled_at"]}
    created = report_time(account["created"]) if account is not None and account["created"] else NA
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
    writer.writerow(root + _key_columns(uses, keys_of.get("", [])) + _cert_columns(certs_of.get("", [])))
    by_user = {p["user_id"]: p for p in profiles}
    max_age = policy["max_age"] if policy else None
    for user in sorted(users, key=lambda u: u["name"].lower()):
        profile = by_user.get(user["id"])
        if profile is None:
            password = ["false", NA, NA, NA]
        else:
            last_used = report_time(profile["last_used"]) if profile["last_used"] else "no_information"
            rotation = report_time(iso(parse_time(profile["changed"]) + dt.timedelta(days=int(max_age)))) if max_age else NA
            password = ["true", last_used, report_time(profile["changed"]), rotation]
        owner = name_key(user["name"])
        mfa = owner in with_mfa
        row = [user["name"], user["arn"], report_time(user["created"]), *password, _flag(mfa)]
        row += _key_columns(uses, keys_of.get(owner, []))
        row += _cert_columns(certs_of.get(owner, []))
        writer.writerow(row)
    return buffer.getvalue()


@operation("iam", "GenerateCredentialReport")
def generate_credential_report(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ctx.authorize("iam:GenerateCredentialReport", "*")
    with ctx.runtime.store.read() as tx:
        current = tx.get(account, R.CREDENTIAL_REPORT, REPORT_KEY)
        if current is not None and ctx.now - parse_time(R.load(R.CREDENTIAL_REPORT, current.data)["generated"]) < MAX_AGE:
            return {"State": "COMPLETE"}
        info = tx.get(account, R.ACCOUNT, "account")
        policy = tx.get(account, R.PASSWORD_POLICY, "password_policy")
        content = build_report(
            ctx,
            R.load(R.ACCOUNT, info.data) if info is not None else None,
            [R.load(R.USER, r.data) for r in tx.list(account, R.USER)],
            [R.load(R.ACCESS_KEY, r.data) for r in tx.list(account, R.ACCESS_KEY)],
            [R.load(R.MFA_DEVICE, r.data) for r in tx.list(account, R.MFA_DEVICE)],
            [R.load(R.LOGIN_PROFILE, r.data) for r in tx.list(account, R.LOGIN_PROFILE)],
            [R.load(R.SIGNING_CERTIFICATE, r.data) for r in tx.list(account, R.SIGNING_CERTIFICATE)],
            R.load(R.PASSWORD_POLICY, policy.data) if policy is not None else None,
        )
    with ctx.write(account) as wtx:
        report: R.CredentialReportRecord = {"generated": iso(ctx.now), "content": content}
        wtx.put(account, R.CREDENTIAL_REPORT, REPORT_KEY, report)
    return {"State": "STARTED", "Description": STARTED_DESCRIPTION}


@operation("iam", "GetCredentialReport", read_only=True)
def get_credential_report(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ctx.authorize("iam:GetCredentialReport", "*")
    with ctx.runtime.store.read() as tx:
        stored = tx.get(account, R.CREDENTIAL_REPORT, REPORT_KEY)
    if stored is None:
        raise CredentialReportNotPresentException("Credential report does not exist. Use GenerateCredentialReport to generate a report.")
    current = R.load(R.CREDENTIAL_REPORT, stored.data)
    generated = parse_time(current["generated"])
    if ctx.now - generated >= MAX_AGE:
        raise CredentialReportExpiredException("Credential report has expired. Use GenerateCredentialReport to generate a new report.")
    return {"Content": current["content"].encode("utf-8"), "ReportFormat": "text/csv", "GeneratedTime": generated}
