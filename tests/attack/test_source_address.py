"""Client-controlled source address: ``aws:SourceIp`` follows the real peer unless the
operator named a trusted proxy, and then the address that proxy appended (rightmost)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attackkit import RawClient
from serverproc import Credentials, TesseraServer, free_port


def deny_from(network: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": network}}},
        ],
    }


def list_users(raw: RawClient, creds: Credentials, forwarded: str | None) -> str:
    prepared = raw.signed("iam", {"Action": "ListUsers"}, creds=creds)
    if forwarded is not None:
        prepared.extra_headers.append(("X-Forwarded-For", forwarded))  # unsigned, as any proxy adds it
    reply = raw.send(prepared)
    return "ok" if reply.status == 200 else reply.error_code()


def test_a_forwarded_header_does_not_move_a_loopback_client_out_of_a_deny(raw: RawClient, target: TesseraServer) -> None:
    creds = target.make_user("loopback-denied", deny_from("127.0.0.0/8"))
    assert list_users(raw, creds, None) == "AccessDenied"
    for forged in ("203.0.113.5", "203.0.113.5, 198.51.100.1", "::1, 203.0.113.5"):
        assert list_users(raw, creds, forged) == "AccessDenied", forged


def test_with_a_trusted_proxy_the_address_it_appended_counts_not_the_clients(fresh_target: Callable[..., TesseraServer]) -> None:
    # The test connects from loopback, the default trusted proxy: it plays the proxy. The
    # real client (203.0.113.5) wrote 198.51.100.1 into the header it sent the proxy.
    server = fresh_target(args=["--trusted-proxy-header", "X-Forwarded-For"])
    raw = RawClient(server)
    creds = server.make_user("proxied", deny_from("203.0.113.0/24"))
    assert list_users(raw, creds, "198.51.100.1, 203.0.113.5") == "AccessDenied"
    assert list_users(raw, creds, "203.0.113.5") == "AccessDenied"
    assert list_users(raw, creds, "203.0.113.5, 198.51.100.1") == "ok"  # the proxy saw 198.51.100.1


def test_a_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(args=["--trusted-proxy-header", "X-Forwarded-For", "--trusted-proxies", "10.0.0.0/8"])
    raw = RawClient(server)
    creds = server.make_user("direct", deny_from("127.0.0.0/8"))
    assert list_users(raw, creds, "203.0.113.5") == "AccessDenied"
    assert list_users(raw, creds, "10.0.0.1, 203.0.113.5") == "AccessDenied"


def test_an_ipv4_client_of_a_dual_stack_listener_meets_ipv4_denies(fresh_target: Callable[..., TesseraServer]) -> None:
    # On a dual-stack "::" listener (the one bound beside a --metrics-listen socket is) an
    # IPv4 peer appears as ::ffff:127.0.0.1, which no IPv4 block matches.
    server = fresh_target(args=["--host", "::", "--metrics-listen", f"127.0.0.1:{free_port()}"])
    raw = RawClient(server)
    creds = server.make_user("dual-stack", deny_from("127.0.0.0/8"))
    assert list_users(raw, creds, None) == "AccessDenied"
