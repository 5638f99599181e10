"""Websocket consumers: authorise in connect(), deliver, never write."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import parse_qs

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from processes import instruments, live
from processes.models import Notification
from processes.notifications.audiences import live_channels_for
from processes.notifications.batching import read_batcher
from processes.notifications.channels import process_channel, session_channel
from processes.notifications.relay import cancel_requested, relay
from processes.notifications.selectors import (
    DELIVERY_BATCH,
    Deliverable,
    Want,
    live_session_user_id,
    notification_last_id,
    notification_payload,
    notifications_catchup_floor,
    notifications_unread_count,
    notifications_visible,
)

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401  # at connect: no logged-in user. The browser does not retry.
# Later: the session was logged out or ended, or the user deactivated. The browser reloads the
# page (which then asks for a login) instead of reconnecting.
CLOSE_SESSION_ENDED = 4410
# A row committed out of id order (a longer transaction that took its id earlier) is still
# delivered if it commits within this many seconds of being written.
LATE_COMMIT_GRACE_SECONDS = 30.0
BATCH = DELIVERY_BATCH
AFTER_MAX_DIGITS = 18  # a notification id fits a bigint


def catchup_after(query_string: bytes) -> int | None:
    """The last notification id the client saw (`?after=<id>`), or None: none given, or not a
    non-negative integer. None means "from now on": a client that sends garbage gets no history
    rather than an error it would reconnect into."""
    after = parse_qs(query_string.decode("latin-1")).get("after", [""])[0]
    if not after.isascii() or not after.isdigit() or len(after) > AFTER_MAX_DIGITS:
        return None
    return int(after)


def _user_active(user_id: int):
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def _deliverable(user_id: int, floor: int, skip: frozenset[int]) -> Deliverable:
    """One socket's own read (after a batched one said there is more): the user's notifications
    after `floor` not yet sent, marked as they may see them; and the unread count."""
    user = _user_active(user_id)
    if user is None:
        return Deliverable()
    query = (
        Notification.objects.filter(user_id=user_id, id__gt=floor)
        .exclude(id__in=skip)
        .select_related("process")
        .order_by("id")[:BATCH]
    )
    rows = list(query)
    visible = {row.pk for row in notifications_visible(user, rows)}
    payloads = [
        {
            **notification_payload(row),
            "visible": row.pk in visible,
            "ts": row.created_at.timestamp(),
        }
        for row in rows
    ]
    return Deliverable(payloads, notifications_unread_count(user=user), True, len(rows) == BATCH)


# The consumer's reads need no thread of their own: many sockets may read at once.
def _db(func):
    return database_sync_to_async(func, thread_sensitive=False)


def _channels_for(user_id: int, session_key: str | None) -> list[str]:
    user = _user_active(user_id)
    if user is None:
        return []
    session = [session_channel(session_key)] if session_key else []
    return [*live_channels_for(user), *session]


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    """The browser's live channel.

    - connect: refuses anonymous users (4401); the origin is checked by
      AllowedHostsOriginValidator in portal/asgi.py. Joins `user.<id>`, the `perm.<p>` queue
      channels of the permissions the user holds and its browser session's `session.<hash>`,
      then sends the notifications after the id the client names in `?after=` (the catch-up),
      in id order: at most NOTIFICATIONS_CATCHUP_MAX, none older than NOTIFICATIONS_CATCHUP_DAYS,
      preceded by `catchup.truncated` when that leaves some out. Without `after`, or with one
      that is not a non-negative integer, it starts from the newest id (no catch-up).
    - the session ends (logout: `session.ended` on its channel; deactivation: on `user.<id>`), or
      the poll finds it gone, expired or no longer valid for an active user: close with 4410.
    - a wake-up on any joined channel, or the poll: send the user's notifications not yet sent,
      and the watched page's fragment if it changed. Each notification is sent once per socket.
    - `{"type": "watch", "location": "/purchase/queue/"}`: keep that page current (live.py).
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.ended = False
        self.sync_lock = asyncio.Lock()
        self.sent: dict[int, float] = {}  # ids sent and not yet below the floor, with their time
        self.watch: live.Watch | None = None
        self.watch_print = ""
        self.watch_location = ""
        self.joined = await _db(_channels_for)(self.user_id, self.session_key)
        for channel in self.joined:
            await self._group_add(channel)
        self.relay = relay()  # a wake-up for many users at once comes through the relay
        if self.relay is not None:
            await self.relay.register(self.user_id, self)
        await self.accept()
        self.connected_at = time.time()
        self.counted = True
        instruments.WEBSOCKETS.inc()
        after = catchup_after(self.scope.get("query_string", b""))
        truncated = False
        if after is None:  # a client that saw nothing yet (or says nonsense) starts from now
            self.floor = await _db(notification_last_id)(user_id=self.user_id)
        else:
            self.floor, truncated = await _db(notifications_catchup_floor)(user_id=self.user_id, after=after)
        await self.send_json({"type": "hello", "user": user.get_username(), "last_id": self.floor})
        if truncated:  # the page says that older ones are in the notification center
            await self.send_json({"type": "catchup.truncated", "url": reverse("notification_center")})
        await self.sync()
        interval = settings.NOTIFICATIONS_POLL_SECONDS
        self.poller = asyncio.create_task(self.poll(interval)) if interval > 0 else None

    async def _group_add(self, channel: str) -> None:
        """Join a group, trying again twice when the channel layer's connection fails: after a
        Redis restart, the pool's first command on an old connection fails and the next one
        reconnects. A third failure is the caller's (the socket is refused; the page retries)."""
        for attempt in range(3):
            try:
                await self.channel_layer.group_add(channel, self.channel_name)
                return
            except (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError) as exc:
                if cancel_requested():  # the socket is going away: no retry
                    raise asyncio.CancelledError from exc
                if attempt == 2:
                    raise
                logger.warning("live.group_add_retry", channel=channel, attempt=attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            instruments.WEBSOCKETS.dec()
        joined_relay = getattr(self, "relay", None)
        if joined_relay is not None:
            await joined_relay.unregister(self.user_id, self)
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        for channel in [*getattr(self, "joined", []), *self._watch_channels(getattr(self, "watch", None))]:
            await self.channel_layer.group_discard(channel, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "t": content.get("t")})
        elif kind == "watch":
            await self.watch_set(content.get("location"))

    async def live_wake(self, event: dict) -> None:
        """A wake-up from the channel layer (processes.notifications.channels.wake)."""
        await self.sync()

    async def relay_wake(self) -> None:
        """A wake-up for this socket's user among many (processes/notifications/relay.py)."""
        if not hasattr(self, "floor"):  # still connecting: its first read, still to come, covers it
            return
        try:
            await self.sync()
        except Exception as exc:  # the client went away mid-send: disconnect() unregisters it
            logger.info("live.relay_wake_failed", user_id=self.user_id, error=type(exc).__name__)

    async def session_ended(self, event: dict) -> None:
        """Logout or deactivation (processes.notifications.channels.sessions_end_on_commit)."""
        await self.end_session()

    async def end_session(self) -> None:
        if not self.ended:
            self.ended = True
            logger.info("live.session_ended", user_id=self.user_id)
            await self.close(code=CLOSE_SESSION_ENDED)

    async def poll(self, interval: float) -> None:
        """The embedded mode's in-memory layer cannot hear the worker: look every `interval` s.
        Each look also checks that the session still logs this user in (a missed `session.ended`,
        a session deleted or expired, a password changed elsewhere)."""
        while not self.ended:
            await asyncio.sleep(interval)
            try:
                if await _db(live_session_user_id)(session_key=self.session_key) != self.user_id:
                    await self.end_session()
                    return
                await self.sync()
            except Exception as exc:  # the client went away mid-send: disconnect() ends this loop
                logger.info("live.poll_stopped", user_id=self.user_id, error=type(exc).__name__)
                return

    async def sync(self) -> None:
        if self.ended:
            return
        async with self.sync_lock:
            await self.sync_notifications()
            await self.sync_watch()

    async def sync_notifications(self) -> None:
        """Send what is new. The first read is shared with the other sockets woken meanwhile
        (processes/notifications/batching.py); if it says there is more, this socket reads on."""
        answer = await read_batcher().ask(Want(self.user_id, self.floor, frozenset(self.sent)))
        while True:
            if not answer.active:
                await self.end_session()
                return
            rows, unread = answer.rows, answer.unread
            for row in rows:
                created = self.sent[row["id"]] = row.pop("ts")
                if row.pop("visible"):
                    await self.send_json({"type": "notification", **row, "unread": unread})
                    if created >= self.connected_at:  # a catch-up's older rows are no lag
                        instruments.NOTIFICATION_LAG.observe(max(0.0, time.time() - created))
            self.floor_advance()
            if not answer.more:
                return
            answer = await _db(_deliverable)(self.user_id, self.floor, frozenset(self.sent))

    def floor_advance(self) -> None:
        """Forget ids old enough that no earlier id can still commit; they stay below the floor."""
        horizon = time.time() - LATE_COMMIT_GRACE_SECONDS
        settled = [pk for pk, ts in self.sent.items() if ts < horizon]
        if settled:
            self.floor = max(self.floor, *settled)
            self.sent = {pk: ts for pk, ts in self.sent.items() if pk > self.floor}

    async def watch_set(self, location: object) -> None:
        watch = await database_sync_to_async(live.watch_parse)(location)
        for channel in set(self._watch_channels(self.watch)) - set(self._watch_channels(watch)):
            await self.channel_layer.group_discard(channel, self.channel_name)
        self.watch, self.watch_print = watch, ""
        self.watch_location = str(location) if watch is not None else ""  # parsed: a str
        if watch is None:
            return
        # Join first, render second: a change that commits after the join wakes this socket, and
        # one that committed before it is in the render. (Rendering first lost a change landing
        # between the render and the join until the next one.) Wake-ups carry no data, and a page
        # this user may not see leaves its channels again before anything is sent.
        channels = self._watch_channels(watch)
        for channel in channels:
            await self.channel_layer.group_add(channel, self.channel_name)
        fragment = await self.render(watch)
        if fragment is None:  # not a page this user may see: no channel, no fragments
            for channel in channels:
                await self.channel_layer.group_discard(channel, self.channel_name)
            self.watch = None
            await self.send_json({"type": "watch.refused"})
            return
        # Always sent, even for a page just loaded: a change may have landed between its render
        # and this one, and its wake-up may have come before this watch. Updating a page to what
        # it already shows changes nothing.
        self.watch_print = live.fingerprint(fragment)
        await self.send_stream(fragment)

    @staticmethod
    def _watch_channels(watch: live.Watch | None) -> list[str]:
        """The channels a watched page needs: its process's, or the one its view names."""
        if watch is None:
            return []
        return [
            *([process_channel(watch.process_id)] if watch.process_id else []),
            *([watch.channel] if watch.channel else []),
        ]

    async def sync_watch(self) -> None:
        if self.watch is None:
            return
        fragment = await self.render(self.watch)
        if fragment is None:
            self.watch = None
            return
        fingerprint = live.fingerprint(fragment)
        if fingerprint != self.watch_print:
            self.watch_print = fingerprint
            await self.send_stream(fragment)

    async def send_stream(self, fragment: str) -> None:
        """A page update, with the page it is for: a tab that has moved on since drops it (the
        update could otherwise land on the next page's content)."""
        await self.send_json({"type": "stream", "html": fragment, "location": self.watch_location})

    async def render(self, watch: live.Watch) -> str | None:
        headers = dict(self.scope.get("headers", []))
        return await database_sync_to_async(live.watch_render)(
            watch,
            cookie=headers.get(b"cookie", b"").decode("latin-1"),
            host=headers.get(b"host", b"localhost").decode("latin-1"),
            secure=self.scope.get("scheme") == "wss",
            accept_language=headers.get(b"accept-language", b"").decode("latin-1"),
        )
