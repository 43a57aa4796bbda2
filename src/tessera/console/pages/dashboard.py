"""The account dashboard: who is signed in, GetAccountSummary's counts, and the warnings
AWS's IAM dashboard shows (root access keys, root or users without MFA)."""

from __future__ import annotations

from typing import Any

from tessera.console.page import Page, route
from tessera.console.web import Response
from tessera.errors import TesseraError

SUMMARY_ROWS = (
    ("Users", "Users", "UsersQuota"),
    ("Groups", "Groups", "GroupsQuota"),
    ("Roles", "Roles", "RolesQuota"),
    ("Customer managed policies", "Policies", "PoliciesQuota"),
    ("Identity providers", "Providers", None),
    ("MFA devices in use", "MFADevicesInUse", None),
)


@route("GET", "/")
def dashboard(page: Page) -> Response:
    api = page.api
    identity = api.sts("GetCallerIdentity")
    summary: dict[str, Any] | None
    try:
        summary = api.iam("GetAccountSummary")["SummaryMap"]
        summary_error = ""
    except TesseraError as error:
        summary, summary_error = None, error.message
    warnings: list[str] = []
    if summary is not None:
        if summary.get("AccountAccessKeysPresent"):
            warnings.append("The root user has access keys. Use IAM users or roles instead, and delete the root keys.")
        if not summary.get("AccountMFAEnabled"):
            warnings.append("The root user has no MFA device.")
    without_mfa, report_error = _users_without_mfa(page)
    if without_mfa:
        warnings.append(f"{len(without_mfa)} user(s) have no MFA device: {', '.join(without_mfa[:10])}.")
    rows = [(label, summary.get(key, 0), summary.get(quota) if quota else None) for label, key, quota in SUMMARY_ROWS] if summary else []
    return page.render(
        "dashboard.html",
        identity=identity,
        rows=rows,
        summary_error=summary_error,
        warnings=warnings,
        report_error=report_error,
    )


def _users_without_mfa(page: Page) -> tuple[list[str], str]:
    """The users with no enabled MFA device (ListUsers and ListVirtualMFADevices)."""
    try:
        users = page.api.pages("iam", "ListUsers", "Users")
        devices = page.api.pages("iam", "ListVirtualMFADevices", "VirtualMFADevices", AssignmentStatus="Assigned")
    except TesseraError as error:
        return [], error.message
    with_mfa = {device["User"]["UserId"] for device in devices if device.get("User")}
    return [user["UserName"] for user in users if user["UserId"] not in with_mfa], ""
