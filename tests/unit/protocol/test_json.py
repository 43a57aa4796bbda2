"""awsJson1_1 (Organizations), checked against botocore's json serializer and parser."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from shape_examples import EXAMPLE_TIME, example_value, normalise

from tessera import errors
from tessera.protocol.json import (
    JSON_CONTENT_TYPE,
    parse_json_request,
    read_json_params,
    serialize_json_error,
    serialize_json_response,
)
from tessera.protocol.model import service_spec

ORGS = service_spec("organizations")
TARGET = "AWSOrganizationsV20161128"


def botocore_request(operation: str, params: dict[str, Any]) -> tuple[str, bytes]:
    model = ORGS.model.operation_model(operation)
    request = create_serializer("json", include_validation=False).serialize_to_request(params, model)
    assert request["headers"]["Content-Type"] == JSON_CONTENT_TYPE
    return request["headers"]["X-Amz-Target"], request["body"]


def botocore_parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    shape = ORGS.model.operation_model(operation).output_shape
    parsed: dict[str, Any] = create_parser("json").parse({"body": body, "headers": {}, "status_code": status}, shape)
    return parsed


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("operation", sorted(ORGS.operation_names))
def test_parse_inverts_botocore_serializer_for_every_operation(operation: str) -> None:
    shape = ORGS.model.operation_model(operation).input_shape
    params = example_value(shape) if shape is not None else {}

    parsed_operation, parsed = parse_json_request(*botocore_request(operation, params))

    assert parsed_operation == operation
    assert parsed == params


def test_parse_reads_timestamps_as_utc_datetimes() -> None:
    body = json.dumps({"Id": "rt-1234abcd", "EndTimestamp": 1714566896.5}).encode()

    _, params = parse_json_request(f"{TARGET}.TerminateResponsibilityTransfer", body)

    assert params["EndTimestamp"] == dt.datetime(2024, 5, 1, 12, 34, 56, 500000, tzinfo=dt.UTC)


@pytest.mark.parametrize("body", [b"", b"  ", b"{}"], ids=["empty", "blank", "empty-object"])
def test_parse_treats_empty_body_as_no_params(body: bytes) -> None:
    assert parse_json_request(f"{TARGET}.DescribeOrganization", body) == ("DescribeOrganization", {})


def test_parse_ignores_unknown_members_and_nulls() -> None:
    body = json.dumps({"AccountId": "111122223333", "Bogus": 1, "Extra": None}).encode()

    assert parse_json_request(f"{TARGET}.DescribeAccount", body) == ("DescribeAccount", {"AccountId": "111122223333"})


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "DescribeOrganization",
        f"{TARGET}.NoSuchOperation",
        f"{TARGET}.describeOrganization",
        "AWSOrganizationsV20170101.DescribeOrganization",
        "AmazonIdentityManagement.ListUsers",
    ],
    ids=["missing", "empty", "no-prefix", "unknown-operation", "wrong-case", "wrong-version", "other-service"],
)
def test_parse_unknown_target_is_unknown_operation(target: str | None) -> None:
    with pytest.raises(errors.InvalidAction) as raised:
        parse_json_request(target, b"{}")

    status, body = serialize_json_error(raised.value)
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("DescribeAccount", b"{not json"),
        ("DescribeAccount", b"\xff\xfe"),
        ("DescribeAccount", b"[]"),
        ("DescribeAccount", b'"text"'),
        ("DescribeAccount", b'{"AccountId": 111122223333}'),
        ("ListAccounts", b'{"MaxResults": "10"}'),
        ("ListAccounts", b'{"MaxResults": true}'),
        ("ListAccounts", b'{"MaxResults": 1.5}'),
        ("CreateAccount", b'{"Email": "a@b.co", "AccountName": "n", "Tags": {"Key": "k"}}'),
        ("CreateAccount", b'{"Email": "a@b.co", "AccountName": "n", "Tags": ["k"]}'),
        ("TerminateResponsibilityTransfer", b'{"Id": "rt-1234abcd", "EndTimestamp": "tomorrow"}'),
        ("ListAccounts", b'{"MaxResults": ' + b"9" * 4000 + b"}"),
        ("ListAccounts", b'{"MaxResults": ' + b"9" * 5000 + b"}"),
        ("ListAccounts", b'{"MaxResults": 2147483648}'),
        ("ListAccounts", b'{"MaxResults": 1e999}'),
        ("ListAccounts", b'{"MaxResults": NaN}'),
        ("ListAccounts", b"[" * 100_000),
        ("TerminateResponsibilityTransfer", b'{"Id": "rt-1234abcd", "EndTimestamp": 1e999}'),
        ("ListAccounts", b'{"NextToken": "\\ud800"}'),
        ("ListAccounts", b'{"NextToken": "a\\uDFFFb"}'),
        ("ListAccounts", b'{"\\ud83d": "x"}'),
    ],
    ids=[
        "syntax",
        "not-utf8",
        "array",
        "string",
        "number-for-string",
        "string-for-integer",
        "boolean-for-integer",
        "fraction-for-integer",
        "object-for-list",
        "string-for-structure",
        "string-for-timestamp",
        "4000-digit-integer",
        "5000-digit-integer",
        "beyond-int32",
        "infinite-integer",
        "nan-integer",
        "nested-100k-deep",
        "infinite-timestamp",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "lone-surrogate-in-a-name",
    ],
)
def test_parse_malformed_body_is_serialization_exception(operation: str, body: bytes) -> None:
    with pytest.raises(errors.MalformedRequest) as raised:
        parse_json_request(f"{TARGET}.{operation}", body)

    status, error_body = serialize_json_error(raised.value)
    assert status == 400 and json.loads(error_body)["__type"] == "SerializationException"


@pytest.mark.parametrize(
    ("operation", "params", "reason"),
    [
        ("DescribeAccount", {}, "INPUT_REQUIRED"),
        ("DescribeAccount", {"AccountId": "12345"}, "INVALID_PATTERN"),
        ("CreateAccount", {"Email": "a@b.co", "AccountName": "n" * 51}, "MAX_LENGTH_EXCEEDED"),
        ("CreateAccount", {"Email": "a@b.c", "AccountName": "n"}, "MIN_LENGTH_EXCEEDED"),
        ("CreateOrganization", {"FeatureSet": "EVERYTHING"}, "INVALID_ENUM"),
        ("ListAccounts", {"MaxResults": 0}, "MIN_VALUE_EXCEEDED"),
        ("ListAccounts", {"MaxResults": 21}, "MAX_VALUE_EXCEEDED"),
    ],
    ids=["required", "pattern", "max-length", "min-length", "enum", "min-value", "max-value"],
)
def test_constraint_violation_is_invalid_input_with_reason(operation: str, params: dict[str, Any], reason: str) -> None:
    with pytest.raises(errors.OrganizationsError) as raised:
        parse_json_request(*botocore_request(operation, params))

    status, body = serialize_json_error(raised.value)
    document = json.loads(body)
    assert status == 400
    assert document["__type"] == "InvalidInputException" and document["Reason"] == reason
    parsed = botocore_parse(operation, body, status)
    assert parsed["Error"]["Code"] == "InvalidInputException"
    assert parsed["Error"]["Message"] == document["Message"]


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("operation", sorted(ORGS.operation_names))
def test_botocore_parses_serialized_response_for_every_operation(operation: str) -> None:
    shape = ORGS.model.operation_model(operation).output_shape
    result = example_value(shape) if shape is not None else {}

    parsed = botocore_parse(operation, serialize_json_response(operation, result))

    assert normalise(parsed) == normalise(result)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (EXAMPLE_TIME, 1714566896),
        (EXAMPLE_TIME.replace(microsecond=250000), 1714566896.25),
        (EXAMPLE_TIME.replace(tzinfo=None), 1714566896),
        (EXAMPLE_TIME.astimezone(dt.timezone(dt.timedelta(hours=-5))), 1714566896),
    ],
    ids=["whole-seconds-int", "fraction-float", "naive-is-utc", "offset-converted"],
)
def test_response_writes_timestamps_as_epoch_seconds(value: dt.datetime, expected: float) -> None:
    status = {"Id": "car-12345678", "State": "IN_PROGRESS", "RequestedTimestamp": value}

    body = serialize_json_response("CreateAccount", {"CreateAccountStatus": status})

    written = json.loads(body)["CreateAccountStatus"]["RequestedTimestamp"]
    assert written == expected and type(written) is type(expected)


def test_response_without_output_is_empty_object() -> None:
    assert serialize_json_response("DeleteOrganization", {}) == b"{}"


def test_response_keeps_non_ascii_text() -> None:
    body = serialize_json_response("DescribeAccount", {"Account": {"Id": "111122223333", "Name": "caf\u00e9"}})

    assert botocore_parse("DescribeAccount", body)["Account"]["Name"] == "caf\u00e9"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (
            errors.OrganizationsError("AccountNotFoundException", "You specified an account that doesn't exist."),
            400,
            "AccountNotFoundException",
        ),
        (errors.AccessDenied("User: x is not authorized"), 400, "AccessDeniedException"),
        (errors.InvalidClientTokenId(), 400, "UnrecognizedClientException"),
        (errors.ExpiredToken(), 400, "ExpiredTokenException"),
        (errors.RequestEntityTooLarge("too big"), 413, "RequestEntityTooLarge"),
        (errors.ServiceFailureException("failed"), 500, "ServiceFailure"),
    ],
    ids=["modeled", "access-denied", "unknown-key", "expired-token", "too-large", "server-fault"],
)
def test_error_body_uses_json_code_and_protocol_status(error: errors.TesseraError, status: int, type_: str) -> None:
    got_status, body = serialize_json_error(error)

    assert got_status == status
    assert json.loads(body) == {"__type": type_, "Message": error.message}
    parsed = botocore_parse("DescribeOrganization", body, got_status)
    assert parsed["Error"]["Code"] == type_ and parsed["Error"]["Message"] == error.message


# --------------------------------------------------------------------------- other types

SYNTHETIC_MODEL = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "protocol": "json",
            "jsonVersion": "1.1",
            "targetPrefix": "Synthetic",
            "endpointPrefix": "synthetic",
            "serviceId": "Synthetic",
            "signatureVersion": "v4",
        },
        "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "PutInput"}}},
        "shapes": {
            "PutInput": {
                "type": "structure",
                "members": {
                    "Data": {"shape": "Data"},
                    "Labels": {"shape": "Labels"},
                    "Ratio": {"shape": "Ratio"},
                    "Flag": {"shape": "Flag"},
                },
            },
            "Data": {"type": "blob"},
            "Labels": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "Text"}},
            "Ratio": {"type": "double"},
            "Flag": {"type": "boolean"},
            "Text": {"type": "string"},
        },
    },
    service_name="synthetic",
)


def test_read_json_params_inverts_botocore_for_blobs_maps_doubles_and_booleans() -> None:
    params = {"Data": b"\x00\xffbinary", "Labels": {"a": "1"}, "Ratio": 0.25, "Flag": False}
    model = SYNTHETIC_MODEL.operation_model("Put")
    body = create_serializer("json").serialize_to_request(params, model)["body"]

    assert read_json_params(model.input_shape, json.loads(body)) == params


def test_response_omits_none_members_instead_of_writing_null() -> None:
    result = {"Accounts": [{"Id": "111122223333", "Email": None}], "NextToken": None}

    body = serialize_json_response("ListAccounts", result)

    assert json.loads(body) == {"Accounts": [{"Id": "111122223333"}]}


def test_a_surrogate_pair_escape_is_ordinary_text() -> None:
    _, params = parse_json_request(f"{TARGET}.ListAccounts", b'{"NextToken": "\\ud83d\\ude00"}')
    assert params["NextToken"] == "\U0001f600"
