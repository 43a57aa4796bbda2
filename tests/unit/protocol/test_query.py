"""AWS Query protocol, checked against botocore in both directions.

Requests: botocore's ``query`` serializer flattens a generated valid input for every
IAM and STS operation; ``parse_query_request`` must rebuild exactly that input.
Responses: ``serialize_query_response`` writes a generated output for every
operation; botocore's ``query`` parser must read back the same values.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from shape_examples import EXAMPLE_TIME, example_value, normalise

from tessera import errors
from tessera.protocol.model import service_spec
from tessera.protocol.query import (
    answers_json,
    parse_query_request,
    read_form,
    read_params,
    serialize_query_error,
    serialize_query_response,
    serialize_query_response_json,
)

FORM = "application/x-www-form-urlencoded; charset=utf-8"
QUERY_SERVICES = ("iam", "sts")


def operations(*services: str) -> list[tuple[str, str]]:
    return [(s, op) for s in services for op in sorted(service_spec(s).operation_names)]


QUERY_OPERATIONS = operations(*QUERY_SERVICES)
QUERY_OPERATION_IDS = [f"{service}.{operation}" for service, operation in QUERY_OPERATIONS]


def botocore_form(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """What a boto3 client sends for ``params``, decoded back into form pairs."""
    model = service_spec(service).model.operation_model(operation)
    request = create_serializer("query", include_validation=False).serialize_to_request(params, model)
    return read_form(urlencode(request["body"]).encode(), request["headers"]["Content-Type"], "")


def botocore_parse(service: str, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    model = service_spec(service).model.operation_model(operation)
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = create_parser("query").parse(response, model.output_shape)
    return parsed


def expected_output(shape: Any, value: Any) -> Any:
    """``value`` as botocore's raw parser returns it: IAM policy documents URL-encoded."""
    if shape.type_name == "structure":
        return {k: expected_output(shape.members[k], v) for k, v in value.items()}
    if shape.type_name == "list":
        return [expected_output(shape.member, v) for v in value]
    if shape.name == "policyDocumentType":
        return quote(value, safe="")
    return value


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize(("service", "operation"), QUERY_OPERATIONS, ids=QUERY_OPERATION_IDS)
def test_parse_inverts_botocore_serializer_for_every_operation(service: str, operation: str) -> None:
    shape = service_spec(service).model.operation_model(operation).input_shape
    params = example_value(shape) if shape is not None else {}

    parsed_operation, parsed = parse_query_request(service, botocore_form(service, operation, params))

    assert parsed_operation == operation
    assert parsed == params


def test_parse_rebuilds_nested_lists_of_structures_with_lists() -> None:
    params = {
        "PolicySourceArn": "arn:aws:iam::123456789012:user/alice",
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ContextEntries": [
            {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1", "10.0.0.2"], "ContextKeyType": "ip"},
            {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["true"], "ContextKeyType": "boolean"},
        ],
    }

    _, parsed = parse_query_request("iam", botocore_form("iam", "SimulatePrincipalPolicy", params))

    assert parsed == params


def test_parse_reads_empty_list_sent_as_bare_name() -> None:
    form = [
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", "a" * 20),
        ("RoleSessionName", "alice"),
        ("PolicyArns", ""),
        ("TransitiveTagKeys", ""),
    ]

    _, parsed = parse_query_request("sts", form)

    assert parsed["PolicyArns"] == [] and parsed["TransitiveTagKeys"] == []


def test_parse_orders_list_elements_numerically() -> None:
    form = [("Action", "UntagUser"), ("Version", "2010-05-08"), ("UserName", "bob")]
    form += [(f"TagKeys.member.{i}", f"k{i}") for i in (10, 2, 1, 11)]

    _, parsed = parse_query_request("iam", form)

    assert parsed["TagKeys"] == ["k1", "k2", "k10", "k11"]


def test_parse_ignores_unknown_parameters_as_aws_does() -> None:
    form = [
        ("Action", "GetUser"),
        ("Version", "2010-05-08"),
        ("UserName", "bob"),
        ("Bogus", "1"),
        ("UserName.extra", "x"),
        ("X-Amz-Date", "20240501T000000Z"),
    ]

    assert parse_query_request("iam", form) == ("GetUser", {"UserName": "bob"})


def test_parse_accepts_a_mapping_of_lists_and_keeps_the_first_value() -> None:
    form = {"Action": ["GetUser"], "Version": ["2010-05-08"], "UserName": ["first", "second"]}

    assert parse_query_request("iam", form) == ("GetUser", {"UserName": "first"})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("false", False), ("TRUE", True), ("False", False)],
    ids=["true", "false", "upper", "capitalised"],
)
def test_parse_reads_booleans(raw: str, expected: bool) -> None:
    form = [("Action", "UpdateAccountPasswordPolicy"), ("Version", "2010-05-08"), ("RequireSymbols", raw)]

    _, parsed = parse_query_request("iam", form)

    assert parsed == {"RequireSymbols": expected}


def test_parse_reads_integers() -> None:
    form = [("Action", "ListUsers"), ("Version", "2010-05-08"), ("MaxItems", "25")]

    assert parse_query_request("iam", form) == ("ListUsers", {"MaxItems": 25})


@pytest.mark.parametrize(
    ("operation", "name", "raw", "constraint"),
    [
        ("ListUsers", "MaxItems", "ten", "Member must be a number"),
        ("UpdateAccountPasswordPolicy", "RequireSymbols", "yes", "Member must be a boolean"),
        ("ListUsers", "MaxItems", "\u00b2\u00b2", "Member must be a number"),
        ("ListUsers", "MaxItems", "\u0661\u0662", "Member must be a number"),
        ("ListUsers", "MaxItems", "\uff11\uff12", "Member must be a number"),
        ("ListUsers", "MaxItems", "9" * 5000, "Member must be a number"),
        ("ListUsers", "MaxItems", "-" + "9" * 5000, "Member must be a number"),
        ("ListUsers", "MaxItems", "2147483648", "Member must be a number between -2147483648 and 2147483647"),
        ("ListUsers", "MaxItems", "1e3", "Member must be a number"),
        ("ListUsers", "MaxItems", " 12", "Member must be a number"),
    ],
    ids=[
        "integer",
        "boolean",
        "superscript-digits",
        "arabic-indic-digits",
        "fullwidth-digits",
        "5000-digits",
        "5000-digits-negative",
        "beyond-int32",
        "exponent",
        "leading-space",
    ],
)
def test_parse_rejects_values_the_shape_type_cannot_hold(operation: str, name: str, raw: str, constraint: str) -> None:
    form = [("Action", operation), ("Version", "2010-05-08"), (name, raw)]

    with pytest.raises(errors.ValidationError) as raised:
        parse_query_request("iam", form)

    member = name[0].lower() + name[1:]
    assert raised.value.message == (f"1 validation error detected: Value '{raw}' at '{member}' failed to satisfy constraint: {constraint}")


@pytest.mark.parametrize(("raw", "expected"), [("0" * 5000 + "25", 25), ("+7", 7), ("007", 7)])
def test_parse_reads_integers_in_every_ascii_spelling(raw: str, expected: int) -> None:
    form = [("Action", "ListUsers"), ("Version", "2010-05-08"), ("MaxItems", raw)]
    if len(raw) > 64:  # more characters than any number needs: refused before int()
        with pytest.raises(errors.ValidationError):
            parse_query_request("iam", form)
    else:
        assert parse_query_request("iam", form)[1] == {"MaxItems": expected}


def test_list_indexes_order_numerically_whatever_their_length() -> None:
    huge = "9" * 5000
    form = [
        ("Action", "CreateUser"),
        ("Version", "2010-05-08"),
        ("UserName", "u"),
        (f"Tags.member.{huge}.Key", "last"),
        (f"Tags.member.{huge}.Value", "v"),
        ("Tags.member.010.Key", "ten"),
        ("Tags.member.010.Value", "v"),
        ("Tags.member.2.Key", "two"),
        ("Tags.member.2.Value", "v"),
        ("Tags.member.0.Key", "zero-is-ignored"),
        ("Tags.member.0.Value", "v"),
    ]
    params = parse_query_request("iam", form)[1]
    assert [tag["Key"] for tag in params["Tags"]] == ["two", "ten", "last"]


def test_parse_without_action_raises_missing_action() -> None:
    with pytest.raises(errors.MissingAction):
        parse_query_request("sts", [("Version", "2011-06-15")])


@pytest.mark.parametrize(
    ("service", "form", "message"),
    [
        ("sts", [("Action", "CreateUser"), ("Version", "2011-06-15")], "Could not find operation CreateUser for version 2011-06-15"),
        (
            "sts",
            [("Action", "GetCallerIdentity"), ("Version", "2010-05-08")],
            "Could not find operation GetCallerIdentity for version 2010-05-08",
        ),
        ("iam", [("Action", "ListUsers")], "Could not find operation ListUsers for version NO_VERSION_SPECIFIED"),
        ("iam", [("Action", "listusers"), ("Version", "2010-05-08")], "Could not find operation listusers for version 2010-05-08"),
    ],
    ids=["operation-of-another-service", "wrong-version", "no-version", "wrong-case"],
)
def test_parse_unknown_operation_raises_invalid_action(service: str, form: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(errors.InvalidAction) as raised:
        parse_query_request(service, form)

    assert raised.value.message == message


# --------------------------------------------------------------------------- read_form


def test_read_form_decodes_a_post_body() -> None:
    body = b"Action=GetUser&Version=2010-05-08&UserName=a%2Bb+c&Empty="

    pairs = read_form(body, FORM, "")

    assert pairs == [("Action", "GetUser"), ("Version", "2010-05-08"), ("UserName", "a+b c"), ("Empty", "")]


def test_read_form_decodes_a_get_query_string() -> None:
    pairs = read_form(b"", None, "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Signature=ab")

    assert pairs == [("Action", "GetCallerIdentity"), ("Version", "2011-06-15"), ("X-Amz-Signature", "ab")]


def test_read_form_reads_query_string_before_body() -> None:
    pairs = read_form(b"UserName=body", FORM, "UserName=query")

    assert pairs == [("UserName", "query"), ("UserName", "body")]


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/x-www-form-urlencoded", b"Name=%C3%A9", "é"),
        ("Application/X-WWW-Form-Urlencoded; Charset=UTF-8", b"Name=%C3%A9", "é"),
        ("application/x-www-form-urlencoded; charset=utf8", b"Name=%C3%A9", "é"),
        ("application/x-www-form-urlencoded; charset=utf-8", "Name=é".encode(), "é"),
    ],
    ids=["no-charset", "mixed-case", "utf8-alias", "raw-utf8"],
)
def test_read_form_reads_utf8(content_type: str, body: bytes, expected: str) -> None:
    assert read_form(body, content_type, "") == [("Name", expected)]


@pytest.mark.parametrize(
    ("body", "content_type", "raw_query"),
    [
        (b"Name=%ZZ", FORM, ""),
        (b"Name=%E", FORM, ""),
        (b"Name=%FF%FE", FORM, ""),
        (b"Name=\xff", FORM, ""),
        (b"", None, "Name=%C3"),
        (b'{"Action": "GetUser"}', "application/json", ""),
        (b"Name=x", None, ""),
        (b"Name=x", "application/x-www-form-urlencoded; charset=no-such-charset", ""),
        (b"Name=%E9", "application/x-www-form-urlencoded; charset=iso-8859-1", ""),
        (b"Name=x", "application/x-www-form-urlencoded; charset=utf-8\x00", ""),
        (b"Name=x", "application/x-www-form-urlencoded; charset=rot13", ""),
        (b"Name=x", "application/x-www-form-urlencoded; charset=" + "u" * 5000, ""),
        (b"", None, "A=1&A=2"),
    ],
    ids=[
        "bad-escape",
        "truncated-escape",
        "invalid-utf8-escape",
        "invalid-utf8-byte",
        "invalid-utf8-in-query",
        "json-body",
        "no-content-type",
        "unknown-charset",
        "latin-1-would-read-the-signed-bytes-differently",
        "nul-in-charset",
        "binary-codec",
        "huge-charset",
        "repeated-query-parameter",
    ],
)
def test_read_form_rejects_malformed_input(body: bytes, content_type: str | None, raw_query: str) -> None:
    with pytest.raises(errors.MalformedRequest):
        read_form(body, content_type, raw_query)


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(("service", "operation"), QUERY_OPERATIONS, ids=QUERY_OPERATION_IDS)
def test_botocore_parses_serialized_response_for_every_operation(service: str, operation: str) -> None:
    shape = service_spec(service).model.operation_model(operation).output_shape
    result = example_value(shape) if shape is not None else {}

    body = serialize_query_response(service, operation, result, "req-1")
    parsed = botocore_parse(service, operation, body)

    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    assert normalise(parsed) == normalise(expected_output(shape, result) if shape is not None else {})


def test_response_envelope_matches_aws_layout() -> None:
    body = serialize_query_response(
        "sts",
        "GetCallerIdentity",
        {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/alice"},
        "c6104cbe-af31-11e0-8154-cbc7ccf896c7",
    )

    assert body == (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
        b"<Arn>arn:aws:iam::123456789012:user/alice</Arn></GetCallerIdentityResult>"
        b"<ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>"
        b"</GetCallerIdentityResponse>"
    )


def test_response_without_output_has_only_response_metadata() -> None:
    body = serialize_query_response("iam", "DeleteUser", {}, "req-2")

    assert body == (
        b'<DeleteUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        b"<ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></DeleteUserResponse>"
    )
    parsed = botocore_parse("iam", "DeleteUser", body)
    assert list(parsed) == ["ResponseMetadata"] and parsed["ResponseMetadata"]["RequestId"] == "req-2"


def test_response_emits_empty_lists_and_omits_none_members() -> None:
    body = serialize_query_response("iam", "ListUsers", {"Users": [], "IsTruncated": False, "Marker": None}, "r")

    assert b"<Users></Users>" in body and b"Marker" not in body
    parsed = botocore_parse("iam", "ListUsers", body)
    assert parsed["Users"] == [] and parsed["IsTruncated"] is False and "Marker" not in parsed


def test_response_writes_maps_as_entries() -> None:
    result = {"SummaryMap": {"Users": 3, "Groups": 0}}

    body = serialize_query_response("iam", "GetAccountSummary", result, "r")

    assert b"<SummaryMap><entry><key>Users</key><value>3</value></entry>" in body
    assert botocore_parse("iam", "GetAccountSummary", body)["SummaryMap"] == {"Users": 3, "Groups": 0}


@pytest.mark.parametrize(
    "text",
    ["a<b>&c", "quote\"apos'", "line\r\nbreak\ttab", "unicode é 日本 😀", "]]>"],
    ids=["markup", "quotes", "whitespace", "unicode", "cdata-end"],
)
def test_response_text_round_trips_through_xml_escaping(text: str) -> None:
    body = serialize_query_response("iam", "GetRole", {"Role": {"RoleName": "r", "Description": text}}, "r")

    assert botocore_parse("iam", "GetRole", body)["Role"]["Description"] == text


def test_response_url_encodes_policy_documents_as_iam_does() -> None:
    document = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'

    body = serialize_query_response("iam", "GetUserPolicy", {"UserName": "u", "PolicyName": "p", "PolicyDocument": document}, "r")

    encoded = botocore_parse("iam", "GetUserPolicy", body)["PolicyDocument"]
    assert "%7B%22Version%22%3A%20%222012-10-17%22" in encoded
    assert unquote(encoded) == document


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.UTC), b"2024-05-01T12:34:56Z"),
        (dt.datetime(2024, 5, 1, 12, 34, 56, 789000, tzinfo=dt.UTC), b"2024-05-01T12:34:56Z"),
        (dt.datetime(2024, 5, 1, 14, 34, 56, tzinfo=dt.timezone(dt.timedelta(hours=2))), b"2024-05-01T12:34:56Z"),
        (dt.datetime(2024, 5, 1, 12, 34, 56), b"2024-05-01T12:34:56Z"),
        (EXAMPLE_TIME.timestamp(), b"2024-05-01T12:34:56Z"),
    ],
    ids=["utc", "fraction-dropped", "offset-converted", "naive-is-utc", "epoch-seconds"],
)
def test_response_writes_timestamps_in_utc_iso8601(value: Any, expected: bytes) -> None:
    credentials = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": value}

    body = serialize_query_response("sts", "GetSessionToken", {"Credentials": credentials}, "r")

    assert b"<Expiration>" + expected + b"</Expiration>" in body


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("service", "error", "status", "fault"),
    [
        ("iam", errors.NoSuchEntityException("The user with name bob cannot be found."), 404, "Sender"),
        ("sts", errors.ValidationError("1 validation error detected: <x> & y"), 400, "Sender"),
        ("sts", errors.ExpiredToken(), 403, "Sender"),
        ("iam", errors.ServiceFailureException("boom"), 500, "Receiver"),
    ],
    ids=["iam-not-found", "sts-validation-escaped", "sts-expired-token", "iam-server-fault"],
)
def test_error_body_is_read_by_botocore(service: str, error: errors.TesseraError, status: int, fault: str) -> None:
    got_status, body = serialize_query_error(service, error, "req-9")

    parsed = botocore_parse(service, "GetUser" if service == "iam" else "GetCallerIdentity", body, got_status)
    assert got_status == status
    assert parsed["Error"] == {"Type": fault, "Code": error.code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


@pytest.mark.parametrize("service", QUERY_SERVICES)
def test_error_body_uses_the_service_namespace(service: str) -> None:
    _, body = serialize_query_error(service, errors.AccessDenied("denied"), "r")

    namespace = service_spec(service).xml_namespace
    assert body.startswith(f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type>'.encode())


# --------------------------------------------------------------------------- other types

# IAM and STS inputs use no maps, timestamps, blobs or doubles; a small model does.
SYNTHETIC_MODEL = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "protocol": "query",
            "endpointPrefix": "synthetic",
            "serviceId": "Synthetic",
            "signatureVersion": "v4",
        },
        "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "PutInput"}}},
        "shapes": {
            "PutInput": {
                "type": "structure",
                "members": {
                    "When": {"shape": "Time"},
                    "Data": {"shape": "Data"},
                    "Labels": {"shape": "Labels"},
                    "Ratio": {"shape": "Ratio"},
                    "Items": {"shape": "Items"},
                },
            },
            "Time": {"type": "timestamp"},
            "Data": {"type": "blob"},
            "Labels": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "Text"}},
            "Ratio": {"type": "double"},
            "Items": {"type": "list", "member": {"shape": "Labels"}},
            "Text": {"type": "string"},
        },
    },
    service_name="synthetic",
)


@pytest.mark.parametrize(
    "params",
    [
        {"When": EXAMPLE_TIME, "Data": b"\x00\xffbinary", "Labels": {"a": "1", "b c": "2"}, "Ratio": 0.25},
        {"When": dt.datetime(2024, 5, 1, 12, 34, 56, 123000, tzinfo=dt.UTC)},
        {"Items": [{"k": "v"}, {"x": "y", "z": ""}]},
    ],
    ids=["all-types", "fractional-timestamp", "list-of-maps"],
)
def test_read_params_inverts_botocore_for_maps_timestamps_blobs_and_doubles(params: dict[str, Any]) -> None:
    model = SYNTHETIC_MODEL.operation_model("Put")
    request = create_serializer("query").serialize_to_request(params, model)
    pairs = read_form(urlencode(request["body"]).encode(), request["headers"]["Content-Type"], "")

    assert read_params(model.input_shape, pairs) == params


@pytest.mark.parametrize(
    ("name", "raw"),
    [("When", "yesterday"), ("Data", "not base64!"), ("Ratio", "half")],
    ids=["timestamp", "blob", "double"],
)
def test_read_params_rejects_unreadable_values(name: str, raw: str) -> None:
    with pytest.raises(errors.ValidationError):
        read_params(SYNTHETIC_MODEL.operation_model("Put").input_shape, [(name, raw)])


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/html, application/json;q=0.5", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/xml", False),
        ("application/json;q=0", False),
        ("application/jsonx", False),
    ],
)
def test_get_caller_identity_answers_json_only_when_asked(accept: str | None, expected: bool) -> None:
    assert answers_json("sts", "GetCallerIdentity", accept) is expected


@pytest.mark.parametrize(("service", "operation"), [("sts", "AssumeRole"), ("iam", "GetUser"), ("sts", None)])
def test_other_operations_stay_xml_whatever_the_accept_header(service: str, operation: str | None) -> None:
    assert not answers_json(service, operation, "application/json")


def test_get_caller_identity_json_is_sts_envelope() -> None:
    result = {"UserId": "AIDAEXAMPLE", "Account": "111122223333", "Arn": 'arn:aws:iam::111122223333:user/a"b'}
    body = json.loads(serialize_query_response_json("sts", "GetCallerIdentity", result, "req-1"))
    assert body == {
        "GetCallerIdentityResponse": {
            "GetCallerIdentityResult": result,
            "ResponseMetadata": {"RequestId": "req-1"},
        }
    }
    with pytest.raises(ValueError, match="AssumeRole"):
        serialize_query_response_json("sts", "AssumeRole", {}, "req-1")
