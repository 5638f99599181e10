from __future__ import annotations

import pytest

from processes.api.keys import signing_key_rotate
from processes.api.services import api_client_create
from processes.webhooks.models import EventType
from processes.webhooks.services import webhook_endpoint_create
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver():
    """A real HTTP server on a free port, answering 200 until told otherwise."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def shop(db):
    """An API client that receives webhooks, with a signing key (its whsec_ text on `.secret`)."""
    client, _token = api_client_create(name="shop", scopes=["webhooks:receive"])
    client.secret = signing_key_rotate(client=client)
    return client


@pytest.fixture
def endpoint(shop, receiver):
    """shop subscribed to every event at the receiver."""
    return webhook_endpoint_create(client=shop, url=receiver.url, events=list(EventType.values))
