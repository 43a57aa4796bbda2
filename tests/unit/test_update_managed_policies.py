"""scripts/update_managed_policies.py: what it makes of the dataset's records, checked on a
small dataset of the published shape (the real one is checked by the shipped data's tests)."""

from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "update_managed_policies.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_managed_policies", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def doc(action: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}


DATASET = {
    "AWSLambdaBasicExecutionRole": {
        "arn": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "latestVersionId": "v2",
        "versionsCount": 2,
        "versions": {
            "v1": {"createdDate": "2015-04-09T15:03:43.000Z", "document": doc("logs:CreateLogGroup")},
            "v2": {"createdDate": "2015-04-09T15:03:43.000Z", "document": doc("logs:*")},
        },
        "createdDate": "2015-04-09T15:03:43.000Z",
        "lastUpdatedDate": "2020-01-02T03:04:05.000Z",
    },
    "AdministratorAccess": {
        "arn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "latestVersionId": "v1",
        "versionsCount": 1,
        "versions": {"v1": {"createdDate": "2015-02-06T18:39:46.000Z", "document": doc("*")}},
        "createdDate": "2015-02-06T18:39:46.000Z",
        "lastUpdatedDate": "2015-02-06T18:39:46.000Z",
    },
}


def test_records_paths_ids_dates_and_documents(script: ModuleType) -> None:
    policies, blob = script.build(DATASET)
    admin, basic = policies  # ordered by ARN
    assert (admin["path"], basic["path"]) == ("/", "/service-role/")
    assert admin["id"] == "ANPAIWMBCKSKIEE64ZLYK" and admin["description"]
    assert basic["id"].startswith("ANPA") and len(basic["id"]) == 21 and "description" not in basic
    assert basic["id"] == script.build(DATASET)[0][1]["id"]  # stable
    assert (basic["created"], basic["updated"], basic["default_version"]) == ("2015-04-09T15:03:43Z", "2020-01-02T03:04:05Z", "v2")
    assert basic["versions"] == [["v2", "2020-01-02T03:04:05Z"], ["v1", "2015-04-09T15:03:43Z"]]
    start, length = basic["document_at"]
    assert zlib.decompress(blob[start : start + length]).decode() == json.dumps(doc("logs:*"), indent=4)
    start, length = basic["history_at"]
    assert json.loads(zlib.decompress(blob[start : start + length])) == {"v1": json.dumps(doc("logs:CreateLogGroup"), indent=4)}
    assert "history_at" not in admin


def test_a_record_whose_name_is_not_its_arn_is_refused(script: ModuleType) -> None:
    bad = {"Other": DATASET["AdministratorAccess"]}
    with pytest.raises(SystemExit):
        script.build(bad)
