"""The held-checks suite's own tools: the policy helpers and caller lookups of ``attackkit``,
and the fuzz generator (seeded, reproducible, covering every model operation and kind)."""

from __future__ import annotations

import json

import fuzzgen
from attackkit import RawClient, allow, caller_arn, deny, error_code_of, policy, trust_account
from serverproc import Credentials, TesseraServer


def test_policy_helpers_build_aws_documents() -> None:
    document = json.loads(policy(allow("iam:Get*", "arn:x"), deny(["iam:Delete*"], Condition={"Bool": {"aws:SecureTransport": "false"}})))
    assert document["Version"] == "2012-10-17"
    assert document["Statement"][0] == {"Effect": "Allow", "Action": "iam:Get*", "Resource": "arn:x"}
    assert document["Statement"][1]["Effect"] == "Deny" and document["Statement"][1]["Condition"]["Bool"]
    trust = json.loads(trust_account("123456789012"))["Statement"][0]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"} and trust["Action"] == "sts:AssumeRole"


def test_caller_arn_and_error_code_of(raw: RawClient, target: TesseraServer) -> None:
    assert caller_arn(raw, target.root) == f"arn:aws:iam::{target.account_id}:root"
    bogus = Credentials("AKIAIOSFODNN7EXAMPLE", "x" * 40)
    assert error_code_of(target.client("iam", bogus).list_users) == "InvalidClientTokenId"
    assert error_code_of(target.client("iam").list_users) == ""


def _fingerprint(seed: int, count: int) -> list[tuple[str, str, str, bytes]]:
    creds = [Credentials("AKIAIOSFODNN7EXAMPLE", "x" * 40)]
    generator = fuzzgen.Generator(seed, "127.0.0.1:1", creds, ["n"], ["arn:aws:iam::111122223333:user/n"])
    cases = list(generator.cases(count))
    assert [case.index for case in cases] == list(range(count))
    # the signature and date change with the clock; everything the generator chose does not
    return [(case.kind, case.label, case.target.split("X-Amz-Date")[0], case.body) for case in cases]


def test_the_fuzz_generator_is_reproducible_and_covers_every_kind() -> None:
    first, again, other = _fingerprint(7, 400), _fingerprint(7, 400), _fingerprint(8, 400)
    assert first == again
    assert first != other
    kinds = {kind for kind, *_ in first}
    assert kinds == {"signed-query", "signed-json", "signed-get", "presigned", "tampered", "unsigned"}
    services = {label.split(":")[0] for _, label, *_ in first if ":" in label}
    assert services == {"iam", "sts", "organizations"}


def test_the_fuzz_report_groups_failures_by_their_fault() -> None:
    case = fuzzgen.FuzzCase(3, "signed-query", "iam:ListUsers", "POST", "/", [], b"MaxItems=9")
    log = (
        "2026-01-01 00:00:00,000 ERROR tessera request r-1 failed request_id=r-1\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in f\nValueError: Exceeds the limit (4300 digits) request_id=r-1\n'
        "2026-01-01 00:00:00,001 INFO tessera.access done\n"
    )
    excerpt = fuzzgen.traceback_of(log, "r-1")
    assert excerpt.endswith("ValueError: Exceeds the limit (4300 digits) request_id=r-1")
    report = fuzzgen.FuzzReport(
        sent=2,
        failures=[fuzzgen.FuzzFailure(case, 500, "r-1", excerpt), fuzzgen.FuzzFailure(case, 500, "r-2", excerpt.replace("4300", "99"))],
    )
    assert list(report.distinct()) == ["ValueError: Exceeds the limit (...)"]
    assert "1 distinct faults" in report.summary() and "#3 signed-query iam:ListUsers" in report.summary()
