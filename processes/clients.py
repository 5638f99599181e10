"""Who a client is, for rate limits, login throttling and the request's log lines: an IPv4
address, or an IPv6 /64.

One subscriber usually gets a whole IPv6 /64 and may rotate through it freely, so counting per
full IPv6 address would bound nobody. REMOTE_ADDR only: behind a proxy, the proxy must set it
(uvicorn --proxy-headers with --forwarded-allow-ips), so a client cannot pick its own bucket by
sending a header.
"""

from __future__ import annotations

import ipaddress

import structlog
from django.http import HttpRequest


def _network(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Network | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return ipaddress.IPv6Network((address, 64), strict=False)
    return address


def client_bucket(ip: str) -> str:
    """A rate-limit key for `ip`: "203.0.113.7", or "2001:db8:1:2::/64"."""
    network = _network(ip)
    return ip[:64] if network is None else str(network)  # not an address: counted as it is


def login_client_address(request: HttpRequest) -> str:
    """django-axes' client address (AXES_CLIENT_IP_CALLABLE): the IPv4 address, or the first
    address of the IPv6 /64 (a plain address, so it fits axes' GenericIPAddressField)."""
    ip = request.META.get("REMOTE_ADDR", "")
    network = _network(ip)
    if network is None:
        return ip
    if isinstance(network, ipaddress.IPv6Network):
        return str(network.network_address)
    return str(network)


def request_log_bind_peer(request: HttpRequest, **kwargs: object) -> None:
    """django-structlog's `bind_extra_request_metadata` receiver: the request's log lines carry
    its peer (`ip`: REMOTE_ADDR), as the checks above count it, never an address from a header."""
    structlog.contextvars.bind_contextvars(ip=request.META.get("REMOTE_ADDR", ""))
