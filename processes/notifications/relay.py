"""One wake-up message for many users: a burst reaches each web process once, not once per user.

A commit that concerns many users (a queue of hundreds of candidates, a broadcast) used to send
one `live.wake` per `user.<id>` group: on Redis four round trips each in the sender and one
receive each in every web process, most of a second for 1,000 users before any socket read a
row. Now `channels.wake` sends such a burst as one `live.wake_users` message to the `live.relay`
group, which every web process with open sockets joins through its `Relay`; the relay wakes the
sockets of those users that this process holds, as their own `user.<id>` wake-up would have.

Nothing else changes: a wake-up still carries no notification data (each socket reads and
checks its rows, processes/notifications/batching.py), and a relay that missed a message (not
yet joined, the layer down) only delays delivery until the socket's next wake-up or poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import defaultdict
from typing import Any, Protocol

import structlog
from channels.layers import get_channel_layer

logger = structlog.get_logger(__name__)

RELAY_GROUP = "live.relay"
WAKE_USERS = "live.wake_users"
# A wake-up for at least this many users goes through the relay; fewer keep their own groups.
RELAY_MIN_USERS = 20
# User ids per relay message (a message stays well under the layer's size limits).
RELAY_CHUNK = 5000
# channels_redis forgets a group member after a day (group_expiry): the relay joins again hourly.
REJOIN_SECONDS = 3600.0
READY_TIMEOUT = 5.0


def cancel_requested() -> bool:
    """Whether the running task was asked to stop. A layer call cancelled mid-read can end in
    its connection error instead of CancelledError (redis-py closes the connection under it):
    a loop that retries on errors must stop then, not listen again (that hung every shutdown of
    an event loop with a relay: a web node's, and a test's teardown)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Wakeable(Protocol):
    async def relay_wake(self) -> None: ...


class Relay:
    """This event loop's listener on `live.relay`, and the local sockets by user id."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.local: dict[int, set[Wakeable]] = defaultdict(set)
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.wakes = 0  # sockets woken through the relay (tests, logs)
        self.waking: set[asyncio.Task] = set()

    async def register(self, user_id: int, socket: Wakeable) -> None:
        """Hear relayed wake-ups for `user_id`; returns once the relay has joined its group (so
        a burst committed after this socket's first read reaches it), or after READY_TIMEOUT."""
        self.local[user_id].add(socket)
        if self.task is None or self.task.done():
            self.ready.clear()
            self.task = asyncio.get_running_loop().create_task(self._run())
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT)
        except TimeoutError:  # the socket still has its poll; its user's own group still works
            logger.warning("live.relay_not_ready", user_id=user_id)

    async def unregister(self, user_id: int, socket: Wakeable) -> None:
        sockets = self.local.get(user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self.local[user_id]
        if not self.local and self.task is not None:  # the last socket left: stop listening
            task, self.task = self.task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                # Bounded: a layer whose connection broke must not hold the socket's disconnect.
                await asyncio.wait_for(task, READY_TIMEOUT)

    async def _run(self) -> None:
        channel = None
        try:
            while True:
                try:
                    # The default prefix: channels_redis reads all of a process's channels of
                    # one prefix in one loop, and one of another prefix would hold that loop.
                    channel = await self.layer.new_channel()
                    await self.layer.group_add(RELAY_GROUP, channel)
                    self.ready.set()
                    rejoin = asyncio.get_running_loop().create_task(self._rejoin(channel))
                    try:
                        await self._listen(channel)
                    finally:
                        rejoin.cancel()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the layer failed: join again in a moment
                    if cancel_requested():  # the cancel surfaced as the layer's error
                        raise asyncio.CancelledError from exc
                    logger.warning("live.relay_failed", error=str(exc))
                    self.ready.clear()
                    await asyncio.sleep(1.0)
        finally:
            self.ready.clear()
            if channel is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        asyncio.shield(self.layer.group_discard(RELAY_GROUP, channel)), READY_TIMEOUT
                    )

    async def _listen(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            if message.get("type") == WAKE_USERS:
                self.wake(message.get("users") or [])

    async def _rejoin(self, channel: str) -> None:
        """Join the group again every REJOIN_SECONDS, however quiet it is (a member that only
        listens would otherwise expire and hear nothing more)."""
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            try:
                await self.layer.group_add(RELAY_GROUP, channel)
            except Exception as exc:  # the layer is down: the next round tries again
                if cancel_requested():
                    raise asyncio.CancelledError from exc
                logger.warning("live.relay_rejoin_failed", error=str(exc))

    def wake(self, user_ids: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        for user_id in user_ids:
            for socket in list(self.local.get(user_id, ())) if isinstance(user_id, int) else ():
                self.wakes += 1
                task = loop.create_task(socket.relay_wake())
                self.waking.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self.waking.discard)


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Relay] = weakref.WeakKeyDictionary()


def relay() -> Relay | None:
    """The running event loop's relay, or None without a channel layer."""
    layer = get_channel_layer()
    if layer is None:
        return None
    loop = asyncio.get_running_loop()
    found = _relays.get(loop)
    if found is None or found.layer is not layer:
        found = _relays[loop] = Relay(layer)
    return found


def relay_messages(user_ids: list[int]) -> list[dict[str, Any]]:
    """The relay messages that wake `user_ids` (in chunks of RELAY_CHUNK)."""
    return [
        {"type": WAKE_USERS, "users": user_ids[start : start + RELAY_CHUNK]}
        for start in range(0, len(user_ids), RELAY_CHUNK)
    ]
