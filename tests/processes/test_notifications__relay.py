"""The relay's listener stops when its task is cancelled, however the cancel surfaces: redis-py
cancelled mid-read can raise its connection error instead of CancelledError, and a listener
that took that for a broken layer joined again and never ended (a test's event loop then hung
at teardown; a web node's shutdown would have too)."""

from __future__ import annotations

import asyncio

import pytest

from processes.notifications.relay import Relay

pytestmark = pytest.mark.asyncio


class LayerThatTurnsCancelIntoConnectionError:
    """A channel layer whose blocking receive answers a cancel with a connection error."""

    def __init__(self) -> None:
        self.joins = 0
        self.discarded = False
        self.gone = False  # set by a failing test: every call cancels, so the relay ends anyway

    async def new_channel(self) -> str:
        if self.gone:
            raise asyncio.CancelledError
        return "relay!1"

    async def group_add(self, group: str, channel: str) -> None:
        self.joins += 1

    async def group_discard(self, group: str, channel: str) -> None:
        self.discarded = True

    async def receive(self, channel: str) -> dict:
        if self.gone:
            raise asyncio.CancelledError
        try:
            await asyncio.Event().wait()  # nothing ever arrives
        except asyncio.CancelledError:
            raise ConnectionError("Connection closed by server.") from None
        return {}


class Socket:
    async def relay_wake(self) -> None:
        return None


async def test_a_cancelled_relay_stops_even_when_the_layer_turns_the_cancel_into_an_error():
    layer = LayerThatTurnsCancelIntoConnectionError()
    relay = Relay(layer)
    await relay.register(7, Socket())
    task = relay.task
    assert task is not None
    assert relay.ready.is_set()

    task.cancel()
    done, _ = await asyncio.wait([task], timeout=3)
    if not done:  # the bug: end it another way, so that the test fails instead of hanging
        layer.gone = True
        task.cancel()
        await asyncio.wait([task], timeout=3)

    assert done == {task}  # stopped, not listening again
    assert task.cancelled()
    assert layer.joins == 1  # it did not join again
    assert layer.discarded  # and it left the group on its way out


async def test_a_layer_error_without_a_cancel_still_makes_the_relay_join_again():
    """The retry stays for a real failure (Redis restarted): only a cancel ends the loop."""
    layer = LayerThatTurnsCancelIntoConnectionError()
    blocking_receive = layer.receive
    failures = [ConnectionError("Connection reset by peer")]

    async def receive(channel: str) -> dict:
        if failures:
            raise failures.pop()
        return await blocking_receive(channel)

    layer.receive = receive  # type: ignore[method-assign]
    relay = Relay(layer)
    await relay.register(7, Socket())
    task = relay.task
    assert task is not None

    for _ in range(40):  # the relay waits a second before it joins again
        if layer.joins == 2:
            break
        await asyncio.sleep(0.1)

    assert layer.joins == 2
    assert not task.done()
    task.cancel()
    await asyncio.wait([task], timeout=3)
    assert task.cancelled()
