"""Audit events cap what a client sent per field, as CloudTrail does."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson

from tessera.audit.events import ELEMENTS_LIMIT, FIELD_LIMIT, EncodedEvent, bounded, bounded_encoded, build_event
from tessera.protocol.model import service_spec

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def event(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "service": "sts",
        "operation": "GetCallerIdentity",
        "caller": None,
        "access_key_id": "",
        "when": WHEN,
        "region": "us-east-1",
        "source_ip": "127.0.0.1",
        "user_agent": "botocore/1.0",
        "request_id": "r",
        "params": None,
        "result": None,
        "error_code": None,
        "error_message": None,
        "read_only": True,
    }
    fields.update(overrides)
    fields["resolved"] = service_spec(fields["service"]).resolve(fields["operation"])
    return build_event(**fields)


def test_small_events_are_recorded_whole_and_not_marked() -> None:
    record = event(error_code="AccessDenied", error_message="no")
    assert record["userAgent"] == "botocore/1.0" and record["errorMessage"] == "no"
    assert "omitted" not in record


def test_a_huge_user_agent_is_truncated_and_marked() -> None:
    record = event(user_agent="A" * (512 << 10))
    assert record["userAgent"] == "A" * FIELD_LIMIT
    assert record["omitted"] is True


def test_error_messages_that_echo_input_are_truncated() -> None:
    record = event(error_code="ValidationError", error_message="bad value " + "x" * 100_000)
    assert len(record["errorMessage"]) == FIELD_LIMIT and record["omitted"] is True


def test_client_named_identity_fields_are_bounded() -> None:
    record = event(access_key_id="K" * 10_000, region="r" * 10_000, source_ip="s" * 10_000)
    assert len(record["userIdentity"]["accessKeyId"]) == 128
    assert len(record["awsRegion"]) <= 64 and len(record["sourceIPAddress"]) <= 64


def test_request_parameters_over_100_kb_are_omitted() -> None:
    big = event(
        service="iam", operation="CreatePolicy", read_only=False, params={"PolicyName": "p", "PolicyDocument": "x" * (ELEMENTS_LIMIT + 1)}
    )
    small = event(service="iam", operation="CreatePolicy", read_only=False, params={"PolicyName": "p", "PolicyDocument": "{}"})
    assert bounded(big)["requestParameters"] is None and big["omitted"] is True
    assert bounded(small)["requestParameters"] == {"policyName": "p", "policyDocument": "{}"}


def test_additional_event_data_is_recorded_and_omitted_over_100_kb() -> None:
    decisions = [{"action": "notes:GetNote", "resource": "r" * 2048, "decision": "Deny"}] * 50
    big = event(service="tessera-authz", operation="BatchAuthorizeRequest", additional_data={"decisions": decisions})
    small = event(service="tessera-authz", operation="AuthorizeRequest", additional_data={"decisions": decisions[:1]})
    assert bounded(big)["additionalEventData"] is None and big["omitted"] is True
    assert bounded(small)["additionalEventData"] == {"decisions": decisions[:1]} and "omitted" not in small
    assert "additionalEventData" not in event()


def test_the_stored_size_of_any_event_is_bounded() -> None:
    record = bounded(
        event(
            user_agent="U" * 10**6,
            access_key_id="K" * 10**6,
            region="R" * 10**6,
            source_ip="S" * 10**6,
            error_code="E" * 10**6,
            error_message="M" * 10**6,
            service="iam",
            operation="CreatePolicy",
            read_only=False,
            params={"PolicyName": "p", "PolicyDocument": "x" * 10**6},
        )
    )
    assert len(json.dumps(record)) < 8 * 1024


def test_text_that_is_not_unicode_is_made_storable_and_marked() -> None:
    record = bounded(event(params={"Name": "a\ud800b"}, error_message="bad \udfff"))
    orjson.dumps(record)  # a lone surrogate made the store's encoder fail the whole batch
    assert record["omitted"] is True
    assert "\ufffd" in json.dumps(record, ensure_ascii=False, default=str)


def test_the_writer_form_of_an_event_is_bounded_with_its_one_encoding_attached() -> None:
    small = event(error_code="AccessDenied", error_message="no")
    written = bounded_encoded(dict(small))
    assert isinstance(written, EncodedEvent) and written == bounded(dict(small))
    assert written.json == orjson.dumps(written)
    document = "x" * ELEMENTS_LIMIT
    large = event(service="iam", operation="PutUserPolicy", params={"UserName": "u", "PolicyName": "p", "PolicyDocument": document})
    assert type(bounded_encoded(dict(large))) is dict and bounded_encoded(dict(large)) == bounded(dict(large))
    for odd in (event(params={"Name": "a\ud800b"}), {**small, "odd": {"x"}}):  # not Unicode; a value orjson needs ``default`` for
        assert type(bounded_encoded(dict(odd))) is dict and bounded_encoded(dict(odd)) == bounded(dict(odd))
