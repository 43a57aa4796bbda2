"""Unauthenticated resource exhaustion: header floods, too many headers, slow (or
never-finished) requests, and audit events inflated by client text.

The deadlines are exercised with a server started with sub-second ``--header-timeout``
and ``--body-timeout``: the test blocks on the socket until the server closes it (its
own timer), it never sleeps.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable

from attackkit import RawClient
from serverproc import Credentials, TesseraServer

FLOOD = 10 << 20  # 10 MiB of header that never ends


def connect(server: TesseraServer, timeout: float = 30) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (blocks on the server)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def flood(sock: socket.socket, size: int) -> None:
    """Send a request whose header never ends, until the server stops reading."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
    block = b"a" * 65536
    try:
        for _ in range(size // len(block)):
            sock.sendall(block)
    except (BrokenPipeError, ConnectionResetError):
        pass


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def healthy(raw: RawClient) -> bool:
    return raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"})).status == 200


def test_unterminated_header_floods_are_refused_and_memory_stays_flat(raw: RawClient, target: TesseraServer) -> None:
    before = target.rss_kib()
    socks = [connect(target) for _ in range(20)]
    try:
        for sock in socks:
            flood(sock, FLOOD)
        replies = [read_until_closed(sock) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert {status_of(reply) for reply in replies} <= {431, 0}  # 0: reset before the reply was read
    assert any(status_of(reply) == 431 for reply in replies)
    grown = target.rss_kib() - before
    assert grown < 32 * 1024, f"RSS grew by {grown} KiB"  # 20 × 10 MiB took 220 MiB before
    assert healthy(raw)


def test_too_many_header_lines_are_refused(raw: RawClient) -> None:
    reply = raw.request("GET", "/healthz", b"", [(f"X-H{i}", "1") for i in range(200)])
    assert reply.status == 431
    assert healthy(raw)


def test_a_presigned_url_with_a_session_token_and_sdk_headers_still_passes(raw: RawClient, target: TesseraServer) -> None:
    token = target.client("sts").get_session_token()["Credentials"]
    url = raw.presigned_url("sts", {"Action": "GetCallerIdentity"}, creds=Credentials.from_response(token))
    headers = {f"X-Client-Header-{i}": "v" * 200 for i in range(20)}
    reply = raw.get(url, headers=headers)
    assert reply.status == 200, reply.text


def test_half_sent_requests_are_closed_at_the_header_deadline(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(args=["--header-timeout", "0.5"])
    socks = [connect(server) for _ in range(200)]
    try:
        for i, sock in enumerate(socks):
            if i % 2:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # slowloris: never finishes
            # the others connect and send nothing
        replies = [read_until_closed(sock) for sock in socks]  # returns once the server hangs up
    finally:
        for sock in socks:
            sock.close()
    assert all(status_of(reply) in (408, 0) for reply in replies)
    assert all(status_of(reply) == 408 for reply in replies[1::2])
    assert healthy(RawClient(server))


def test_a_body_that_never_arrives_is_timed_out_and_not_processed(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(args=["--body-timeout", "0.5"])
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\nAction=GetCallerIdentity&Version=2011-06-15&")
        reply = read_until_closed(sock)
    assert status_of(reply) == 408
    server.stop()
    assert "GetCallerIdentity" not in audit_bodies(server)  # the partial request was never processed


def audit_bodies(server: TesseraServer) -> str:
    with sqlite3.connect(os.path.join(server.data_dir, "tessera.db")) as db:
        return "\n".join(row[0] for row in db.execute("SELECT body FROM audit_events"))


def test_huge_user_agents_do_not_grow_the_audit_trail(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target()
    client = RawClient(server)
    agent = "A" * (60 << 10)  # as large as the header limit lets through
    for _ in range(50):
        reply = client.request("POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15",
                               [("User-Agent", agent), ("Content-Type", "application/x-www-form-urlencoded")])
        assert reply.status == 403
    server.stop()  # flushes the audit trail
    events = [json.loads(line) for line in audit_bodies(server).splitlines()]
    stored = sum(len(json.dumps(event)) for event in events)
    assert len(events) >= 50
    assert stored < 50 * 4096, stored  # before: 50 × 60 KiB
    assert all(len(event["userAgent"]) <= 1024 for event in events)
    assert any(event.get("omitted") for event in events)


def test_connections_beyond_the_limit_are_refused_at_once(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(args=["--max-connections", "50"])
    idle = [connect(server) for _ in range(50)]
    try:
        with connect(server) as extra:
            assert status_of(read_until_closed(extra)) == 503  # refused without waiting for a deadline
    finally:
        for sock in idle:
            sock.close()
    client = RawClient(server)
    reply = client.send(client.signed("sts", {"Action": "GetCallerIdentity"}))
    for _ in range(100):  # the closed ones are released as the server notices: retry until then
        if reply.status == 200:
            break
        reply = client.send(client.signed("sts", {"Action": "GetCallerIdentity"}))
    assert reply.status == 200
