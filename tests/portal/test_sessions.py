"""The session engine (portal/sessions.py): Django's database sessions, read with a statement
written once. It answers as Django's own store does, for the same rows."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_the_portal_uses_it():
    assert settings.SESSION_ENGINE == "portal.sessions"


def test_a_session_written_by_django_s_store_reads_the_same_in_one_statement():
    written = DjangoStore()
    written["_auth_user_id"] = "42"
    written["cart"] = {"items": [1, 2], "note": "ünïcode"}
    written.create()

    with CaptureQueriesContext(connection) as captured:
        read = SessionStore(written.session_key).load()

    assert read == DjangoStore(written.session_key).load()
    assert read["cart"] == {"items": [1, 2], "note": "ünïcode"}
    assert len(captured) == 1


def test_an_expired_session_reads_empty_and_forgets_its_key():
    written = DjangoStore()
    written["_auth_user_id"] = "42"
    written.create()
    Session.objects.filter(session_key=written.session_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )

    store = SessionStore(written.session_key)
    assert store.load() == {}
    assert store.session_key is None  # a new one is made if the request writes the session


def test_an_unknown_key_reads_empty():
    store = SessionStore("x" * 32)

    assert store.load() == {}
    assert store.session_key is None


def test_a_session_it_saves_is_read_back_by_django_s_store():
    store = SessionStore()
    store["theme"] = "dark"
    store.save()

    assert DjangoStore(store.session_key).load() == {"theme": "dark"}
