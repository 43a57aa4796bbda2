"""A write either answers success or did not happen, and a store failure is a 503.

The app runs over a real SQLite store whose calls can be made to fail the way a lost
PostgreSQL connection fails them (a real SQLAlchemy ``OperationalError`` turned into
``BackendError`` by the store's own error translation). A failure of the view's
refresh after a commit never turns the committed write into an error: the write
answers success, the view is marked stale and reloaded before it is read again. A
failure a client does see is AWS's ``ServiceUnavailable`` (503) saying what failed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from samlidp import ATTR, Idp, crafted
from storefaults import FailingStore, call

from bench.inproc import ACCOUNT
from tessera.server.app import TesseraApp
from tessera.services import records as R
from tessera.services.runtime import Runtime
from tessera.store.base import GLOBAL, BackendError
from tessera.store.guard import LOOP_GUARD

NS = {"aws": "https://iam.amazonaws.com/doc/2010-05-08/"}


def _error(root: ET.Element) -> tuple[str, str]:
    code = root.find(".//{*}Error/{*}Code")
    message = root.find(".//{*}Error/{*}Message")
    assert code is not None and message is not None
    return code.text or "", message.text or ""


def _stored_keys(runtime: Runtime, user: str) -> list[str]:
    return sorted(r.key for r in runtime.store.snapshot(ACCOUNT).records if r.kind == R.ACCESS_KEY and r.data["user"] == user)


def test_a_failed_refresh_after_commit_still_answers_the_committed_key(
    served: tuple[Runtime, TesseraApp, FailingStore], caplog: pytest.LogCaptureFixture
) -> None:
    runtime, app, failing = served
    assert call(app, {"Action": "CreateUser", "UserName": "bob"})[0] == 200
    original = runtime.view.refresh

    def refresh_then_lose_the_connection(scopes: Any) -> None:
        failing.reads_fail = True  # the connection dies right after the commit
        original(scopes)

    runtime.view.refresh = refresh_then_lose_the_connection  # type: ignore[method-assign]
    status, root = call(app, {"Action": "CreateAccessKey", "UserName": "bob"})
    runtime.view.refresh = original  # type: ignore[method-assign]
    assert status == 200
    key_id = root.findtext(".//aws:AccessKeyId", namespaces=NS)
    assert key_id and root.findtext(".//aws:SecretAccessKey", namespaces=NS)
    assert runtime.view.stale_scopes == {ACCOUNT}
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "after a commit failed" in r.getMessage()]
    assert warnings and all(key_id not in r.getMessage() for r in warnings)

    # while the store is still down, a read is a 503 saying so, never the key missing
    status, root = call(app, {"Action": "ListAccessKeys", "UserName": "bob"})
    code, message = _error(root)
    assert (status, code) == (503, "ServiceUnavailable")
    assert message == "The identity store is unavailable: could not read (database connection lost). Retry later."

    failing.reads_fail = False  # the store is back: the next read reloads the account first
    status, root = call(app, {"Action": "ListAccessKeys", "UserName": "bob"})
    assert status == 200
    assert [e.text for e in root.iterfind(".//aws:AccessKeyId", NS)] == [key_id]
    assert runtime.view.stale_scopes == frozenset()
    assert _stored_keys(runtime, "bob") == [key_id]


def test_a_stale_account_is_reloaded_by_the_next_poll(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, app, failing = served
    original = runtime.view.refresh

    def refresh_then_lose_the_connection(scopes: Any) -> None:
        failing.reads_fail = True
        original(scopes)

    runtime.view.refresh = refresh_then_lose_the_connection  # type: ignore[method-assign]
    assert call(app, {"Action": "CreateUser", "UserName": "carol"})[0] == 200
    runtime.view.refresh = original  # type: ignore[method-assign]
    with pytest.raises(BackendError):
        runtime.view.poll()  # still down: the poll fails (and is retried by the poller), the mark stays
    assert runtime.view.stale_scopes == {ACCOUNT}
    failing.reads_fail = False
    assert ACCOUNT in runtime.view.poll()
    assert runtime.view.stale_scopes == frozenset()
    assert runtime.view._accounts[ACCOUNT].user("carol") is not None  # reloaded without a read on demand


def test_a_write_the_store_cannot_make_is_a_503_and_writes_nothing(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, app, failing = served
    assert call(app, {"Action": "CreateUser", "UserName": "dave"})[0] == 200
    failing.writes_fail = True
    status, root = call(app, {"Action": "CreateAccessKey", "UserName": "dave"})
    code, message = _error(root)
    assert (status, code) == (503, "ServiceUnavailable")
    assert message == "The identity store is unavailable: could not write (database connection lost). Retry later."
    assert "db.internal" not in message and "SELECT" not in message
    assert _stored_keys(runtime, "dave") == []


def test_authentication_while_the_view_owes_a_reload_runs_off_the_event_loop(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    """Authentication reads the view; with a stale scope that read reloads from the
    store, which the event loop must not do (that would be a 500 StoreOnEventLoop)."""
    runtime, app, failing = served
    original = runtime.view.refresh

    def refresh_then_lose_the_connection(scopes: Any) -> None:
        failing.reads_fail = True
        original(scopes)

    runtime.view.refresh = refresh_then_lose_the_connection  # type: ignore[method-assign]
    assert call(app, {"Action": "CreateUser", "UserName": "erin"})[0] == 200
    runtime.view.refresh = original  # type: ignore[method-assign]
    status, root = call(app, {"Action": "GetCallerIdentity"}, "sts")
    assert (status, _error(root)[0]) == (503, "ServiceUnavailable")
    failing.reads_fail = False
    status, root = call(app, {"Action": "GetCallerIdentity"}, "sts")
    assert status == 200 and root.findtext(".//{*}Account") == ACCOUNT


def test_organizations_reads_reload_a_stale_global_scope_first(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, _, failing = served
    runtime.org.snapshot()  # built and cached
    failing.reads_fail = True
    runtime.view.refresh_committed([GLOBAL])  # as after a commit to the global scope
    assert runtime.view.stale_scopes == {GLOBAL}
    with pytest.raises(BackendError):
        runtime.org.snapshot()  # never the cached snapshot from before the commit
    failing.reads_fail = False
    runtime.org.snapshot()
    assert runtime.view.stale_scopes == frozenset()


def test_a_stale_view_is_never_reloaded_on_the_event_loop(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    """A scope that went stale after the app chose to prepare a request on the loop is a
    503 there (store I/O on the loop would be a 500 StoreOnEventLoop)."""
    runtime, _, failing = served
    failing.reads_fail = True
    runtime.view.refresh_committed([ACCOUNT])
    failing.reads_fail = False
    LOOP_GUARD.enter()
    try:
        with pytest.raises(BackendError) as raised:
            runtime.view.account(ACCOUNT)
    finally:
        LOOP_GUARD.leave()
    assert raised.value.client_message() == "The identity store is unavailable: could not read (state reload pending). Retry later."
    assert runtime.view.account(ACCOUNT) is not None  # off the loop it reloads
    assert runtime.view.stale_scopes == frozenset()


def test_an_mfa_code_whose_budget_cannot_be_read_or_recorded_is_a_503(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    """The budget read before the code is looked at, and the failure recorded after it:
    a store that takes neither answers 503, never an answer about the code."""
    _, app, failing = served
    guess = {"Action": "GetSessionToken", "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/nobody", "TokenCode": "123456"}
    failing.budget_reads_fail = True
    status, root = call(app, guess, "sts")
    assert (status, _error(root)[0]) == (503, "ServiceUnavailable")
    failing.budget_reads_fail, failing.budget_writes_fail = False, True
    status, root = call(app, guess, "sts")
    assert (status, _error(root)[0]) == (503, "ServiceUnavailable")
    failing.budget_writes_fail = False
    status, root = call(app, guess, "sts")
    assert (status, _error(root)[0]) == (403, "AccessDenied")  # the store back: the guess is answered, and counted
    assert failing.inner.read_budgets("mfa", [f"principal:{ACCOUNT}"])


def test_a_one_time_use_assertion_whose_claim_cannot_be_written_is_a_503_then_accepted_once(
    served: tuple[Runtime, TesseraApp, FailingStore],
) -> None:
    """The claim is made before any credential is issued: a store that cannot take it
    answers 503, never an acceptance; once it can, the assertion is accepted once."""
    _, app, failing = served
    idp = Idp()
    status, root = call(app, {"Action": "CreateSAMLProvider", "Name": "Corp", "SAMLMetadataDocument": idp.metadata()})
    assert status == 200
    provider = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
    allow = {"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithSAML"}
    trust = {"Version": "2012-10-17", "Statement": [allow]}
    assert call(app, {"Action": "CreateRole", "RoleName": "Once", "AssumeRolePolicyDocument": json.dumps(trust)})[0] == 200
    role = f"arn:aws:iam::{ACCOUNT}:role/Once"
    attributes = {ATTR + "Role": [f"{provider},{role}"], ATTR + "RoleSessionName": ["alice"]}
    assertion = crafted(idp, attributes, assertion_id="_once", one_time_use=True)
    present = {"Action": "AssumeRoleWithSAML", "RoleArn": role, "PrincipalArn": provider, "SAMLAssertion": assertion}
    failing.budget_writes_fail = True
    status, root = call(app, present, "sts")
    assert (status, _error(root)[0]) == (503, "ServiceUnavailable")
    failing.budget_writes_fail = False
    assert call(app, present, "sts")[0] == 200
    status, root = call(app, present, "sts")
    assert (status, _error(root)[0]) == (400, "InvalidIdentityToken")
