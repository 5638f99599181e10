"""One database read for many sockets: the consumers' wake-ups in a burst share their reads.

One commit that concerns 1,000 users wakes 1,000 sockets. Each used to read its own rows through
the thread pool, so the reads queued behind it and the last sockets heard seconds later. Now a
woken socket asks this process's `ReadBatcher`; the questions that arrive while a read is running
(or in the same turn of the event loop) go out together as one `notifications_deliverable` read,
and each socket gets its own answer. What a socket is sent, and the checks that decide it, are
the same as before; only the number of reads changes (docs/decisions/0006-live-notifications.md).
"""

from __future__ import annotations

import asyncio
import weakref

from channels.db import database_sync_to_async

from processes.notifications.selectors import Deliverable, Want, notifications_deliverable

# Reads running at once per process: one can be on the database while the next batch gathers.
READERS = 2
# At most this many sockets per read; a larger burst is read in several.
MAX_BATCH = 250


class ReadBatcher:
    """Collects `Want`s from the sockets of one event loop and answers them in batched reads."""

    def __init__(self) -> None:
        self.pending: list[tuple[Want, asyncio.Future[Deliverable]]] = []
        self.readers = 0
        self.reads = 0  # how many batched reads ran (tests and logs)
        self.tasks: set[asyncio.Task] = set()

    async def ask(self, want: Want) -> Deliverable:
        future: asyncio.Future[Deliverable] = asyncio.get_running_loop().create_future()
        self.pending.append((want, future))
        if self.readers < READERS:
            self.readers += 1
            task = asyncio.get_running_loop().create_task(self._read())
            self.tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _read(self) -> None:
        try:
            while self.pending:
                await asyncio.sleep(0)  # the wake-ups this turn of the loop delivers join this read
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                batch = [(want, future) for want, future in batch if not future.done()]
                if not batch:
                    continue
                self.reads += 1
                try:
                    answers = await database_sync_to_async(notifications_deliverable, thread_sensitive=False)(
                        [want for want, _ in batch]
                    )
                except Exception as exc:  # each socket hears of it as it would of its own read
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (_, future), answer in zip(batch, answers, strict=True):
                        if not future.done():  # a socket that went away meanwhile
                            future.set_result(answer)
        finally:
            self.readers -= 1


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadBatcher] = weakref.WeakKeyDictionary()


def read_batcher() -> ReadBatcher:
    """The batcher of the running event loop (one per process in a server; one per test loop)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = ReadBatcher()
    return batcher
