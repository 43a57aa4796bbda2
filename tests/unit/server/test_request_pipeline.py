"""The request path's plain steps: the declared body length, a body read whole from one
message or from several, and the answer's headers, each as the general path gives it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.inproc import build_app, signed_scope
from tessera.server.app import TesseraApp
from tessera.server.http import declared_length
from tessera.services.runtime import Runtime

GCI = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}


def _declared_reference(headers: list[tuple[bytes, bytes]]) -> int:
    values = [value.strip() for name, value in headers if name == b"content-length"]
    return max((int(value) for value in values if value.isdigit()), default=0)


_names = st.sampled_from([b"content-length", b"content-type", b"host", b"Content-Length"])
_values = st.one_of(st.integers(0, 10**12).map(lambda n: str(n).encode()), st.binary(max_size=8), st.just(b" 12 "))


@given(st.lists(st.tuples(_names, _values), max_size=6))
def test_the_declared_length_is_the_largest_content_length(headers: list[tuple[bytes, bytes]]) -> None:
    assert declared_length(headers) == _declared_reference(headers)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Runtime, TesseraApp]]:
    runtime, application = build_app(str(tmp_path))
    yield runtime, application
    application.executor.shutdown(wait=True)
    runtime.store.close()


def _send(application: TesseraApp, scope: dict[str, Any], messages: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    return sent


def _in_chunks(body: bytes, size: int) -> list[MutableMapping[str, Any]]:
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)]


@pytest.mark.parametrize("size", [1, 7, 64, 10**6])
def test_a_body_in_one_message_or_several_gets_the_same_answer(app: tuple[Runtime, TesseraApp], size: int) -> None:
    _, application = app
    scope, body = signed_scope(GCI, "sts")
    sent = _send(application, scope, _in_chunks(body, size))
    start, answer = sent
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = start["headers"]
    assert [name for name, _ in headers[:3]] == [b"content-type", b"content-length", b"x-amzn-requestid"]
    assert headers[0][1] == b"text/xml" and headers[1][1] == str(len(answer["body"])).encode()
    assert headers[2][1].decode() in answer["body"].decode()
    assert answer == {"type": "http.response.body", "body": answer["body"]}
    assert b"<Account>111111111111</Account>" in answer["body"]


def test_a_body_kept_in_a_bytearray_is_read_as_bytes(app: tuple[Runtime, TesseraApp]) -> None:
    _, application = app
    scope, body = signed_scope(GCI, "sts")
    sent = _send(application, scope, [{"type": "http.request", "body": bytearray(body), "more_body": False}])
    assert sent[0]["status"] == 200


@pytest.mark.parametrize("size", [None, 1000, 100])
def test_a_body_over_the_limit_is_refused_whole_or_in_chunks(app: tuple[Runtime, TesseraApp], size: int | None) -> None:
    runtime, application = app
    limit = runtime.settings.max_body_bytes
    scope, _ = signed_scope(GCI, "sts")
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * limit
    messages = [{"type": "http.request", "body": body, "more_body": False}] if size is None else _in_chunks(body, limit // 3 + size)
    sent = _send(application, scope, messages)
    assert sent[0]["status"] == 413
    assert f"Request body exceeds the limit of {limit} bytes".encode() in sent[1]["body"]


def test_a_declared_length_over_the_limit_is_refused_unread(app: tuple[Runtime, TesseraApp]) -> None:
    runtime, application = app
    scope, _ = signed_scope(GCI, "sts")
    scope["headers"] = [*scope["headers"], (b"content-length", str(runtime.settings.max_body_bytes + 1).encode())]
    sent = _send(application, scope, [])  # receive() would fail: nothing is read
    assert sent[0]["status"] == 413


@pytest.mark.parametrize("first", [False, True])
def test_a_client_gone_before_its_body_arrived_gets_nothing(app: tuple[Runtime, TesseraApp], first: bool) -> None:
    _, application = app
    scope, body = signed_scope(GCI, "sts")
    messages: list[MutableMapping[str, Any]] = [{"type": "http.disconnect"}]
    if not first:
        messages.insert(0, {"type": "http.request", "body": body[:5], "more_body": True})
    assert _send(application, scope, messages) == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_exchange_holds_the_request_as_it_arrived(app: tuple[Runtime, TesseraApp], scheme: str) -> None:
    _, application = app
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"Action=GetCallerIdentity&x=%C3%A9",
        "headers": [(b"host", b"h"), (b"User-Agent", b" ua ")],
        "client": ("::ffff:192.0.2.1", 5),
        "scheme": scheme,
    }
    first, second = application._exchange(scope, "GET", "/a b"), application._exchange(scope, "GET", "/a b")
    assert (first.method, first.path, first.raw_query, first.body) == ("GET", "/a%20b", "Action=GetCallerIdentity&x=%C3%A9", b"")
    assert first.headers == {"host": "h", "user-agent": "ua"} and first.source_ip == "192.0.2.1"
    assert first.secure is (scheme == "https") and first.error is None and first.extra_headers == []
    ids = [first.request_id, first.event_id, second.request_id, second.event_id]
    assert len(set(ids)) == 4 and all(len(i) == 36 for i in ids)
    assert first.extra_headers is not second.extra_headers
    del scope["raw_path"]
    assert application._exchange(scope, "GET", "/a b").path == "/a b"
