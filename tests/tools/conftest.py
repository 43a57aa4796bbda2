"""Tessera against third-party tools built on the AWS SDKs.

Each test here installs nothing: it runs a real tool from its own virtualenv under
``.venv-tools/<tool>`` (the tool's dependencies pin a boto3 other than the project's),
created from the exact pins in ``tests/tools/requirements/<tool>.txt`` by
``make tools`` (a prerequisite of ``make test``), against a real ``tessera serve``:

- ``test_ansible.py``: the amazon.aws collection (``ansible-playbook`` on localhost with
  ``endpoint_url``): roles, users, policies, the password policy, instance profiles, the
  info modules, and a second run that changes nothing.
- ``test_pmapper.py``: principalmapper builds its graph (``pmapper graph create``, endpoint
  through botocore's ``AWS_ENDPOINT_URL``) and answers ``pmapper query`` as Tessera's
  policies say.
- ``test_scoutsuite.py``: ScoutSuite's IAM rule set (``scout aws --services iam``): the run
  completes without an error and its findings describe the account.
- ``test_cloudsplaining.py``: ``cloudsplaining download`` (GetAccountAuthorizationDetails)
  then ``scan``, on SQLite and on PostgreSQL.

A missing tool is a failure naming the command that installs it (``make tools``), never a
skip. Every tool gets the endpoint and the root keys through the environment only
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...), with ``HOME`` in a temporary directory so
that no configuration of the machine leaks in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serverproc import TesseraServer, server_factory, start_server


@pytest.fixture(scope="module")
def server() -> Iterator[TesseraServer]:
    srv, cleanup = start_server("sqlite")
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture
def fresh_server() -> Iterator[Callable[[str], TesseraServer]]:
    yield from server_factory()


@pytest.fixture
def iam(server: TesseraServer) -> Any:
    return server.client("iam")
