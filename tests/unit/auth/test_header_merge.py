"""Repeated request headers are merged in one place, ``headers_from_raw`` (values stripped
of surrounding whitespace, repeats joined with ``,`` in arrival order, inner whitespace
kept as sent), for the server's request path as for authentication; the signature's
canonical form then collapses inner runs (SigV4's Trimall:
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), with
botocore's signer as the oracle."""

from __future__ import annotations

import io
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

from tessera.audit.sink import AuditWriter
from tessera.auth import sigv4
from tessera.auth.authenticate import headers_from_raw
from tessera.clock import SystemClock
from tessera.server.app import TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics

RawHeaders = list[tuple[bytes, bytes]]

CASES: list[tuple[RawHeaders, dict[str, str]]] = [
    ([(b"X-A", b"one")], {"x-a": "one"}),
    ([(b"X-A", b"  one  ")], {"x-a": "one"}),
    ([(b"X-A", b"one   two \t three")], {"x-a": "one   two \t three"}),
    ([(b"X-A", b"one"), (b"x-a", b"two")], {"x-a": "one,two"}),
    ([(b"X-A", b" one "), (b"X-a", b"  two  three ")], {"x-a": "one,two  three"}),
    ([(b"x-a", b"two"), (b"x-a", b"one")], {"x-a": "two,one"}),  # arrival order, not sorted
    ([(b"x-a", b"one, two"), (b"x-a", b"three")], {"x-a": "one, two,three"}),  # commas inside kept
    ([(b"x-a", b""), (b"x-a", b"one")], {"x-a": ",one"}),
    ([(b"x-a", b"   "), (b"x-a", b"   ")], {"x-a": ","}),
    ([(b"x-a", b"one"), (b"x-b", b"b"), (b"x-a", b"two"), (b"x-a", b"three")], {"x-a": "one,two,three", "x-b": "b"}),
    ([(b"X-Latin", b"caf\xe9 \xe9t\xe9")], {"x-latin": "café été"}),
]


@pytest.mark.parametrize(("raw", "merged"), CASES)
def test_merge(raw: RawHeaders, merged: dict[str, str]) -> None:
    assert headers_from_raw(raw) == merged
    assert headers_from_raw([(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]) == merged


@pytest.mark.parametrize(("raw", "merged"), CASES)
def test_canonical_headers_agree_with_botocore(raw: RawHeaders, merged: dict[str, str]) -> None:
    sent = HTTPHeaders()
    for name, value in raw:
        sent.add_header(name.decode("latin-1").lower(), value.decode("latin-1"))  # botocore lower-cases first
    names = sorted(merged)
    expected = SigV4Auth(Credentials("AKID", "secret"), "sts", "us-east-1").canonical_headers(sent)
    assert sigv4.canonical_headers(headers_from_raw(raw), names) == expected + "\n"


def test_merging_keeps_the_text_and_canonicalisation_collapses_it() -> None:
    """What policies (``aws:UserAgent``) and the audit trail read is the value as sent;
    stripping each value before joining makes Trimall of the joined value equal to the
    join of each value's Trimall, which is SigV4's rule."""
    assert headers_from_raw([(b"User-Agent", b"ua  with   spaces ")]) == {"user-agent": "ua  with   spaces"}
    for raw, merged in CASES:
        for name, value in merged.items():
            pieces = [v.decode("latin-1") for n, v in raw if n.decode().lower() == name]
            assert sigv4.trimall(value) == ",".join(sigv4.trimall(p) for p in pieces)


def test_the_server_request_path_merges_the_same_way(tmp_path: Path) -> None:
    env = {
        "TESSERA_ACCOUNT_ID": "111111111111",
        "TESSERA_ROOT_ACCESS_KEY_ID": "AKIAROOTROOTROOT0001",
        "TESSERA_ROOT_SECRET_ACCESS_KEY": "r" * 40,
    }
    runtime = open_runtime(str(tmp_path), env=env, clock=SystemClock(), out=io.StringIO())
    app = TesseraApp(runtime, audit=AuditWriter(runtime.store), metrics=ServerMetrics(), access_log_enabled=False)  # never started
    try:
        for raw, merged in CASES:
            scope: MutableMapping[str, Any] = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": raw}
            assert app._exchange(scope, "POST", "/").headers == merged
    finally:
        app.executor.shutdown(wait=True)
        runtime.store.close()
