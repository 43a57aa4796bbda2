"""The error edge: TesseraError → (status, body) per protocol; anything else → bare 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.parsers import create_parser

from tessera import errors
from tessera.protocol.errors import INTERNAL_FAILURE_MESSAGE, render_json_error, render_query_error
from tessera.protocol.model import service_spec


def parse_query_error(service: str, status: int, body: bytes) -> dict[str, Any]:
    operation = service_spec(service).model.operation_model("GetCallerIdentity" if service == "sts" else "GetUser")
    parsed: dict[str, Any] = create_parser("query").parse({"body": body, "headers": {}, "status_code": status}, operation.output_shape)
    return parsed


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_query_error_renders_tessera_error(service: str) -> None:
    status, body = render_query_error(service, errors.SignatureDoesNotMatch(), "req-1")

    parsed = parse_query_error(service, status, body)
    assert status == 403
    assert parsed["Error"] == {
        "Type": "Sender",
        "Code": "SignatureDoesNotMatch",
        "Message": errors.SIGNATURE_MISMATCH_MESSAGE,
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


UNEXPECTED = [RuntimeError("secret /etc/tessera/key leaked"), KeyError("hunter2"), ZeroDivisionError("division")]


@pytest.mark.parametrize("exc", UNEXPECTED, ids=["runtime", "key", "zero-division"])
def test_query_error_hides_unexpected_exceptions(exc: Exception) -> None:
    status, body = render_query_error("sts", exc, "req-2")

    assert status == 500
    assert parse_query_error("sts", status, body)["Error"] == {
        "Type": "Receiver",
        "Code": "InternalFailure",
        "Message": INTERNAL_FAILURE_MESSAGE,
    }
    assert str(exc.args[0]).encode() not in body and type(exc).__name__.encode() not in body


def test_json_error_renders_tessera_error() -> None:
    status, body = render_json_error(errors.AccessDenied("User: u is not authorized"))

    assert status == 400
    assert json.loads(body) == {"__type": "AccessDeniedException", "Message": "User: u is not authorized"}


def test_json_error_carries_the_modeled_reason() -> None:
    error = errors.OrganizationsError(
        "ConstraintViolationException",
        "You have exceeded the allowed number of accounts.",
        reason="ACCOUNT_NUMBER_LIMIT_EXCEEDED",
    )

    status, body = render_json_error(error)

    assert status == 400
    assert json.loads(body) == {
        "__type": "ConstraintViolationException",
        "Message": "You have exceeded the allowed number of accounts.",
        "Reason": "ACCOUNT_NUMBER_LIMIT_EXCEEDED",
    }


@pytest.mark.parametrize("exc", UNEXPECTED, ids=["runtime", "key", "zero-division"])
def test_json_error_hides_unexpected_exceptions(exc: Exception) -> None:
    status, body = render_json_error(exc)

    assert status == 500
    assert json.loads(body) == {"__type": "InternalFailure", "Message": INTERNAL_FAILURE_MESSAGE}


def test_internal_failure_is_a_bare_receiver_fault() -> None:
    status, body = render_query_error("iam", errors.InternalFailure(), "req-3")

    assert status == 500
    assert parse_query_error("iam", status, body)["Error"] == {"Type": "Receiver", "Code": "InternalFailure", "Message": None}
    assert render_json_error(errors.InternalFailure()) == (500, b'{"__type":"InternalFailure","Message":""}')
