"""The workload credentials endpoint:
``GET /workload-credentials?RoleArn=ARN[&RoleSessionName=NAME][&DurationSeconds=N]``
with an OpenID Connect ID token as the whole ``Authorization`` header, answered in the
format of the AWS SDKs' container credentials provider
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html):

    {"AccessKeyId": …, "SecretAccessKey": …, "Token": …, "Expiration": "2026-12-02T15:00:00Z", "AccountId": …}

so a workload points ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` here and its token file at
``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``. The decision is AssumeRoleWithWebIdentity's,
by the same handler on parameters validated by the same model: RoleArn, the token as
WebIdentityToken, RoleSessionName, by default derived from the token's ``sub``
(``services.sts.session_name_for``), and DurationSeconds (900 to the role's
MaxSessionDuration; 3600 by default). Errors are ``{"Code": …, "Message": …}`` (what the
JavaScript SDK's HTTP credential provider reads into its error's ``Code`` and
``Message``) with the status the STS error has (400, 403; 503 when the store is down). Every fetch is one
audit event, as the STS call.
"""

from __future__ import annotations

import json
from typing import Any

from tessera.errors import TesseraError, ValidationError
from tessera.protocol.query import read_form

PATH = "/workload-credentials"
OPERATION = "AssumeRoleWithWebIdentity"
STS_VERSION = "2011-06-15"
OPERATION_FORM = [("Action", OPERATION), ("Version", STS_VERSION)]
PARAMETERS = frozenset({"RoleArn", "RoleSessionName", "DurationSeconds"})
# what stands in for a member the fetch does not give, so that the form passes the model;
# dropped from the parameters before the handler runs
PLACEHOLDERS = {"RoleSessionName": "workload", "WebIdentityToken": "none"}


def sts_form(raw_query: str, authorization: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """The AssumeRoleWithWebIdentity request this fetch stands for, as Query parameters,
    and the members only stood in for (``PLACEHOLDERS``): the token when the header is
    empty, the session name when the query has none. The token is not read here: the
    handler resolves the role first (so a refused fetch is recorded against the role's
    account), then refuses a missing token and names the session after its ``sub``."""
    query = read_form(b"", None, raw_query)
    unknown = sorted({name for name, _ in query} - PARAMETERS)
    if unknown:
        raise ValidationError(
            f"Unknown query parameter '{unknown[0][:64]}': only RoleArn, RoleSessionName and DurationSeconds are accepted."
        )
    given = dict(query)
    if "RoleArn" not in given:
        raise ValidationError("The query parameter RoleArn is required.")
    token = (authorization or "").strip()
    absent = [name for name, value in (("RoleSessionName", given.get("RoleSessionName")), ("WebIdentityToken", token)) if not value]
    form = [
        *OPERATION_FORM,
        ("RoleArn", given["RoleArn"]),
        ("RoleSessionName", given.get("RoleSessionName") or PLACEHOLDERS["RoleSessionName"]),
        ("WebIdentityToken", token or PLACEHOLDERS["WebIdentityToken"]),
    ]
    if "DurationSeconds" in given:
        form.append(("DurationSeconds", given["DurationSeconds"]))
    return form, absent


def credentials_body(result: dict[str, Any], account: str) -> bytes:
    credentials = result["Credentials"]
    return json.dumps(
        {
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["SessionToken"],
            "Expiration": credentials["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AccountId": account,
        }
    ).encode()


def error_body(error: TesseraError) -> tuple[int, bytes]:
    return error.status, json.dumps({"Code": error.code, "Message": error.message}).encode()
