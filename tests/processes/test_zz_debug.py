from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.conftest import task_of
from tests.processes.test_consumers import _connect, _streams, _watch

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_debug(submit_request, olivia, oscar):
    olivia_socket = await _connect(olivia)
    await _watch(olivia_socket, "/tasks/queue/")
    await _streams(olivia_socket)
    process = await database_sync_to_async(submit_request)(title="Standing desk")
    stream = await _streams(olivia_socket)
    assert "Standing desk" in stream["html"]
    approve = await database_sync_to_async(task_of)(process, "approve")

    def claim():
        client = Client()
        client.force_login(oscar)
        client.get(approve.reverse("assign"))
        return client.post(approve.reverse("assign"), {"_continue": "1"})

    response = await database_sync_to_async(claim)()
    print("RESPONSE", response.status_code, response.get("Location"))
    while True:
        stream = await _streams(olivia_socket, timeout=5)
        print("STREAM", "Standing desk" in stream["html"], stream["html"][:300])
        if "Standing desk" not in stream["html"]:
            break
    await olivia_socket.disconnect()
