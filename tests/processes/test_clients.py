"""A client, for rate limits and login throttling, is its IPv4 address or its IPv6 /64."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from processes.clients import client_bucket, login_client_address


@pytest.mark.parametrize(
    ("address", "bucket", "login"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64", "2001:db8:1:2::"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64", "2001:db8:1:2::"),
        ("::ffff:203.0.113.7", "203.0.113.7", "203.0.113.7"),
        ("not-an-address", "not-an-address", "not-an-address"),
    ],
)
def test_the_client_is_the_ipv4_address_or_the_ipv6_slash_64(address, bucket, login):
    assert client_bucket(address) == bucket
    assert login_client_address(RequestFactory().get("/", REMOTE_ADDR=address)) == login


def test_a_forwarded_header_does_not_choose_the_client():
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert login_client_address(request) == "203.0.113.7"
