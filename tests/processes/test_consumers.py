"""The live channel: who gets a socket, what it catches up on, in which order, and what it may hear."""

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
from processes.models import Notification, NotificationKind
from processes.services import task_claim
from tests.conftest import task_of

# Consumers run ORM calls on another thread: only committed data is visible there (transaction=True).
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def _no_poll(settings):
    """Deliveries here come from wake-ups; the poll has its own test."""
    settings.NOTIFICATIONS_POLL_SECONDS = 0


@database_sync_to_async
def _cookie(user) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


@database_sync_to_async
def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password="x")


async def _connect(user, query: str = "", origin=ORIGIN, extra: tuple = ()) -> WebsocketCommunicator:
    path = "/ws/notifications/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(
        application,
        path,
        headers=[(b"host", b"localhost"), origin, (b"cookie", await _cookie(user)), *extra],
    )
    connected, _ = await communicator.connect()
    assert connected is True
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    assert hello["user"] == user.get_username()
    return communicator


@database_sync_to_async
def _notify(user, title: str, process=None) -> int:
    """A notification row written by the real service, committed, with its wake-up sent."""
    from django.db import transaction

    from processes.notifications.services import notifications_record

    with transaction.atomic():
        (row,) = notifications_record(
            user_ids=[user.pk], kind=NotificationKind.TASK_REMINDER, title=title, process=process
        )
    return row.pk


async def _received(communicator, count: int) -> list[dict]:
    return [await communicator.receive_json_from(timeout=2) for _ in range(count)]


async def test_anonymous_sockets_are_closed_with_4401():
    communicator = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"host", b"localhost"), ORIGIN]
    )

    connected, code = await communicator.connect()

    assert connected is False
    assert code == CLOSE_UNAUTHENTICATED
    # The browser's side of the close: it ends the refusing consumer before this test's event loop
    # closes (left running, cancelled with the loop, a refused socket's teardown hung in CI under load).
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused():
    user = await _user("olivia")
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"http://evil.example.com"),
            (b"cookie", await _cookie(user)),
        ],
    )

    connected, _ = await communicator.connect()

    assert connected is False
    await communicator.disconnect()  # the browser's side of the close, as above


async def test_a_socket_without_a_last_id_starts_from_now_and_hears_new_notifications():
    user = await _user("olivia")
    await _notify(user, "old")
    communicator = await _connect(user)

    new_id = await _notify(user, "new")

    (message,) = await _received(communicator, 1)
    assert (message["type"], message["id"], message["title"], message["toast"]) == (
        "notification",
        new_id,
        "new",
        True,
    )
    assert message["unread"] == 2
    assert await communicator.receive_nothing(timeout=0.2) is True
    await communicator.disconnect()


async def test_reconnecting_with_the_last_id_seen_catches_up_in_order():
    user = await _user("olivia")
    ids = [await _notify(user, f"n{i}") for i in range(5)]

    communicator = await _connect(user, f"after={ids[1]}")

    assert [m["id"] for m in await _received(communicator, 3)] == ids[2:]
    assert await communicator.receive_nothing(timeout=0.2) is True
    await communicator.disconnect()


async def test_repeated_wake_ups_never_send_a_notification_twice():
    user = await _user("olivia")
    communicator = await _connect(user)
    ids = [await _notify(user, f"n{i}") for i in range(3)]
    for _ in range(3):
        await get_channel_layer().group_send(f"user.{user.pk}", {"type": "live.wake"})

    assert [m["id"] for m in await _received(communicator, 3)] == ids
    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_each_user_hears_only_their_own_notifications():
    olivia, oscar = await _user("olivia"), await _user("oscar")
    communicator = await _connect(olivia)

    await _notify(oscar, "for oscar")

    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_a_notification_about_a_process_the_user_may_not_see_is_never_sent(submit_request, olivia):
    process = await database_sync_to_async(submit_request)()
    nobody = await _user("nobody")  # no group, no view permission
    communicator = await _connect(nobody)

    await _notify(nobody, "about a process nobody may not see", process=process)
    visible = await _notify(nobody, "about nothing in particular")

    (message,) = await _received(communicator, 1)
    assert message["id"] == visible
    await communicator.disconnect()


async def test_queue_notifications_reach_the_queue_and_not_the_others(submit_request, olivia, frank):
    olivia_socket, frank_socket = await _connect(olivia), await _connect(frank)

    await database_sync_to_async(submit_request)(title="Standing desk")

    (message,) = await _received(olivia_socket, 1)
    assert message["kind"] == NotificationKind.TASK_QUEUED
    assert message["body"] == "Standing desk (640.00 EUR)"
    assert await frank_socket.receive_nothing(timeout=0.3) is True  # finance cannot approve
    await olivia_socket.disconnect()
    await frank_socket.disconnect()


async def test_the_embedded_mode_polls_what_the_layer_never_announced(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0.1
    user = await _user("olivia")
    communicator = await _connect(user)

    # Written as a worker would be without a shared layer: the row, and no wake-up reaches us.
    row = await Notification.objects.acreate(user=user, kind=NotificationKind.TASK_REMINDER, title="polled")

    (message,) = await _received(communicator, 1)
    assert message["id"] == row.pk
    await communicator.disconnect()


async def test_a_deactivated_user_is_disconnected():
    user = await _user("olivia")
    communicator = await _connect(user)
    user.is_active = False
    await database_sync_to_async(user.save)(update_fields=["is_active"])

    await get_channel_layer().group_send(f"user.{user.pk}", {"type": "live.wake"})

    assert (await communicator.receive_output(timeout=1))["type"] == "websocket.close"
    # As a browser would: the disconnect lets the consumer leave the relay before this test's
    # event loop closes (left running, its teardown hung in two CI runs).
    await communicator.disconnect()


# ---------------------------------------------------------------- live pages (turbo streams)


async def _watch(communicator, location: str) -> None:
    await communicator.send_json_to({"type": "watch", "location": location})


async def _streams(communicator, timeout: float = 2) -> dict:
    """The next stream fragment (skipping notifications)."""
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == "stream":
            return message


async def test_the_queue_page_shows_a_new_task_and_loses_one_claimed_elsewhere(submit_request, olivia, oscar):
    olivia_socket = await _connect(olivia)
    await _watch(olivia_socket, "/tasks/queue/")
    assert "Standing desk" not in (await _streams(olivia_socket))["html"]  # the state it starts from

    process = await database_sync_to_async(submit_request)(title="Standing desk")
    stream = await _streams(olivia_socket)
    assert stream["html"].startswith('<turbo-stream action="update" target="live-count">')
    assert "Standing desk" in stream["html"]
    assert stream["location"] == "/tasks/queue/"  # a tab that has moved on drops it (live.js)

    approve = await database_sync_to_async(task_of)(process, "approve")
    await database_sync_to_async(task_claim)(task=approve, user=oscar)
    stream = await _streams(olivia_socket)
    assert "Standing desk" not in stream["html"]
    await olivia_socket.disconnect()


async def test_a_page_in_the_browser_s_language_stays_in_it_when_it_updates(submit_request, olivia):
    """A user who chose no language sees the browser's: the live fragments must be rendered in
    it too, not in the site's default (they were English inside a German page)."""
    await database_sync_to_async(submit_request)(title="Standing desk")
    communicator = await _connect(olivia, extra=((b"accept-language", b"de-DE,de;q=0.9"),))

    await _watch(communicator, "/tasks/queue/")

    html = (await _streams(communicator))["html"]
    assert "Standing desk" in html
    assert "Übernehmen" in html  # the claim button, in German
    await communicator.disconnect()


async def test_a_reconnected_page_gets_its_current_state_at_once(submit_request, olivia):
    await database_sync_to_async(submit_request)(title="Standing desk")
    communicator = await _connect(olivia)

    await _watch(communicator, "/tasks/queue/")

    assert "Standing desk" in (await _streams(communicator))["html"]
    await communicator.disconnect()


async def test_the_process_page_follows_its_status(submit_request, alice, olivia):
    process = await database_sync_to_async(submit_request)(title="Standing desk")
    communicator = await _connect(alice)
    await _watch(communicator, f"/purchase/{process.pk}/")
    assert "Assigned" not in (await _streams(communicator))["html"]

    approve = await database_sync_to_async(task_of)(process, "approve")
    await database_sync_to_async(task_claim)(task=approve, user=olivia)

    stream = await _streams(communicator)
    assert stream["html"].startswith('<turbo-stream action="update" targets="main.vf-page__content">')
    assert "Assigned" in stream["html"]
    await communicator.disconnect()


async def test_a_change_landing_while_the_watched_page_renders_still_reaches_it(
    submit_request, alice, olivia
):
    """The socket joins the page's channels before it renders the page's state: a change that
    commits between the two wakes it (it used to be lost until the next change)."""
    from unittest import mock

    from processes.consumers import NotificationConsumer

    process = await database_sync_to_async(submit_request)(title="Standing desk")
    approve = await database_sync_to_async(task_of)(process, "approve")
    render = NotificationConsumer.render
    claimed = []

    async def render_then_claim(self, watch):
        fragment = await render(self, watch)
        if not claimed:  # right after the first render: olivia claims, and the wake-up leaves
            claimed.append(True)
            await database_sync_to_async(task_claim)(task=approve, user=olivia)
        return fragment

    communicator = await _connect(alice)
    with mock.patch.object(NotificationConsumer, "render", render_then_claim):
        await _watch(communicator, f"/purchase/{process.pk}/")
        assert "Assigned" not in (await _streams(communicator))["html"]  # rendered before the claim
        assert "Assigned" in (await _streams(communicator))["html"]  # the claim's wake-up
    await communicator.disconnect()


async def test_no_fragment_of_a_page_the_user_may_not_see(submit_request, olivia):
    process = await database_sync_to_async(submit_request)()
    nobody = await _user("nobody")
    communicator = await _connect(nobody)

    await _watch(communicator, f"/purchase/{process.pk}/")
    assert (await communicator.receive_json_from(timeout=2)) == {"type": "watch.refused"}

    approve = await database_sync_to_async(task_of)(process, "approve")
    await database_sync_to_async(task_claim)(task=approve, user=olivia)
    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_a_queue_fragment_holds_only_what_the_user_may_claim(submit_request, frank):
    communicator = await _connect(frank)
    await _watch(communicator, "/tasks/queue/")
    assert "Standing desk" not in (await _streams(communicator))["html"]

    await database_sync_to_async(submit_request)(title="Standing desk")
    await get_channel_layer().group_send(f"user.{frank.pk}", {"type": "live.wake"})

    assert await communicator.receive_nothing(timeout=0.5) is True  # his queue did not change
    await communicator.disconnect()


async def test_only_pages_of_this_site_that_can_be_watched_are_watched(olivia):
    communicator = await _connect(olivia)

    for location in ("https://evil.example.com/purchase/queue/", "/admin/", "/purchase/archive/", 42):
        await _watch(communicator, location)

    assert await communicator.receive_nothing(timeout=0.3) is True
    await communicator.disconnect()


async def test_open_sockets_and_the_notification_lag_are_measured():
    """portal_websocket_connections follows the open sockets; a notification sent live observes
    its commit-to-send lag (processes/instruments.py)."""
    from prometheus_client import REGISTRY

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    user = await _user("olivia")
    await _notify(user, "old")  # before the socket: a catch-up, not a lag
    open_before, lags = value("portal_websocket_connections"), value("portal_notification_lag_seconds_count")
    communicator = await _connect(user, "after=0")
    await _received(communicator, 1)
    assert value("portal_websocket_connections") == open_before + 1
    assert value("portal_notification_lag_seconds_count") == lags

    await _notify(user, "new")
    await _received(communicator, 1)
    assert value("portal_notification_lag_seconds_count") == lags + 1

    await communicator.disconnect()
    assert value("portal_websocket_connections") == open_before
