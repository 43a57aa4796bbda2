"""Every error code Tessera can send is one AWS sends, with AWS's HTTP status.

For IAM and STS (AWS Query) an error's ``code`` is either an error shape of the iam or sts
botocore model, with that shape's HTTP status and fault side, or one of the errors common
to every AWS Query API (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html,
https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html), with its status.
For Organizations (awsJson1_1) the ``__type`` (``json_code``, else ``code``) is either an
error shape of the organizations model, a common error of JSON APIs
(https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html), or the
JSON protocol's spelling of a common Query error (listed below). Organizations' own codes
(``services/organizations/errors.py`` and every ``OrganizationsError`` raised in the
source) must be shapes of its model.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tessera import errors
from tessera.protocol.errors import client_visible
from tessera.service_models import service_model
from tessera.services.organizations import errors as org_errors

SRC = Path(__file__).resolve().parents[2] / "src" / "tessera"

# name -> HTTP status, as the Common Errors pages above give them (Query spellings)
QUERY_COMMON = {
    "AccessDenied": 403,
    "ExpiredToken": 403,
    "IncompleteSignature": 400,
    "InternalFailure": 500,
    "InvalidAction": 400,
    "InvalidClientTokenId": 403,
    "InvalidParameterCombination": 400,
    "InvalidParameterValue": 400,
    "InvalidQueryParameter": 400,
    "MalformedQueryString": 404,
    "MissingAction": 400,
    "MissingAuthenticationToken": 403,
    "MissingParameter": 400,
    "NotAuthorized": 400,
    "OptInRequired": 403,
    "RequestExpired": 400,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "Throttling": 400,
    "ValidationError": 400,
}
# Where Tessera knowingly answers otherwise: code -> (status sent, why).
QUERY_DEPARTURES = {
    "MalformedQueryString": (400, "a request body or query string that cannot be read is a client error; the table's 404 is not used"),
    "RequestEntityTooLarge": (413, "refused by the HTTP layer from Content-Length alone, before any protocol applies"),
}
# The JSON protocol's names for common errors, which no service model lists.
JSON_PROTOCOL = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "SerializationException": "MalformedQueryString",
    "UnknownOperationException": "InvalidAction",
}
JSON_COMMON = {"AccessDeniedException", "ExpiredTokenException", "ThrottlingException", "InternalFailure", "ValidationError"}


def _error_shapes(service: str) -> dict[str, tuple[str, int | None, bool | None]]:
    """wire code -> (shape name, HTTP status, sender fault) of ``service``'s error shapes."""
    model = service_model(service)
    shapes = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        if shape.metadata.get("exception"):
            error = shape.metadata.get("error", {})
            shapes[error.get("code", name)] = (name, error.get("httpStatusCode"), error.get("senderFault"))
    return shapes


QUERY_SHAPES = {**_error_shapes("iam"), **_error_shapes("sts")}
ORG_SHAPES = {name for name, _, _ in _error_shapes("organizations").values()}


def _error_classes() -> list[type[errors.TesseraError]]:
    found: list[type[errors.TesseraError]] = []
    todo: list[type[errors.TesseraError]] = [errors.TesseraError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # the abstract bases are never raised; OrganizationsError and CloudTrailError take their code per instance
        abstract = (errors.SenderError, errors.AuthError, errors.OrganizationsError, errors.CloudTrailError)
        if cls not in abstract and cls.__module__ == "tessera.errors":
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


CLASSES = _error_classes()


def test_the_hierarchy_is_found() -> None:
    assert {errors.AccessDenied, errors.NoSuchEntityException, errors.TesseraError} <= set(CLASSES)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_query_code_and_status_are_aws(cls: type[errors.TesseraError]) -> None:
    if cls.code in QUERY_DEPARTURES:
        assert cls.status == QUERY_DEPARTURES[cls.code][0]
        return
    if cls.code in QUERY_SHAPES:
        shape, status, sender = QUERY_SHAPES[cls.code]
        assert cls.status == (status or 400), f"{cls.__name__}: {shape} is HTTP {status} in the model"
        assert cls.sender_fault == bool(sender), f"{cls.__name__}: {shape} sender fault is {sender} in the model"
        return
    assert cls.code in QUERY_COMMON, f"{cls.__name__}: {cls.code} is neither an iam/sts error shape nor a common error"
    assert cls.status == QUERY_COMMON[cls.code], f"{cls.__name__}: AWS answers {cls.code} with HTTP {QUERY_COMMON[cls.code]}"


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_json_code_is_aws(cls: type[errors.TesseraError]) -> None:
    if cls.json_code is None:
        return  # IAM and STS only: no Organizations path raises it
    assert cls.json_code in ORG_SHAPES | JSON_COMMON | set(JSON_PROTOCOL), cls.json_code
    if cls.json_code in JSON_PROTOCOL:
        assert cls.code == JSON_PROTOCOL[cls.json_code]


def test_the_json_protocol_names_stand_for_common_errors() -> None:
    assert set(JSON_PROTOCOL.values()) <= set(QUERY_COMMON)


def _organizations_codes() -> set[str]:
    """Every code given to ``OrganizationsError`` as a literal anywhere in the source."""
    codes = set(org_errors.MESSAGES)
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("OrganizationsError", "fault"):
                    codes.add(node.args[0].value)
    return codes


def test_organizations_codes_are_shapes_of_its_model() -> None:
    codes = _organizations_codes()
    assert {"ConstraintViolationException", "InvalidInputException", "AWSOrganizationsNotInUseException"} <= codes
    assert codes - ORG_SHAPES == set()


def test_an_unexpected_exception_is_a_bare_internal_failure() -> None:
    shown = client_visible(RuntimeError("secret detail"))
    assert (shown.code, shown.status, shown.message) == ("InternalFailure", 500, shown.message)
    assert "secret" not in shown.message
    assert shown.status == QUERY_COMMON[shown.code]


def test_start_up_configuration_errors_are_not_client_errors() -> None:
    from tessera.server.bootstrap import ConfigError

    assert not issubclass(ConfigError, errors.TesseraError)
    assert client_visible(ConfigError("TESSERA_ACCOUNT_ID must be 12 digits")).code == "InternalFailure"


def test_a_store_failure_is_a_503_service_unavailable_saying_what_failed() -> None:
    import json

    from sqlalchemy.exc import OperationalError

    from tessera.protocol.errors import render_json_error, render_query_error
    from tessera.store.base import BackendError
    from tessera.store.sql import _backend_errors

    driver_error = OperationalError(
        "UPDATE scopes SET generation = 1", {}, Exception("connection to server at db.internal (10.0.0.5), port 5432 failed")
    )
    with pytest.raises(BackendError) as raised, _backend_errors("write"):
        raise driver_error
    shown = client_visible(raised.value)
    assert (shown.code, shown.status, shown.json_code) == ("ServiceUnavailable", 503, "ServiceException")
    assert shown.status == QUERY_COMMON[shown.code] and shown.json_code in ORG_SHAPES
    assert shown.message == "The identity store is unavailable: could not write (database unreachable or not answering). Retry later."
    status, body = render_query_error("iam", raised.value, "req-1")
    assert status == 503 and b"<Code>ServiceUnavailable</Code>" in body and b"could not write" in body
    status, body = render_json_error(raised.value)
    assert status == 503 and json.loads(body)["__type"] == "ServiceException"
    for leak in (b"db.internal", b"10.0.0.5", b"UPDATE", b"scopes"):
        assert leak not in body
