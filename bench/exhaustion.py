"""``python -m bench.exhaustion``: the unauthenticated exhaustion attacks against a real
``tessera serve`` (SQLite), with the numbers the limits are judged by.

1. RSS before and after 20 connections each sending 10 MiB of header that never ends.
2. Open connections while 500 connections sit half-sent (and after the header deadline).
3. Audit trail bytes after 200 unauthenticated requests with 512 KiB User-Agents, and
   after 200 with 60 KiB ones (the largest the header limit lets through).

Options: ``--header-timeout S`` (passed to the server when given), ``--wait S`` (how long
to wait for the server to close half-sent connections, default 30).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import sys
import time
from collections.abc import Sequence

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import contextlib

from serverproc import TesseraServer, new_data_dir


def open_sockets(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def drain(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def audit_bytes(data_dir: str) -> tuple[int, int]:
    with sqlite3.connect(os.path.join(data_dir, "tessera.db")) as db:
        count, size = db.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM audit_events").fetchone()
    return int(count), int(size)


def header_flood(server: TesseraServer, pid: int, wait: float) -> None:
    before = server.rss_kib() / 1024
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=wait) for _ in range(20)]
    block = b"a" * 65536
    sent = 0
    for sock in socks:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        try:
            for _ in range((10 << 20) // len(block)):
                sock.sendall(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
    deadline = time.monotonic() + wait
    statuses = []
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        statuses.append(drain(sock)[:12].decode(errors="replace") or "no reply")
    after = server.rss_kib() / 1024
    for sock in socks:
        sock.close()
    print(
        f"header flood: RSS {before:.1f} MiB -> {after:.1f} MiB (+{after - before:.1f}); "
        f"server accepted {sent / 2**20:.1f} MiB of the 200 MiB offered; replies {sorted(set(statuses))}"
    )


def half_sent(server: TesseraServer, pid: int, wait: float) -> None:
    baseline = open_sockets(pid)
    before = server.rss_kib() / 1024
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=wait) for _ in range(500)]
    for i, sock in enumerate(socks):
        if i % 2:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    time.sleep(0.5)  # let the server accept them all before counting
    during = open_sockets(pid) - baseline
    during_rss = server.rss_kib() / 1024
    started = time.monotonic()
    deadline = started + wait
    replies = []
    for sock in socks:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        replies.append(drain(sock)[:12])
    closed_after = time.monotonic() - started
    remaining = open_sockets(pid) - baseline
    for sock in socks:
        sock.close()
    print(
        f"500 half-sent connections: RSS {before:.1f} -> {during_rss:.1f} MiB, {during} open at the server; "
        f"after {closed_after + 0.5:.1f} s {remaining} still open "
        f"({sum(r.startswith(b'HTTP/1.1 408') for r in replies)} answered 408)"
    )


def user_agents(server: TesseraServer, data_dir: str) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    results = {}
    for size in (512 << 10, 60 << 10):
        statuses: dict[int, int] = {}
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                head = (
                    f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    f"User-Agent: {'A' * size}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(head.encode() + body)
                reply = drain(sock)
                code = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1") else 0
                statuses[code] = statuses.get(code, 0) + 1
        results[size] = statuses
    server.stop()
    count, size = audit_bytes(data_dir)
    print(
        f"User-Agent flood: 200 × 512 KiB -> {results[512 << 10]}, 200 × 60 KiB -> {results[60 << 10]}; "
        f"audit trail holds {count} events, {size / 1024:.1f} KiB in all ({size / max(count, 1):.0f} B per event)"
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exhaustion")
    parser.add_argument("--header-timeout")
    parser.add_argument("--wait", type=float, default=30.0)
    args = parser.parse_args(argv)
    data_dir = new_data_dir()
    extra = ["--header-timeout", args.header_timeout] if args.header_timeout else []
    server = TesseraServer(data_dir=data_dir, extra_args=[*extra, "--no-access-log"])
    try:
        server.start()
        assert server.process is not None
        pid = server.process.pid
        server.client("sts").get_caller_identity()
        header_flood(server, pid, args.wait)
        half_sent(server, pid, args.wait)
        user_agents(server, data_dir)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
