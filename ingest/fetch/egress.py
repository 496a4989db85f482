"""The egress guard: which addresses mediamon may connect to, checked where it connects.

A host is resolved here, every address it resolves to is checked, and the connection is
opened to one of the checked addresses, so a second DNS answer cannot slip in between the
check and the connection. Loopback, private, link-local (cloud metadata), CGNAT, multicast
and reserved addresses are refused unless the operator allows their network
(`MEDIAMON_EGRESS_ALLOW`); an IPv6 address is judged by the IPv4 address it carries
(mapped, NAT64, 6to4). `HttpClient` (`ingest.fetch.client`) connects through
`GuardedBackend`; the SMTP delivery, which httpx does not make, asks `check_egress`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore

from ingest.errors import PermanentFetchError, TransientFetchError

__all__ = [
    "Address",
    "EgressRefused",
    "GuardedBackend",
    "NameNotResolved",
    "Network",
    "check_egress",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """Raised inside the transport, where the URL is unknown; mapped in `HttpClient`."""


class NameNotResolved(Exception):
    """DNS gave no address; kept apart from httpx's ConnectError so it maps to `dns_error`."""


def _embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour:
            return address.sixtofour
    return address


def _is_permitted(address: Address, allow: Iterable[Network]) -> bool:
    """True if `address` may be connected to: inside `allow`, else globally routable unicast.

    `is_global` is false for loopback, private, link-local (cloud metadata), CGNAT,
    unspecified and reserved ranges; multicast must be excluded on its own.
    """
    inner = _embedded_ipv4(address)
    if any(a in net for net in allow for a in (address, inner)):
        return True
    return inner.is_global and not inner.is_multicast


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that connects only to addresses the egress guard accepted.

    The host is resolved here, every address is checked, and the socket is opened to one of
    the checked addresses, so a second DNS answer can never slip in between check and connect.
    TLS still verifies and sends SNI for the original name: httpcore passes it separately.
    """

    def __init__(self, allow: tuple[Network, ...]) -> None:
        self._allow = allow
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        refused = [a for a in addresses if not _is_permitted(a, self._allow)]
        if refused:
            raise EgressRefused(f"{host} resolves to {refused[0]}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # _resolve never returns an empty list
        raise last_error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def check_egress(
    host: str, port: int, allow: tuple[Network, ...] = (), timeout: float | None = 10.0
) -> list[Address]:
    """The addresses of `host` that a connection may use, under the same guard as `HttpClient`.

    For the few connections httpx does not make (SMTP): connect to one of the returned
    addresses, never to the name again, so DNS cannot answer differently after the check.
    Raises `PermanentFetchError("egress_refused")` or `TransientFetchError("dns_error")`.
    """
    label = f"{host}:{port}"
    try:
        addresses = await _resolve(host, port, timeout)
    except NameNotResolved as exc:
        raise TransientFetchError("dns_error", label, str(exc)) from None
    except httpcore.ConnectTimeout as exc:
        raise TransientFetchError("timeout", label, str(exc)) from None
    refused = [a for a in addresses if not _is_permitted(a, allow)]
    if refused:
        raise PermanentFetchError("egress_refused", label, f"{host} resolves to {refused[0]}")
    return addresses


async def _resolve(host: str, port: int, timeout: float | None) -> list[Address]:
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761 §6.3, as curl and browsers do: never ask DNS. The demo and the tests serve
        # virtual hosts such as derstandard.at.localhost from one local server.
        return [ipaddress.IPv4Address("127.0.0.1")]
    try:
        return [ipaddress.ip_address(name)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(
                name, port, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {name} took more than {timeout}s") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise NameNotResolved(f"{name}: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise NameNotResolved(f"{name}: no address")
    return list(dict.fromkeys(addresses))
