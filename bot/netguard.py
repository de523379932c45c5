"""Where feeds added from Discord may connect: public addresses only (SSRF guard).

A server admin can type any URL into `/feed add`. Without a guard, that URL could
make the bot read the operator's router page, a cloud metadata service
(169.254.169.254) or a database on localhost, and show the answer in Discord.

The guard is enforced where the connection is made, not only on the URL text:
- a host name is resolved once by `GuardedResolver`, every address it resolves to
  is checked, and aiohttp connects to those checked addresses (no second lookup a
  DNS rebinding attack could answer differently);
- a literal IP in the URL is checked before the request (aiohttp does not resolve it);
- redirects are followed by hand by the fetcher, each hop checked the same way;
- IPv4-mapped (::ffff:127.0.0.1), IPv4-compatible, 6to4 and NAT64 forms are unwrapped
  and judged by the IPv4 address inside.

`http.allow_private_addresses = true` turns the guard off; `http.allowed_private_networks`
lets an operator allow a few networks (an intranet feed server) and nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A connection the guard will not make. `reason` is worded for the admin who added the feed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(address.packed[-4:])
    if address.packed[:12] == bytes(12) and int(address) > 1:  # deprecated ::a.b.c.d
        return ipaddress.IPv4Address(address.packed[-4:])
    return None


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, private, link-local, CGNAT,
    multicast, reserved or unspecified, in any of its IPv6 disguises."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not address.is_multicast


class AddressPolicy:
    """Which addresses feeds added from Discord may reach."""

    def __init__(self, *, allow_private: bool = False, allowed_networks: Iterable[str] = ()):
        self.allow_private = allow_private
        self.allowed_networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        )

    def allows(self, address: IPAddress) -> bool:
        if self.allow_private or is_public(address):
            return True
        candidates = [address] + ([inner] if (inner := embedded_ipv4(address)) else [])
        return any(c in net for c in candidates for net in self.allowed_networks
                   if c.version == net.version)

    def check(self, host: str, address: IPAddress) -> None:
        if not self.allows(address):
            what = host if host == str(address) else f"{host} resolves to {address}, which"
            raise AddressRefused(
                f"refused: {what} is a private or local address (loopback, private network or "
                "link-local); feeds added from Discord may only reach the public internet "
                "(the bot's operator can allow it with http.allow_private_addresses)"
            )


def literal_address(host: str) -> IPAddress | None:
    """The IP address a URL's host is written as, if it is one (brackets and zone dropped)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves once, refuses if any answer is not allowed, and hands aiohttp only checked addresses.

    Refusing when *any* answer is private (not only when all are) stops a name that answers
    both a public and a private address from being used to reach the private one.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            results = await self.inner.resolve(host, port, family)
        except OSError as error:
            raise AddressRefused(f"cannot resolve {host}: {error.strerror or error}") from None
        if not results:
            raise AddressRefused(f"cannot resolve {host}: no addresses")
        for result in results:
            address = literal_address(str(result["host"]))
            if address is None:
                raise AddressRefused(f"cannot resolve {host}: odd address {result['host']!r}")
            self.policy.check(host, address)
        return results

    async def close(self) -> None:
        await self.inner.close()


def guarded_connector(policy: AddressPolicy, **options: Any) -> aiohttp.TCPConnector:
    """A connector that only ever connects to addresses the policy allows."""
    return aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False, **options)


def policy_from(allow_private: bool, allowed_networks: Sequence[str]) -> AddressPolicy:
    return AddressPolicy(allow_private=allow_private, allowed_networks=allowed_networks)
