"""Numbers a client writes badly are AWS's 4xx, never a 500, and leave nothing written:
other scripts' digits (which Python's ``int()`` accepts), numbers of thousands of digits
(which it refuses with a ValueError), and values beyond the member's type."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from attackkit import RawClient
from serverproc import TesseraServer

HUGE = "9" * 5000
ODD_DIGITS = {
    "superscript": "\u00b2\u00b2",
    "arabic-indic": "\u0661\u0662\u0660\u0660",
    "fullwidth": "\uff13\uff16\uff10\uff10",
    "huge": HUGE,
    "huge-negative": "-" + HUGE,
    "leading-zeros": "0" * 5000 + "1",
}


def _no_traceback(target: TesseraServer) -> None:
    assert "Traceback" not in target.log()


@pytest.mark.parametrize("value", ODD_DIGITS.values(), ids=ODD_DIGITS.keys())
def test_presigned_expires(raw: RawClient, target: TesseraServer, value: str) -> None:
    url = raw.presigned_url("sts", {"Action": "GetCallerIdentity"})
    head, _, tail = url.partition("X-Amz-Expires=")
    rest = tail.partition("&")[2]
    reply = raw.get(f"{head}X-Amz-Expires={urllib.parse.quote(value)}&{rest}")
    if value == ODD_DIGITS["leading-zeros"]:  # the number 1, read fine: the signature no longer matches
        assert (reply.status, reply.error_code()) == (403, "SignatureDoesNotMatch"), reply.text
    else:
        assert reply.status == 400, reply.text
        assert reply.error_code() == "IncompleteSignature"
    _no_traceback(target)


@pytest.mark.parametrize("value", ODD_DIGITS.values(), ids=ODD_DIGITS.keys())
@pytest.mark.parametrize(
    ("service", "action", "member"),
    [("sts", "GetSessionToken", "DurationSeconds"), ("iam", "ListUsers", "MaxItems"), ("sts", "AssumeRole", "DurationSeconds")],
)
def test_integer_members(raw: RawClient, target: TesseraServer, service: str, action: str, member: str, value: str) -> None:
    params = {"Action": action, member: value}
    if action == "AssumeRole":
        params.update(RoleArn="arn:aws:iam::111122223333:role/none", RoleSessionName="s")
    reply = raw.send(raw.signed(service, params))
    if value == ODD_DIGITS["leading-zeros"]:
        assert reply.status in (200, 400, 403), reply.text  # the number 1: AWS's own checks decide
        assert reply.error_code() in ("", "ValidationError", "AccessDenied", "NoSuchEntity")
    else:
        assert reply.status == 400, reply.text
        assert reply.error_code() == "ValidationError"
    _no_traceback(target)


def test_list_index_of_thousands_of_digits(raw: RawClient, target: TesseraServer) -> None:
    reply = raw.send(
        raw.signed(
            "iam",
            {
                "Action": "CreateUser",
                "UserName": "idx-user",
                f"Tags.member.{HUGE}.Key": "k",
                f"Tags.member.{HUGE}.Value": "v",
                "Tags.member.1.Key": "a",
                "Tags.member.1.Value": "b",
            },
        )
    )
    assert reply.status == 200, reply.text
    tags = target.client("iam").list_user_tags(UserName="idx-user")["Tags"]
    assert tags == [{"Key": "a", "Value": "b"}, {"Key": "k", "Value": "v"}]
    _no_traceback(target)


@pytest.mark.parametrize("value", ["1e999", "-1e999", "NaN", "Infinity", "\u0661", "1" * 300])
def test_float_or_huge_values_for_an_integer_in_a_query(raw: RawClient, target: TesseraServer, value: str) -> None:
    reply = raw.send(raw.signed("iam", {"Action": "ListUsers", "MaxItems": value}))
    assert reply.status == 400, reply.text
    assert reply.error_code() == "ValidationError"
    _no_traceback(target)


@pytest.mark.parametrize(
    "body",
    [
        '{"MaxResults": ' + "9" * 4000 + "}",
        '{"MaxResults": ' + HUGE + "}",
        '{"MaxResults": 1e999}',
        '{"MaxResults": NaN}',
        "[" * 100_000,
        '{"MaxResults": 99999999999999999999}',
    ],
    ids=["4000-digits", "5000-digits", "infinite", "nan", "nested-100k", "beyond-long"],
)
def test_json_numbers(raw: RawClient, target: TesseraServer, body: str) -> None:
    reply = raw.send(
        raw.signed(
            "organizations",
            body=body.encode(),
            headers={"X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts", "Content-Type": "application/x-amz-json-1.1"},
        )
    )
    assert reply.status == 400, reply.text
    assert json.loads(reply.body)["__type"] in ("SerializationException", "InvalidInputException")
    _no_traceback(target)


def test_amz_date_with_other_scripts_digits(raw: RawClient, target: TesseraServer) -> None:
    prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
    date = prepared.headers["X-Amz-Date"]
    prepared.headers["X-Amz-Date"] = "\u0662" + date[1:]
    reply = raw.request("POST", "/", prepared.body, [(k, v.encode().decode("latin-1")) for k, v in prepared.headers.items()])
    assert reply.status in (400, 403), reply.text
    assert reply.error_code() in ("IncompleteSignature", "SignatureDoesNotMatch")
    _no_traceback(target)


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan 2024 99999999999999999999:00:00 GMT",
        "Mon, 01 Jan " + "9" * 5000 + " 00:00:00 GMT",
    ],
    ids=["20-digit-year", "20-digit-hour", "5000-digit-year"],
)
def test_date_header_with_huge_numbers(raw: RawClient, target: TesseraServer, date: str) -> None:
    prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
    headers = [(k, v) for k, v in prepared.headers.items() if k.lower() != "x-amz-date"] + [("Date", date)]
    reply = raw.request("POST", "/", prepared.body, headers)
    assert reply.status == 400, reply.text
    assert reply.error_code() == "IncompleteSignature"
    _no_traceback(target)
