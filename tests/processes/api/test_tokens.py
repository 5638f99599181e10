"""API tokens: made once, stored hashed, rotated with an overlap, revoked, bound to addresses."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from processes.api.models import ApiClient, ApiToken
from processes.api.services import (
    api_client_create,
    api_token_authenticate,
    api_token_revoke,
    api_token_rotate,
)
from processes.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_token_is_ap_prefix_secret_and_only_its_digest_is_stored(reader):
    client, token = reader
    kind, prefix, secret = token.split("_", 2)
    row = ApiToken.objects.get(client=client)

    assert kind == "ap"
    assert row.prefix == prefix
    assert len(secret) >= 43  # 32 bytes, base64url
    assert row.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    assert api_token_authenticate(token, "127.0.0.1") == client


def test_unknown_malformed_or_wrong_secret_tokens_are_refused(reader):
    _client, token = reader
    prefix = token.split("_")[1]

    assert api_token_authenticate("", "127.0.0.1") is None
    assert api_token_authenticate("nonsense", "127.0.0.1") is None
    assert api_token_authenticate(f"ap_{prefix}_wrong", "127.0.0.1") is None
    assert api_token_authenticate("ap_000000000000_" + "x" * 43, "127.0.0.1") is None
    assert api_token_authenticate(token + "x", "127.0.0.1") is None


def test_rotation_keeps_the_old_token_until_the_overlap_ends(reader):
    client, old = reader
    new = api_token_rotate(client=client, overlap=timedelta(hours=1))

    assert new != old
    assert api_token_authenticate(old, "127.0.0.1") == client
    assert api_token_authenticate(new, "127.0.0.1") == client
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1), tick=False):
        assert api_token_authenticate(old, "127.0.0.1") is None
        assert api_token_authenticate(new, "127.0.0.1") == client
    assert AuditEvent.objects.filter(action="api.token_rotated").count() == 1


def test_revoking_a_client_stops_every_token_at_once(reader):
    client, old = reader
    new = api_token_rotate(client=client)

    assert api_token_revoke(target=client) == 2
    assert api_token_authenticate(old, "127.0.0.1") is None
    assert api_token_authenticate(new, "127.0.0.1") is None
    assert AuditEvent.objects.filter(action="api.token_revoked").exists()


def test_revoking_one_token_leaves_the_others(reader):
    client, old = reader
    new = api_token_rotate(client=client)

    api_token_revoke(target=ApiToken.objects.get(prefix=old.split("_")[1]))

    assert api_token_authenticate(old, "127.0.0.1") is None
    assert api_token_authenticate(new, "127.0.0.1") == client


def test_an_inactive_client_is_refused(reader):
    client, token = reader
    ApiClient.objects.filter(pk=client.pk).update(active=False)

    assert api_token_authenticate(token, "127.0.0.1") is None


@pytest.mark.parametrize(
    ("allowed", "address", "ok"),
    [
        ("10.0.0.0/8", "10.1.2.3", True),
        ("10.0.0.0/8", "192.168.0.1", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7", "203.0.113.8", False),
        ("2001:db8::/32", "2001:db8::1", True),
        ("2001:db8::/32", "2001:db9::1", False),
        ("10.0.0.0/8\n2001:db8::/32", "::ffff:10.0.0.1", True),  # IPv4-mapped IPv6
        ("10.0.0.0/8", "", False),
        ("", "198.51.100.1", True),
    ],
)
def test_the_address_allow_list(make_client, allowed, address, ok):
    client, token = make_client(addresses=allowed)

    assert (api_token_authenticate(token, address) == client) is ok


def test_last_used_is_written_at_most_once_a_minute(reader):
    client, token = reader
    api_token_authenticate(token, "127.0.0.1")
    first = ApiToken.objects.get(client=client).last_used_at

    api_token_authenticate(token, "127.0.0.1")
    assert ApiToken.objects.get(client=client).last_used_at == first
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        api_token_authenticate(token, "127.0.0.1")
        assert ApiToken.objects.get(client=client).last_used_at > first


@pytest.mark.parametrize(
    ("scopes", "addresses", "message"),
    [
        (["processes:write"], "", "Unknown scope processes:write"),
        (["processes:read"], "10.0.0.0/33", "is not an IP address or network"),
        (["processes:read"], "example.com", "is not an IP address or network"),
    ],
)
def test_bad_scopes_and_addresses_are_refused(db, scopes, addresses, message):
    with pytest.raises(ValidationError, match=message):
        api_client_create(name="bad", scopes=scopes, allowed_addresses=addresses)
    assert not ApiClient.objects.exists()


def test_creation_is_audited_without_the_token(reader):
    _client, token = reader
    event = AuditEvent.objects.get(action="api.client_created")

    assert event.details == {"client": "reader", "scopes": ["processes:read"]}
    assert token.split("_", 2)[2] not in str(event.details)
