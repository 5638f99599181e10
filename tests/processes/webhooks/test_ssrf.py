"""The SSRF guard: non-public destinations are refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS."""

from __future__ import annotations

import ipaddress

import pytest

from processes.webhooks import ssrf

REFUSED = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local (cloud metadata)
    "0.0.0.0",  # noqa: S104 - unspecified
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "100.64.0.1",  # shared address space (carrier NAT)
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2001:db8::1",  # documentation
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert ssrf.address_refused(ipaddress.ip_address(address)) != ""


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert ssrf.address_refused(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:8000/",
        "http://2130706433/",  # 127.0.0.1 as one number: the resolver's reading is checked
    ],
)
def test_a_destination_that_resolves_to_a_private_address_is_refused(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ssrf.DestinationRefused, match="WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        ssrf.destination_resolve(url)


def test_the_setting_allows_loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    destination = ssrf.destination_resolve("http://127.0.0.1:8765/hooks?x=1")
    assert destination.addresses == ("127.0.0.1",)
    assert (destination.host, destination.port, destination.path) == ("127.0.0.1", 8765, "/hooks?x=1")


def test_a_public_address_passes_without_the_setting(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    destination = ssrf.destination_resolve("https://93.184.215.14/hooks")
    assert (destination.scheme, destination.port, destination.addresses) == ("https", 443, ("93.184.215.14",))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "https:// or http://"),
        ("javascript:alert(1)", "https:// or http://"),
        ("http:///path", "no host"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://example.com/#frag", "fragment"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://no-such-host.invalid/", "does not resolve"),
    ],
)
def test_malformed_or_unresolvable_urls_are_refused(url, message, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with pytest.raises(ssrf.DestinationRefused, match=message):
        ssrf.destination_resolve(url)
