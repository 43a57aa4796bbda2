"""The console's policy version diff (tessera.console.diff)."""

from __future__ import annotations

import json

import pytest

from tessera.console.diff import DiffLine, diff_documents, pretty_json

V1 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}


def test_pretty_json_keeps_the_authors_key_order() -> None:
    text = '{"Version":"2012-10-17","Statement":{"Resource":"*","Effect":"Allow","Action":"s3:*"}}'
    assert pretty_json(text).splitlines()[3:6] == ['    "Resource": "*",', '    "Effect": "Allow",', '    "Action": "s3:*"']


def test_pretty_json_leaves_text_that_is_not_json() -> None:
    assert pretty_json("{not json") == "{not json"


def test_layout_alone_is_no_change() -> None:
    diff = diff_documents(json.dumps(V1), json.dumps(V1, indent=4))
    assert not diff.changed and diff.lines == []


def test_a_changed_action_is_one_line_removed_and_one_added() -> None:
    v2 = json.loads(json.dumps(V1))
    v2["Statement"][0]["Action"] = ["s3:PutObject"]
    diff = diff_documents(json.dumps(V1), json.dumps(v2))
    assert (diff.added, diff.removed) == (1, 1)
    changed = [line for line in diff.lines if line.kind in ("added", "removed")]
    assert changed == [
        DiffLine("removed", '        "s3:GetObject"', old=7),
        DiffLine("added", '        "s3:PutObject"', new=7),
    ]
    # the context around it keeps both line numbers
    assert DiffLine("same", '      "Action": [', 6, 6) in diff.lines
    assert diff.lines[0].kind == "gap"  # lines 1 to 3 left out


@pytest.mark.parametrize(
    ("context", "gaps"),
    [(0, 3), (1, 3), (20, 0)],
    ids=["no-context", "one-line", "whole-document"],
)
def test_unchanged_runs_between_hunks_are_gaps(context: int, gaps: int) -> None:
    statements = [{"Sid": f"S{i}", "Effect": "Allow", "Action": f"svc{i}:Get", "Resource": "*"} for i in range(6)]
    old = {"Version": "2012-10-17", "Statement": statements}
    new = json.loads(json.dumps(old))
    new["Statement"][1]["Action"] = "svc1:Put"
    new["Statement"][4]["Action"] = "svc4:Put"
    diff = diff_documents(json.dumps(old), json.dumps(new), context=context)
    assert (diff.added, diff.removed) == (2, 2)
    assert [line.kind for line in diff.lines].count("gap") == gaps


def test_an_added_statement_is_all_additions() -> None:
    v2 = json.loads(json.dumps(V1))
    v2["Statement"].append({"Effect": "Deny", "Action": "iam:*", "Resource": "*"})
    diff = diff_documents(json.dumps(V1), json.dumps(v2))
    assert (diff.added, diff.removed) == (5, 0)  # "}," and the new statement's four lines
    assert any(line.kind == "added" and '"Effect": "Deny"' in line.text for line in diff.lines)


def test_large_documents_get_a_linear_diff() -> None:
    """Past MATCH_LIMIT line pairs the lines between the common start and end show as
    replaced: the quadratic matcher is never run on what a policy page can be fed."""
    old = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:a"] * 800, "Resource": "*"}]})
    new = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:a", "s3:b"] * 400, "Resource": "*"}]})
    diff = diff_documents(old, new)
    assert diff.changed and diff.removed == diff.added == 799  # all but the first action line
    # three lines of context before the change, the rest folded into a gap
    assert [line.kind for line in diff.lines[:4]] == ["gap", "same", "same", "same"]
    assert [line.text for line in diff.lines[1:4]] == ['      "Effect": "Allow",', '      "Action": [', '        "s3:a",']
