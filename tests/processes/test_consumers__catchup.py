"""The catch-up is bounded: a socket that names an old id (or 0) gets the newest few missed
notifications of the last days, oldest first, and a notice that there were more; an `after` that is
not a non-negative integer means "from now on"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from portal.asgi import application
from processes.consumers import catchup_after
from processes.models import Notification, NotificationKind
from processes.notifications.selectors import notifications_catchup_floor
from tests.processes.test_consumers import ORIGIN, _cookie, _user

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0  # only the catch-up delivers here
    settings.NOTIFICATIONS_CATCHUP_MAX = 5
    settings.NOTIFICATIONS_CATCHUP_DAYS = 7


async def _history(user, count: int, age: timedelta = timedelta(0)) -> list[int]:
    created = timezone.now() - age
    rows = await database_sync_to_async(Notification.objects.bulk_create)(
        Notification(user=user, kind=NotificationKind.TASK_REMINDER, title=f"n{i}", created_at=created)
        for i in range(count)
    )
    if rows[0].pk is None:  # backends that do not return ids
        return await database_sync_to_async(
            lambda: list(Notification.objects.filter(user=user).order_by("id").values_list("id", flat=True))
        )()
    return [row.pk for row in rows]


async def _open(user, after: str) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(
        application,
        f"/ws/notifications/?after={after}",
        headers=[(b"host", b"localhost"), ORIGIN, (b"cookie", await _cookie(user))],
    )
    connected, _ = await communicator.connect()
    assert connected is True
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    return communicator, hello


async def _all(communicator) -> list[dict]:
    messages = []
    while not await communicator.receive_nothing(timeout=0.3):
        messages.append(await communicator.receive_json_from())
    return messages


async def test_after_zero_gets_the_newest_few_oldest_first_and_a_notice_that_there_were_more():
    user = await _user("olivia")
    ids = await _history(user, 12)

    communicator, _ = await _open(user, "0")
    messages = await _all(communicator)

    assert messages[0] == {"type": "catchup.truncated", "url": "/notifications/"}
    assert [m["id"] for m in messages[1:]] == ids[-5:]
    await communicator.disconnect()


async def test_notifications_older_than_the_catchup_days_are_not_replayed():
    user = await _user("olivia")
    await _history(user, 3, age=timedelta(days=8))
    recent = await _history(user, 2)

    communicator, _ = await _open(user, "0")
    messages = await _all(communicator)

    assert messages[0]["type"] == "catchup.truncated"
    assert [m["id"] for m in messages[1:]] == recent
    await communicator.disconnect()


async def test_a_short_absence_is_caught_up_in_full_without_a_notice():
    user = await _user("olivia")
    ids = await _history(user, 8)

    communicator, hello = await _open(user, str(ids[3]))
    messages = await _all(communicator)

    assert [m["type"] for m in messages] == ["notification"] * 4
    assert [m["id"] for m in messages] == ids[4:]
    assert hello["last_id"] == ids[3]
    await communicator.disconnect()


async def test_only_old_missed_notifications_start_from_the_newest_with_a_notice():
    user = await _user("olivia")
    ids = await _history(user, 3, age=timedelta(days=30))

    communicator, hello = await _open(user, "0")

    assert await _all(communicator) == [{"type": "catchup.truncated", "url": "/notifications/"}]
    assert hello["last_id"] == ids[-1]
    await communicator.disconnect()


@pytest.mark.parametrize("after", ["-1", "abc", "1e3", "9" * 30, "%EF%BC%91%EF%BC%92", "1.5", "%20"])
async def test_an_after_that_is_not_a_non_negative_integer_means_from_now_on(after):
    user = await _user("olivia")
    ids = await _history(user, 3)

    communicator, hello = await _open(user, after)

    assert hello["last_id"] == ids[-1]
    assert await _all(communicator) == []  # and the socket stays open
    await communicator.send_json_to({"type": "ping", "t": 1})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.disconnect()


async def test_catchup_after_parses_only_plain_non_negative_integers():
    assert catchup_after(b"after=0") == 0
    assert catchup_after(b"after=42&x=1") == 42
    assert catchup_after(b"") is None
    assert catchup_after(b"after=") is None
    assert catchup_after(b"after=-3") is None
    assert catchup_after("after=١٢".encode()) is None  # Arabic-Indic digits are digits, not ids


async def test_the_floor_query_counts_are_small(django_assert_max_num_queries):
    user = await _user("olivia")
    await _history(user, 20)

    def floor():
        with django_assert_max_num_queries(2):
            return notifications_catchup_floor(user_id=user.pk, after=0)

    floor_id, truncated = await database_sync_to_async(floor)()
    assert floor_id > 0
    assert truncated is True
