"""API clients in the admin: the token is shown once, rotated, revoked; no digest is shown."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from processes.api.models import ApiClient, ApiToken
from processes.api.services import api_token_authenticate

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"ap_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_creating_a_client_shows_its_first_token_once(admin_client, admin_user):
    response = admin_client.post(
        "/admin/processes/apiclient/add/",
        {
            "name": "shop",
            "description": "The fake shop",
            "scopes": ["processes:read", "tasks:act"],
            "allowed_addresses": "10.0.0.0/8\n2001:db8::/32",
            "active": "on",
            "tokens-TOTAL_FORMS": "0",
            "tokens-INITIAL_FORMS": "0",
        },
    )
    client = ApiClient.objects.get(name="shop")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (token,) = TOKEN.findall(response.content.decode())
    assert api_token_authenticate(token, "10.0.0.1") == client
    assert client.scopes == ["processes:read", "tasks:act"]
    assert client.created_by == admin_user
    page = admin_client.get(f"/admin/processes/apiclient/{client.pk}/change/").content.decode()
    assert not TOKEN.search(page)
    assert token.split("_", 2)[2] not in page
    assert ApiToken.objects.get(client=client).digest not in page
    assert ApiToken.objects.get(client=client).prefix in page


def test_a_bad_address_or_scope_is_a_form_error(admin_client):
    response = admin_client.post(
        "/admin/processes/apiclient/add/",
        {
            "name": "shop",
            "scopes": ["processes:read"],
            "allowed_addresses": "not-an-ip",
            "active": "on",
            "tokens-TOTAL_FORMS": "0",
            "tokens-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "not-an-ip is not an IP address or network" in response.content.decode()
    assert not ApiClient.objects.exists()


def test_rotate_shows_the_new_token_and_the_old_one_works_for_the_overlap(admin_client, reader):
    client, old = reader

    response = admin_client.post(
        "/admin/processes/apiclient/", {"action": "rotate_token", ACTION_CHECKBOX_NAME: [client.pk]}
    )

    (new,) = TOKEN.findall(response.content.decode())
    assert new != old
    assert api_token_authenticate(new, "127.0.0.1") == client
    assert api_token_authenticate(old, "127.0.0.1") == client
    assert ApiToken.objects.get(prefix=old.split("_")[1]).expires_at is not None


def test_rotate_refuses_several_clients_at_once(admin_client, make_client):
    a, _ = make_client("a")
    b, _ = make_client("b")

    response = admin_client.post(
        "/admin/processes/apiclient/",
        {"action": "rotate_token", ACTION_CHECKBOX_NAME: [a.pk, b.pk]},
        follow=True,
    )

    assert "one client at a time" in response.content.decode()
    assert ApiToken.objects.count() == 2


def test_revoke_all_tokens(admin_client, reader):
    client, token = reader

    response = admin_client.post(
        "/admin/processes/apiclient/",
        {"action": "revoke_tokens", ACTION_CHECKBOX_NAME: [client.pk]},
        follow=True,
    )

    assert "1 token(s) revoked" in response.content.decode()
    assert api_token_authenticate(token, "127.0.0.1") is None


def test_the_changelist_renders(admin_client, reader):
    assert admin_client.get("/admin/processes/apiclient/").status_code == 200
