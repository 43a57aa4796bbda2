"""The account dashboard: who is signed in, GetAccountSummary's counts, and the warnings
AWS's IAM dashboard shows (root access keys, root or users without MFA)."""

from __future__ import annotations

from typing import Any

from tessera.console.page import Page, route
from tessera.console.web import Response
from tessera.errors import TesseraError

SUMMARY_ROWS = (
    ("Users", "Users", "UsersQuota", "users"),
    ("Groups", "Groups", "GroupsQuota", "groups"),
    ("Roles", "Roles", "RolesQuota", "roles"),
    ("Customer managed policies", "Policies", "PoliciesQuota", "policies"),
    ("Identity providers", "Providers", None, None),
    ("MFA devices in use", "MFADevicesInUse", None, None),
)
MFA_NAMES_SHOWN = 10
"""Users without MFA named on the dashboard (each a link to its page); the rest counted."""


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
    rows = (
        [(label, summary.get(key, 0), summary.get(quota) if quota else None, area) for label, key, quota, area in SUMMARY_ROWS]
        if summary
        else []
    )
    return page.render(
        "dashboard.html",
        identity=identity,
        rows=rows,
        summary_error=summary_error,
        warnings=warnings,
        without_mfa=without_mfa[:MFA_NAMES_SHOWN],
        more_without_mfa=max(0, len(without_mfa) - MFA_NAMES_SHOWN),
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
