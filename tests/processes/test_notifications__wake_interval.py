"""Wake-ups in a burst: a channel is sent to at most every WAKE_MIN_INTERVAL, others at once.

A recording layer stands in for Redis (the sender loop sends to any layer that is not the
in-memory one); the loop, its thread and the timing are the real ones.
"""

from __future__ import annotations

import threading
import time

import pytest

from processes.notifications import channels
from processes.notifications.channels import _wake_soon

# Longer than in production (50 ms), so a loaded machine's scheduling delays stay well inside it.
INTERVAL = 0.5


@pytest.fixture(autouse=True)
def _interval(monkeypatch):
    monkeypatch.setattr(channels, "WAKE_MIN_INTERVAL", INTERVAL)


class RecordingLayer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    async def group_send(self, name: str, message: dict) -> None:
        with self.lock:
            self.sent.append((name, time.monotonic()))

    def sends(self, name: str) -> list[float]:
        with self.lock:
            return [at for sent, at in self.sent if sent == name]


def _until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the wake-up was not sent"
        time.sleep(0.002)


def test_a_burst_wakes_a_channel_once_per_interval_and_a_new_channel_at_once():
    layer = RecordingLayer()
    start = time.monotonic()
    _wake_soon(layer, ["process.1", "operations"])
    _until(lambda: layer.sends("operations"))
    first = layer.sends("process.1")[0]

    for _ in range(5):  # a worker's chain of jobs, committing every few milliseconds
        _wake_soon(layer, ["process.1", "operations"])
        time.sleep(0.004)
    _wake_soon(layer, ["process.2"])  # a channel not woken within the interval: at once
    _until(lambda: layer.sends("process.2"))
    new_channel_at = layer.sends("process.2")[0]
    _until(lambda: len(layer.sends("process.1")) == 2)
    time.sleep(INTERVAL * 2)

    assert first - start < INTERVAL  # the first of a quiet spell leaves at once
    assert new_channel_at < first + INTERVAL
    second = layer.sends("process.1")[1]
    assert second >= first + INTERVAL * 0.9  # the burst shares one later send
    assert len(layer.sends("process.1")) == 2
    assert len(layer.sends("operations")) == 2


def test_after_a_quiet_spell_a_wake_leaves_at_once():
    layer = RecordingLayer()
    _wake_soon(layer, ["user.7"])
    _until(lambda: layer.sends("user.7"))
    time.sleep(INTERVAL * 1.5)

    asked = time.monotonic()
    _wake_soon(layer, ["user.7"])
    _until(lambda: len(layer.sends("user.7")) == 2)

    assert layer.sends("user.7")[1] - asked < INTERVAL
    assert not channels._sender["pending"]
