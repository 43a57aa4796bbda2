"""Unauthenticated resource exhaustion: header floods, too many headers, slow (or
never-finished) requests, and audit events inflated by client text.

The deadlines are exercised with a server started with sub-second ``--header-timeout``
and ``--body-timeout``: the test blocks on the socket until the server closes it (its
own timer), it never sleeps.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import sqlite3
import ssl
from collections.abc import Callable
from pathlib import Path

from attackkit import RawClient
from serverproc import Credentials, TesseraServer, new_data_dir
from test_tls import LocalCA

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


def served_once_released(server: TesseraServer) -> bool:
    """Whether a new client is served once the server has noticed closed or dropped
    connections (it releases their slots as it notices: retry until then)."""
    client = RawClient(server)
    return any(healthy(client) for _ in range(100))


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
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000\r\n\r\nAction=GetCallerIdentity&Version=2011-06-15&"
        )
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
        reply = client.request(
            "POST",
            "/",
            b"Action=GetCallerIdentity&Version=2011-06-15",
            [("User-Agent", agent), ("Content-Type", "application/x-www-form-urlencoded")],
        )
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
    assert served_once_released(server)


# -- chunked trailers, declared bodies, clients that do not read, TLS handshakes ----------------


def chunked(head: bytes, body: bytes, trailer: bytes = b"") -> bytes:
    """A chunked request: ``head`` (request line and headers, without the blank line),
    ``body`` in one chunk, then the last chunk and ``trailer`` (header lines)."""
    return head + b"\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n" + trailer + b"\r\n"


def request_head(server: TesseraServer, headers: dict[str, str]) -> bytes:
    """``POST /`` with the signed ``headers`` (and the Host they were signed for), no Content-Length."""
    lines = [b"POST / HTTP/1.1", b"Host: 127.0.0.1:%d" % server.port]
    lines += [f"{name}: {value}".encode() for name, value in headers.items() if name.lower() != "content-length"]
    return b"\r\n".join(lines)


def test_a_trailer_flood_is_refused_and_memory_stays_flat(raw: RawClient, target: TesseraServer) -> None:
    before = target.rss_kib()
    line = b"X-Trailer: " + b"t" * 53 + b"\r\n"  # 66 bytes
    block = line * 1000
    with connect(target) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n")
        try:
            for _ in range((64 << 20) // len(block)):  # 64 MiB of trailer lines
                sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_until_closed(sock)
    assert status_of(reply) in (413, 0)  # 0: reset before the reply was read
    grown = target.rss_kib() - before
    assert grown < 32 * 1024, f"RSS grew by {grown} KiB"  # the trailers were kept as headers before
    assert healthy(raw)


def test_a_chunked_request_without_trailers_is_served(raw: RawClient) -> None:
    prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
    head = request_head(raw.server, prepared.headers) + b"\r\nConnection: close"
    with connect(raw.server) as sock:
        sock.sendall(chunked(head, prepared.body))
        reply = read_until_closed(sock)
    assert status_of(reply) == 200, reply


def test_a_trailer_x_forwarded_for_does_not_choose_the_source_address(fresh_target: Callable[..., TesseraServer]) -> None:
    # Behind a trusted proxy (the test plays it, from loopback) that forwards trailers, a
    # client must not append its own hop to X-Forwarded-For after the body.
    server = fresh_target(args=["--trusted-proxy-header", "X-Forwarded-For"])
    raw = RawClient(server)
    only_from = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:ListUsers",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.66/32"}},
            }
        ],
    }
    creds = server.make_user("trailer-forwarded", only_from)

    def list_users(trailer: bytes) -> bytes:
        prepared = raw.signed("iam", {"Action": "ListUsers"}, creds=creds)
        head = request_head(server, prepared.headers) + b"\r\nX-Forwarded-For: 203.0.113.5\r\nConnection: close"
        with connect(server) as sock:
            sock.sendall(chunked(head, prepared.body, trailer))
            return read_until_closed(sock)

    assert b"<Code>AccessDenied</Code>" in list_users(b"")
    reply = list_users(b"X-Forwarded-For: 198.51.100.66\r\n")
    assert status_of(reply) == 403 and b"<Code>AccessDenied</Code>" in reply, reply


def test_a_body_declared_over_the_limit_is_refused_without_waiting_for_it(raw: RawClient, target: TesseraServer) -> None:
    with connect(target) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\nAction=GetCallerIdentity&" % (64 << 20)
        )
        reply = read_until_closed(sock)  # the rest of the body is never sent
    assert status_of(reply) == 413 and b"<Code>RequestEntityTooLarge</Code>" in reply, reply
    assert healthy(raw)


def wait_until_dropped(sock: socket.socket, timeout: float = 60) -> bool:
    """Block until the server closes or resets ``sock``, without reading what it sent."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(timeout * 1000))


def test_clients_that_never_read_their_answers_do_not_keep_their_connections(
    fresh_target: Callable[..., TesseraServer],
) -> None:
    server = fresh_target(args=["--max-connections", "3", "--body-timeout", "1"])
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 50
    held = []
    try:
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.setblocking(False)
            try:
                for _ in range(4000):  # pipeline until the server stops taking them, read nothing
                    sock.send(request)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            held.append(sock)
        assert all(wait_until_dropped(sock) for sock in held)  # before: held for ever
    finally:
        for sock in held:
            sock.close()
    assert served_once_released(server)


def test_a_tls_client_that_never_says_hello_is_dropped_at_the_header_deadline(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    cert_file, key_file, _ = ca.issue("localhost")
    data_dir = new_data_dir()
    server = TesseraServer(
        data_dir=data_dir,
        ca_file=str(ca.ca_file),
        extra_args=["--tls-cert", str(cert_file), "--tls-key", str(key_file), "--header-timeout", "0.5"],
    )
    server.start()
    try:
        silent = [connect(server, timeout=30) for _ in range(20)]  # before: kept for uvloop's 60 s
        try:
            for sock in silent:
                assert read_until_closed(sock) == b""  # returns once the server hangs up
        finally:
            for sock in silent:
                sock.close()
        context = ssl.create_default_context(cafile=str(ca.ca_file))
        with connect(server) as sock, context.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status_of(read_until_closed(tls)) == 200  # a real client still gets through
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
