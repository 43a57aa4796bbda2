"""SourceAddress: the peer, unless a trusted proxy wrote the configured header; then the
header read from the right."""

from __future__ import annotations

import pytest

from tessera.server.addresses import SourceAddress, is_loopback_host, parse_networks


def test_without_a_configured_header_the_peer_is_the_source() -> None:
    assert SourceAddress().resolve("127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    resolver = SourceAddress("X-Forwarded-For", parse_networks("10.0.0.0/8"))
    assert resolver.resolve("198.51.100.4", "203.0.113.9") == "198.51.100.4"


def test_the_entry_the_trusted_proxy_appended_is_the_source_not_the_leftmost() -> None:
    resolver = SourceAddress("X-Forwarded-For")  # loopback proxies by default
    # the client wrote 10.1.1.1 itself; the proxy appended the address it saw
    assert resolver.resolve("127.0.0.1", "10.1.1.1, 198.51.100.4") == "198.51.100.4"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    resolver = SourceAddress("x-forwarded-for", parse_networks("10.0.0.0/8,127.0.0.1"))
    assert resolver.resolve("127.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2, 10.0.0.3") == "198.51.100.4"


def test_an_entry_that_is_not_an_address_stops_the_walk() -> None:
    resolver = SourceAddress("X-Forwarded-For")
    assert resolver.resolve("127.0.0.1", "198.51.100.4, garbage") == "127.0.0.1"


def test_ports_and_brackets_are_stripped() -> None:
    resolver = SourceAddress("X-Forwarded-For")
    assert resolver.resolve("127.0.0.1", "198.51.100.4:5555") == "198.51.100.4"
    assert resolver.resolve("::1", "[2001:db8::7]:443") == "2001:db8::7"


def test_the_forwarded_header_is_read_from_its_for_parameters() -> None:
    resolver = SourceAddress("Forwarded")
    value = 'for=10.9.9.9;proto=https, for="[2001:db8::cafe]:4711";by=127.0.0.1'
    assert resolver.resolve("127.0.0.1", value) == "2001:db8::cafe"


def test_an_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    resolver = SourceAddress("X-Forwarded-For")
    assert resolver.resolve("::ffff:127.0.0.1", "198.51.100.4") == "198.51.100.4"


def test_bad_networks_are_named() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        parse_networks("10.0.0.0/8, nope")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_an_ipv4_client_of_a_dual_stack_listener_is_an_ipv4_source() -> None:
    assert SourceAddress().resolve("::ffff:203.0.113.9", None) == "203.0.113.9"
    assert SourceAddress("X-Forwarded-For").resolve("127.0.0.1", "::ffff:203.0.113.9") == "203.0.113.9"


def test_addresses_are_returned_in_canonical_form() -> None:
    assert SourceAddress().resolve("2001:DB8:0:0::1", None) == "2001:db8::1"
    assert SourceAddress().resolve("", None) == ""
