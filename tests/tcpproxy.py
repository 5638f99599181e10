"""A TCP forwarder the test controls, between the portal and a shared server (PostgreSQL, RabbitMQ).

`cut()` closes every forwarded connection and refuses new ones, as a server that went down does
to its clients; `restore()` listens again on the same port, as the server back after a restart.
The shared server itself is never touched, so other test runs on it see nothing.
"""

from __future__ import annotations

import asyncio
import threading

from tests.stack import free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.aborted = 0  # connections reset by cut()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=15)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.writers -= {writer, up_writer}

    async def _start(self) -> None:
        if self.server is not None and self.server.is_serving():
            return
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self, busy_within: float = 0) -> None:
        deadline = self.loop.time() + busy_within
        while not self.writers and self.loop.time() < deadline:
            await asyncio.sleep(0.005)
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as from a server process that died
            self.aborted += 1
        self.writers.clear()
        await self.server.wait_closed()

    def start(self) -> None:
        self._call(self._start())

    def cut(self, busy_within: float = 0) -> None:
        """Reset every open connection and refuse new ones. With `busy_within`, wait up to that
        many seconds for a connection to be open first, so the cut lands mid-traffic (the
        portal's nodes hold no connection between requests and tasks)."""
        self._call(self._cut(busy_within))

    def restore(self) -> None:
        self._call(self._start())

    def close(self) -> None:
        self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
