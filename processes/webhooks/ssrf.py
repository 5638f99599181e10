"""The SSRF guard: a webhook goes to public addresses only, unless WEBHOOK_ALLOW_PRIVATE_NETWORKS.

A destination's host is resolved, and it is refused when *any* of its addresses is loopback,
private, link-local, multicast, reserved, unspecified or otherwise not global, for IPv4 and IPv6
alike. IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, 6to4 `2002::/16`,
Teredo, NAT64 `64:ff9b::/96`) are judged by that IPv4 address too.

The check runs when an endpoint is saved (a form error) and again right before each delivery,
and the delivery then connects to the very address that was checked (`post_pinned`), with the
Host header and the TLS server name (SNI, certificate check) of the URL's host: a DNS answer
that changes between the check and the connection (DNS rebinding) cannot redirect it. Redirects
are never followed (http.client does not follow them; a 3xx is a failed attempt).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """A URL the portal must not call (bad form, unresolvable, or a non-public address)."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = [address.sixtofour]
    if address.teredo:
        embedded.extend(address.teredo)
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in embedded if ip is not None]


def address_refused(address: IPAddress) -> str:
    """Why `address` is not a public one ('' when it is)."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        candidates = [address.ipv4_mapped]  # ::ffff:0:0/96 is "reserved" itself: judge the IPv4
    elif isinstance(address, ipaddress.IPv6Address):
        candidates.extend(_embedded_ipv4(address))
    for ip in candidates:
        for flag in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
            if getattr(ip, f"is_{flag}"):
                return f"{ip} is a {flag.replace('_', '-')} address"
        if not ip.is_global:  # shared (100.64/10), documentation and other special ranges
            return f"{ip} is not a public address"
    return ""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str  # with its query string
    addresses: tuple[str, ...]  # resolved and checked, in the resolver's order


def url_parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL; DestinationRefused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("the URL must start with https:// or http://")
    if not parts.hostname:
        raise DestinationRefused("the URL has no host")
    if parts.username or parts.password:
        raise DestinationRefused("the URL must not carry a user name or password")
    if parts.fragment:
        raise DestinationRefused("the URL must not have a #fragment")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def destination_resolve(url: str, *, allow_private: bool | None = None) -> Destination:
    """The URL's destination with its addresses, each checked; DestinationRefused when the URL is
    malformed, its host does not resolve, or any address is not public (and that is not allowed)."""
    scheme, host, port, path = url_parse(url)
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(f"{host} does not resolve ({exc})") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 zone index is not part of the address
        ip = ipaddress.ip_address(text)
        reason = address_refused(ip)
        if reason and not allow_private:
            raise DestinationRefused(
                f"{host} resolves to {reason}; set WEBHOOK_ALLOW_PRIVATE_NETWORKS to allow it"
            )
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise DestinationRefused(f"{host} has no address")
    return Destination(scheme, host, port, path, tuple(addresses))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; SNI and the certificate check use the URL's host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes  # at most the first KiB, for the delivery log


def post_pinned(
    destination: Destination, *, headers: dict[str, str], body: bytes, timeout: float
) -> Response:
    """POST `body` to the destination's first reachable checked address (the next one only when a
    connection cannot be made). Raises OSError (http.client's errors included) when none answers."""
    connection_class = _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    last_error: OSError | None = None
    for address in destination.addresses:
        connection = connection_class(destination.host, destination.port, address=address, timeout=timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:
                last_error = exc
                continue
            connection.request("POST", destination.path, body=body, headers=headers)
            response = connection.getresponse()
            return Response(response.status, response.read(1024))
        finally:
            connection.close()
    raise last_error or OSError("no address to connect to")
