"""The live channel: only logged-in users from an allowed origin get a socket, joined to their own group."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from portal.asgi import application
from processes.consumers import CLOSE_UNAUTHENTICATED

# Consumers run ORM calls on another thread: only committed data is visible there (transaction=True).
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")


@database_sync_to_async
def _session_cookie(username: str) -> bytes:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=username, password="x")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode(), user.pk


def _communicator(*headers):
    return WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"host", b"localhost"), *headers]
    )


async def test_anonymous_sockets_are_closed_with_4401():
    communicator = _communicator(ORIGIN)

    connected, code = await communicator.connect()

    assert connected is False
    assert code == CLOSE_UNAUTHENTICATED


async def test_a_foreign_origin_is_refused():
    cookie, _ = await _session_cookie("olivia")
    communicator = _communicator((b"origin", b"http://evil.example.com"), (b"cookie", cookie))

    connected, _ = await communicator.connect()

    assert connected is False


async def test_a_logged_in_user_is_greeted_and_hears_their_own_group():
    cookie, user_pk = await _session_cookie("olivia")
    communicator = _communicator(ORIGIN, (b"cookie", cookie))

    connected, _ = await communicator.connect()
    assert connected is True
    assert await communicator.receive_json_from() == {"type": "hello", "user": "olivia"}

    await get_channel_layer().group_send(f"user.{user_pk}", {"type": "notify", "last_id": 7})
    assert await communicator.receive_json_from() == {"type": "notify", "last_id": 7}
    await get_channel_layer().group_send(f"user.{user_pk + 1}", {"type": "notify", "last_id": 8})
    assert await communicator.receive_nothing(timeout=0.2) is True
    await communicator.disconnect()
