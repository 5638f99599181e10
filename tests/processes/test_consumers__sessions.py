"""The live channel ends with the session: logout closes a session's sockets at once, and the poll
closes sockets whose session was deleted, expired or no longer logs an active user in."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from portal.asgi import application
from processes.consumers import CLOSE_SESSION_ENDED
from processes.notifications.channels import session_channel

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")
PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def _no_poll(settings):
    """Closing on logout must not wait for the poll; the poll's own tests turn it on."""
    settings.NOTIFICATIONS_POLL_SECONDS = 0


@database_sync_to_async
def _login(username: str = "olivia") -> tuple[Client, object]:
    """A browser logged in through the real login form (a user created on first use). The form,
    not `Client.login`: login throttling (django-axes) needs the request to authenticate."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_password(PASSWORD)
        user.save()
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client, user


async def _open(client: Client) -> WebsocketCommunicator:
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"host", b"localhost"), ORIGIN, (b"cookie", cookie.encode())],
    )
    connected, _ = await communicator.connect()
    assert connected is True
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def _closed_with(communicator: WebsocketCommunicator, timeout: float = 2) -> int:
    """The close code the server sent; then the browser's side of the close, as a browser does:
    the disconnect ends the consumer before the test's event loop closes (a consumer left
    running, cancelled with the loop, hung that teardown in CI; see test_consumers.py)."""
    message = await communicator.receive_output(timeout=timeout)
    assert message["type"] == "websocket.close"
    await communicator.disconnect()
    return message["code"]


async def test_a_session_channel_does_not_carry_the_session_key():
    name = session_channel("abcdefghijklmnopqrstuvwxyz012345")

    assert name.startswith("session.")
    assert "abcdefghijklmnop" not in name
    assert len(name) == len("session.") + 32


async def test_logging_out_closes_that_sessions_sockets_at_once_and_leaves_other_sessions_open():
    laptop, _ = await _login()
    phone, _ = await _login()
    laptop_tab1, laptop_tab2, phone_tab = await _open(laptop), await _open(laptop), await _open(phone)

    response = await database_sync_to_async(laptop.post)("/accounts/logout/")

    assert response.status_code in (200, 302)
    assert await _closed_with(laptop_tab1) == CLOSE_SESSION_ENDED
    assert await _closed_with(laptop_tab2) == CLOSE_SESSION_ENDED
    assert await phone_tab.receive_nothing(timeout=0.3) is True
    await phone_tab.disconnect()


async def test_a_deactivated_user_loses_every_socket_at_once():
    laptop, user = await _login()
    phone, _ = await _login()
    sockets = [await _open(laptop), await _open(phone)]
    user.is_active = False

    await database_sync_to_async(user.save)(update_fields=["is_active"])

    for socket in sockets:
        assert await _closed_with(socket) == CLOSE_SESSION_ENDED


async def test_a_deleted_session_closes_its_socket_at_the_next_poll(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0.2
    client, _ = await _login()
    socket = await _open(client)
    assert await socket.receive_nothing(timeout=0.5) is True  # polls pass while the session lives

    await Session.objects.filter(session_key=client.session.session_key).adelete()

    assert await _closed_with(socket) == CLOSE_SESSION_ENDED


async def test_a_user_deactivated_behind_the_signals_back_is_closed_by_the_poll(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0.2
    client, user = await _login()
    socket = await _open(client)

    await get_user_model().objects.filter(pk=user.pk).aupdate(is_active=False)  # no signal

    assert await _closed_with(socket) == CLOSE_SESSION_ENDED


async def test_a_password_changed_elsewhere_closes_the_other_sessions_sockets_at_the_next_poll(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0.2
    client, user = await _login()
    socket = await _open(client)

    @database_sync_to_async
    def change_password() -> None:
        user.set_password("another long enough password")
        user.save()

    await change_password()

    assert await _closed_with(socket) == CLOSE_SESSION_ENDED
