"""The task list pages stay current over the websocket, as viewflow's queue does (processes/live.py)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from processes.services import task_claim
from tests.conftest import task_of
from tests.processes.test_consumers import _connect, _streams, _watch

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_poll(settings):
    settings.NOTIFICATIONS_POLL_SECONDS = 0


async def test_the_queue_shows_a_new_task_and_loses_one_claimed_elsewhere(submit_request, olivia, oscar):
    socket = await _connect(olivia)
    await _watch(socket, "/tasks/queue/?sort=priority")
    assert "Standing desk" not in (await _streams(socket))["html"]

    process = await database_sync_to_async(submit_request)(title="Standing desk")
    assert "Standing desk" in (await _streams(socket))["html"]

    approve = await database_sync_to_async(task_of)(process, "approve")
    await database_sync_to_async(task_claim)(task=approve, user=oscar)
    assert "Standing desk" not in (await _streams(socket))["html"]
    await socket.disconnect()


async def test_the_inbox_shows_a_task_assigned_to_me(submit_request, olivia):
    process = await database_sync_to_async(submit_request)(title="Standing desk")
    socket = await _connect(olivia)
    await _watch(socket, "/tasks/inbox/")
    assert "Standing desk" not in (await _streams(socket))["html"]

    approve = await database_sync_to_async(task_of)(process, "approve")
    await database_sync_to_async(task_claim)(task=approve, user=olivia)

    assert "Standing desk" in (await _streams(socket))["html"]
    await socket.disconnect()
