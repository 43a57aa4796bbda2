"""The address a request came from (``aws:SourceIp``, the audit trail, the access log).

By default it is the peer of the TCP connection, whatever the request's headers say.
Behind a reverse proxy the operator names the header that proxy writes
(``--trusted-proxy-header X-Forwarded-For``) and the proxies' addresses
(``--trusted-proxies CIDR,...``, loopback by default). The header is then read only when
the connection comes from a trusted proxy, and from its right-hand end: each proxy
appends the address it received the request from, so the rightmost entries are the
ones trusted proxies wrote and everything to their left is what the client (or an
untrusted hop) chose. The source is the first address, walking right to left from the
peer, that is not a trusted proxy — what AWS's load balancers document for
``X-Forwarded-For`` ("the last IP address is the one that connected to the load
balancer": https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html)
and how nginx's ``real_ip_recursive`` reads a chain.

The ``Forwarded`` header (RFC 7239) is read the same way from its ``for=`` parameters.
An entry that is not an IP address stops the walk at the last trusted proxy.

Addresses are returned in canonical text form, and an IPv4 client reaching a dual-stack
(``--host ::``) listener as ``::ffff:192.0.2.1`` is ``192.0.2.1``: otherwise it would
match no IPv4 block of an ``aws:SourceIp`` condition, and a Deny on its network would
not apply.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from tessera.auth.memo import memoised

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
MAX_HOPS = 32  # entries read from the right of a forwarded header; more is a malformed chain


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` → networks (a bare address is a /32 or /128).

    Raises ``ValueError`` naming the entry that is not an address or network."""
    networks: list[Network] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"'{item}' is not an IP address or CIDR block") from None
    return tuple(networks)


class SourceAddress:
    """Finds a request's source address from its peer and (when configured) a header."""

    def __init__(self, header: str | None = None, trusted: Sequence[Network] = LOOPBACK) -> None:
        self.header = header.lower() if header else None
        self.trusted = tuple(trusted)

    def resolve(self, peer: str, header_value: str | None) -> str:
        if self.header is None or header_value is None:
            return _text(peer)  # every request without a forwarded header: one memo lookup
        peer_address = _address(peer)
        source = _text(peer)
        if not self._is_trusted(peer_address):
            return source
        entries = _forwarded_for(header_value) if self.header == "forwarded" else header_value.split(",")
        for raw in reversed(entries[-MAX_HOPS:]):
            address = _address(_strip_port(raw.strip()))
            if address is None:
                break
            source = str(address)
            if not self._is_trusted(address):
                break
        return source

    def _is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted)


@memoised(4096)
def _text(peer: str) -> str:
    """``peer``'s address in canonical text form, or ``peer`` itself if it is none
    (memoised, as ``_address`` is: formatting an address costs about as much as parsing it)."""
    address = _address(peer)
    return str(address) if address is not None else peer


@memoised(4096)  # every request of a client names the same peer (ipaddress parses it in ~5 µs)
def _address(text: str) -> Address | None:
    """The address in ``text`` (IPv4-mapped IPv6 as IPv4), or ``None``."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _strip_port(entry: str) -> str:
    """``[2001:db8::1]:4711`` → ``2001:db8::1``; ``192.0.2.1:80`` → ``192.0.2.1``."""
    entry = entry.strip('"')
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` values of a ``Forwarded`` header, in order."""
    found: list[str] = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, item = pair.strip().partition("=")
            if name.strip().lower() == "for":
                found.append(item.strip())
    return found


def is_loopback_host(host: str) -> bool:
    """Whether a ``--host`` value listens on loopback only."""
    if host == "localhost":
        return True
    address = _address(host.strip("[]"))
    return address is not None and address.is_loopback


def describe(networks: Iterable[Network]) -> str:
    return ", ".join(str(network) for network in networks)
