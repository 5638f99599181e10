"""Floods against /links/: unknown tokens write no audit rows, rate-limit buckets are per IPv4
address or IPv6 /64, and the counters expire with their window."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import get_resolver
from django.utils import timezone

from processes.models import AuditEvent
from tests.conftest import log_events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    assert get_resolver().url_patterns
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 1000
    settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN = 1000
    cache.clear()
    yield
    cache.clear()


def test_a_thousand_unknown_tokens_write_no_audit_row(client, caplog):
    tokens = [secrets.token_urlsafe(32) for _ in range(900)] + [f"junk-{i}" for i in range(100)]

    with caplog.at_level(logging.WARNING, logger="processes.actionlinks.views"):
        statuses = {
            client.get(f"/links/{token}/", REMOTE_ADDR=f"10.0.{i // 250}.{i % 250}").status_code
            for i, token in enumerate(tokens)
        }

    assert statuses == {404}
    assert AuditEvent.objects.count() == 0
    logged = log_events(caplog, "actionlink.unknown")
    assert len(logged) == 1000
    assert logged[0]["ip"] == "10.0.0.0"
    assert tokens[0] not in json.dumps(logged)  # a hash prefix, never the token itself


def test_a_client_over_its_limit_with_unknown_tokens_is_logged_not_audited(client, settings, caplog):
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 2

    with caplog.at_level(logging.WARNING, logger="processes.actionlinks.views"):
        statuses = [client.get(f"/links/{secrets.token_urlsafe(32)}/").status_code for _ in range(5)]

    assert statuses == [404, 404, 429, 429, 429]
    assert AuditEvent.objects.count() == 0
    assert len(log_events(caplog, "actionlink.rate_limited")) == 1  # once per window


def test_two_ipv6_addresses_in_one_slash_64_share_a_bucket(client, settings):
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 3

    def get(address: str) -> int:
        return client.get(f"/links/{secrets.token_urlsafe(32)}/", REMOTE_ADDR=address).status_code

    rotating = [get(f"2001:db8:1:2::{i:x}") for i in range(1, 6)]
    neighbour = get("2001:db8:1:3::1")  # the next /64: someone else

    assert rotating == [404, 404, 404, 429, 429]
    assert neighbour == 404


def test_rate_limit_counters_expire_with_their_window(client, settings):
    """In the in-process cache (time travels there; Redis's own TTLs are checked below)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 2
    settings.ACTION_LINK_RATE_LIMIT_WINDOW = 60
    key = "actionlink:rate:ip:198.51.100.1"

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(3):
            client.get(f"/links/{secrets.token_urlsafe(32)}/", REMOTE_ADDR="198.51.100.1")
        assert cache.get(key) == 3

        traveller.shift(timedelta(seconds=61))

        assert cache.get(key) is None
        assert (
            client.get(f"/links/{secrets.token_urlsafe(32)}/", REMOTE_ADDR="198.51.100.1").status_code == 404
        )


@pytest.mark.services
def test_rate_limit_counters_in_redis_carry_a_ttl(client, settings):
    """With Redis, each counter key has the window as its TTL (INCR keeps it)."""
    settings.ACTION_LINK_RATE_LIMIT_WINDOW = 60
    client.get(f"/links/{secrets.token_urlsafe(32)}/", REMOTE_ADDR="2001:db8:9::1")
    client.get(f"/links/{secrets.token_urlsafe(32)}/", REMOTE_ADDR="2001:db8:9::2")

    redis = cache._cache.get_client(write=False)
    keys = [key for key in redis.scan_iter("*actionlink:rate:*")]
    assert keys
    for key in keys:
        assert 0 < redis.ttl(key) <= 60
    assert len([k for k in keys if b":ip:" in k]) == 1  # both addresses: one /64 bucket
