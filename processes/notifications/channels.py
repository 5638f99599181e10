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
import time
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
_sender: dict[str, Any] = {"loop": None, "pid": None}
_sender_lock = threading.Lock()
# A burst of commits (a worker running a chain of jobs commits every few milliseconds, each
# waking the same process page and dashboards) wakes a channel at most this often: a channel
# not woken within the interval is sent to at once; one woken within it waits until the interval
# is over and shares that send with everything else that came for it meanwhile. Every group send
# costs Redis round trips and CPU in the committing process.
WAKE_MIN_INTERVAL = 0.05


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's sender loop, started on first use (and again in a forked child)."""
    with _sender_lock:
        if _sender["loop"] is None or _sender["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            # pending: channels to send; sent: when each was last sent (time.monotonic());
            # soon: a drain to send now is on its way; later: one is set for the interval's end.
            _sender.update(loop=loop, pid=os.getpid(), pending=set(), sent={}, soon=False, later=False)
        return _sender["loop"]


def _recent(name: str, now: float) -> bool:
    return _sender["sent"].get(name, -WAKE_MIN_INTERVAL) + WAKE_MIN_INTERVAL > now


def _wake_soon(layer: Any, names: list[str]) -> None:
    loop = _sender_loop()
    with _sender_lock:
        _sender["pending"].update(names)
        if _sender["soon"]:
            return  # the drain on its way sends these too
        if _sender["later"] and all(_recent(name, time.monotonic()) for name in names):
            return  # all were just sent: the drain set for the interval's end takes them
        _sender["soon"] = True
    asyncio.run_coroutine_threadsafe(_drain(layer), loop)


async def _drain(layer: Any, later: bool = False) -> None:
    """Send each pending channel not sent within WAKE_MIN_INTERVAL, once; set a drain for the
    interval's end for the others."""
    loop = asyncio.get_running_loop()
    with _sender_lock:
        _sender["later" if later else "soon"] = False
        now, sent = time.monotonic(), _sender["sent"]
        ready = sorted(name for name in _sender["pending"] if not _recent(name, now))
        _sender["pending"].difference_update(ready)
        sent.update(dict.fromkeys(ready, now))
        wait = None
        if _sender["pending"] and not _sender["later"]:
            _sender["later"] = True
            wait = min(sent.get(name, now) for name in _sender["pending"]) + WAKE_MIN_INTERVAL - now
        if len(sent) > 1000:  # forget what is past the interval (user channels come and go)
            _sender["sent"] = {name: at for name, at in sent.items() if at + WAKE_MIN_INTERVAL > now}
    if wait is not None:
        loop.call_later(max(wait, 0.0), lambda: loop.create_task(_drain(layer, later=True)))
    if ready:
        await _send(layer, ready)


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
