"""The address guard for every URL the product calls: http(s) only, public addresses only, resolved once.

The addresses `check_url` returns are the ones to connect to (`egress/http.py` pins them), so a name
that answers differently the second time (DNS rebinding) never reaches an inside address. Messages
never name the address: they are shown to tenants and stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from yarl import URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT = 10.0
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible form; holds :: and ::1 too


class EgressError(Exception):
    """A call out that did not happen or failed; the message is safe to show and store."""


class UnsafeUrl(EgressError, ValueError):
    """Refused by policy: retrying will not help."""


class Unreachable(EgressError):
    """The host did not resolve, connect or answer: worth another try later."""


def embedded_v4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a translator or tunnel would reach for this IPv6 address; [] if none."""
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if any(address in net for net in NAT64) or address in COMPATIBLE:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour:
        return [address.sixtofour]
    if address.teredo:
        return list(address.teredo)  # (server, client): both are reached
    return []


def is_public(address: Address) -> bool:
    """Globally routable unicast; an IPv6 address embedding IPv4 is judged by what it embeds."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_v4(address)
        if inner:
            return all(is_public(v4) for v4 in inner)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def system_resolve(host: str, port: int) -> list[str]:
    """The resolver's addresses for `host`, in its order, each once."""
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(
    host: str, port: int, allow_private: bool, resolve: Resolve = system_resolve
) -> list[str]:
    """Resolve `host` once and return the addresses to connect to; refuse if any of them is not public."""
    try:
        ipaddress.ip_address(host)
        found = [host]  # a literal needs no lookup
    except ValueError:
        try:
            found = await resolve(host, port)
        except (OSError, TimeoutError, UnicodeError) as e:
            raise Unreachable("the host does not resolve") from e
    if not found:
        raise Unreachable("the host does not resolve")
    try:
        addresses = [ipaddress.ip_address(a) for a in found]
    except ValueError as e:
        raise UnsafeUrl("the host resolves to an invalid address") from e
    if not allow_private and not all(is_public(a) for a in addresses):
        raise UnsafeUrl("the host resolves to a non-public address")
    return [str(a) for a in addresses]


@dataclass(frozen=True)
class Target:
    """A checked URL and the addresses it may be reached at."""

    url: URL
    addresses: list[str]

    @property
    def host_header(self) -> str:
        return self.url.host_port_subcomponent or ""

    @property
    def server_hostname(self) -> str | None:
        """The name TLS verifies and sends as SNI: the URL's, not the address connected to."""
        return self.url.raw_host if self.url.scheme == "https" else None

    def at(self, address: str) -> URL:
        return self.url.with_host(address)


def parse_url(url: str) -> URL:
    """The syntactic half: absolute http(s), a host, no user name or password."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as e:
        raise UnsafeUrl("the URL is not valid") from e
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise UnsafeUrl("the URL must be absolute http or https")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UnsafeUrl("the URL must not carry a user name or password")
    return parsed


async def check_url(url: str, allow_private: bool, resolve: Resolve = system_resolve) -> Target:
    """Raise `UnsafeUrl` (refused) or `Unreachable` (no address) saying why, else the addresses to use."""
    parsed = parse_url(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return Target(parsed, await checked_addresses(parsed.raw_host or "", port, allow_private, resolve))
