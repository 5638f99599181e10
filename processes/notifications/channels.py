"""Channel names, and what goes out on them after commit: data-free wake-ups and session ends.

A wake-up tells the consumers listening on a channel to read the database again
(`NotificationConsumer.live_wake`); it carries no data, so a lost one only delays a notification
until the next wake-up or the next poll. A session end tells them to close
(`NotificationConsumer.session_ended`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterable
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from processes.notifications.relay import RELAY_GROUP, RELAY_MIN_USERS, relay_messages

logger = structlog.get_logger(__name__)

WAKE = "live.wake"  # the channel layer message type; NotificationConsumer.live_wake handles it
# Tells a browser session's sockets (or a user's) to close: NotificationConsumer.session_ended.
SESSION_ENDED = "session.ended"


# ---------------------------------------------------------------- channel names


USER_PREFIX = "user."


def user_channel(user_id: int) -> str:
    return f"{USER_PREFIX}{user_id}"


def perm_channel(permission: str) -> str:
    """The channel of everyone who holds `permission`: a task queue's candidates listen here."""
    return f"perm.{permission}"


def process_channel(process_id: int) -> str:
    return f"process.{process_id}"


# The channel of the open operations dashboards (processes/operations/): every task transition
# of any process wakes it, and each dashboard re-renders as its own user (processes/live.py).
OPERATIONS_CHANNEL = "operations"


def session_channel(session_key: str) -> str:
    """The channel of one browser session's sockets. Named by a hash of the key, so the name (in
    Redis, in a log line) never carries the session key itself."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


# ---------------------------------------------------------------- wake-ups


def wake_on_commit(channels: Iterable[str]) -> None:
    """After the current transaction commits, wake the consumers listening on `channels`."""
    names = sorted(set(channels))
    if names:
        transaction.on_commit(lambda: wake(names))


def wake(channels: Iterable[str]) -> None:
    """Send a data-free wake-up to each channel group; a failure is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    names = list(channels)
    if not isinstance(layer, InMemoryChannelLayer):
        _wake_soon(layer, names)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: a sync view, a worker, a management command
        async_to_sync(_send)(layer, names)
    else:  # this thread runs an event loop (a test driving a browser): send from another thread
        sender = threading.Thread(target=async_to_sync(_send), args=(layer, names))
        sender.start()
        sender.join()


# A network layer (Redis) is sent to from this process's one long-lived loop, so the layer keeps
# its connection pool instead of opening a connection per wake-up (async_to_sync from a worker or
# command thread starts a new loop, and a new pool, on every call). The caller does not wait:
# its channels join the pending set, and the loop sends each pending channel once. One approval
# passes through some ten transitions, each waking the process page, the queue and the inbox;
# they now leave as a few group sends instead of a blocking round trip per transition.
_sender: dict[str, Any] = {"loop": None, "pid": None, "pending": set(), "scheduled": False}
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's sender loop, started on first use (and again in a forked child)."""
    with _sender_lock:
        if _sender["loop"] is None or _sender["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender.update(loop=loop, pid=os.getpid(), pending=set(), scheduled=False)
        return _sender["loop"]


def _wake_soon(layer: Any, names: list[str]) -> None:
    loop = _sender_loop()
    with _sender_lock:
        _sender["pending"].update(names)
        if _sender["scheduled"]:
            return  # the drain already scheduled sends these too
        _sender["scheduled"] = True
    asyncio.run_coroutine_threadsafe(_drain(layer), loop)


async def _drain(layer: Any) -> None:
    """Send every pending channel once; channels added meanwhile go in the next drain."""
    with _sender_lock:
        names = sorted(_sender["pending"])
        _sender["pending"] = set()
        _sender["scheduled"] = False
    await _send(layer, names)


# Group sends in flight at once. A group send on Redis is four round trips; one commit that
# concerns 1,000 users sends to 1,000 groups, which one after the other took most of a second.
SEND_CONCURRENCY = 32


async def _send(layer: Any, names: list[str], message_type: str = WAKE) -> None:
    messages: list[tuple[str, dict[str, Any]]] = []
    users = [int(name[len(USER_PREFIX) :]) for name in names if name.startswith(USER_PREFIX)]
    if message_type == WAKE and len(users) >= RELAY_MIN_USERS:  # a burst: once per web process
        messages = [(RELAY_GROUP, message) for message in relay_messages(users)]
        names = [name for name in names if not name.startswith(USER_PREFIX)]
    messages += [(name, {"type": message_type}) for name in names]

    async def one(item: tuple[str, dict[str, Any]]) -> None:
        name, message = item
        try:
            await layer.group_send(name, message)
        except Exception as exc:  # the layer is down: consumers catch up on their next poll
            logger.warning("notification.wake_failed", channel=name, error=str(exc))

    for start in range(0, len(messages), SEND_CONCURRENCY):
        await asyncio.gather(*(one(item) for item in messages[start : start + SEND_CONCURRENCY]))


# ---------------------------------------------------------------- sessions that end


def sessions_end_on_commit(channels: Iterable[str]) -> None:
    """After the current transaction commits, close every socket listening on `channels` (a
    session's, or a user's). Their poll would notice too (`live_session_user_id`), later."""
    names = sorted(set(channels))
    if names:
        transaction.on_commit(lambda: _end(names))


def _end(names: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if not isinstance(layer, InMemoryChannelLayer):
        asyncio.run_coroutine_threadsafe(_send(layer, names, SESSION_ENDED), _sender_loop())
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_send)(layer, names, SESSION_ENDED)
    else:
        sender = threading.Thread(target=async_to_sync(_send), args=(layer, names, SESSION_ENDED))
        sender.start()
        sender.join()
