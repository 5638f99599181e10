"""Fixtures of the API tests: clients with tokens, and a way to call with a bearer token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver

from processes.api.services import api_client_create


@pytest.fixture(autouse=True)
def _urls_loaded():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


@pytest.fixture
def make_client(db):
    def make(name: str = "shop", scopes=("processes:read",), addresses: str = ""):
        return api_client_create(name=name, scopes=list(scopes), allowed_addresses=addresses)

    return make


@pytest.fixture
def reader(make_client):
    """A client with `processes:read`: (client, token)."""
    return make_client("reader", ["processes:read"])


def bearer(token: str, address: str = "127.0.0.1") -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=address)
