"""The demo's subscription: the fake shop's API client hears of every event at the receiver that
`make run` starts (`manage.py webhook_receiver --port 8765`, which prints verified deliveries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from processes.api.keys import signing_key_rotate, signing_keys
from processes.api.models import ApiClient, Scope
from processes.webhooks.models import EventType, WebhookEndpoint
from processes.webhooks.services import webhook_endpoint_create

DEMO_CLIENT = "shop"


def demo_receiver_url() -> str:
    return f"http://127.0.0.1:{settings.WEBHOOK_RECEIVER_PORT}/webhooks"


@transaction.atomic
def webhooks_demo_load(write: Callable[[str], Any]) -> None:
    """Give the demo client `shop` its scopes (start and read processes, receive webhooks) and a
    signing key, and subscribe it to every event at the demo receiver (idempotent). Its token is
    made by `manage.py api_client rotate shop`: the database keeps only tokens' hashes."""
    client = ApiClient.objects.filter(name=DEMO_CLIENT).first()
    if client is None:
        client = ApiClient(name=DEMO_CLIENT, description="The fake shop of the demo (issue 14).", scopes=[])
    # The shop starts orders and reads them (README: "API"), and hears of every event.
    wanted = {Scope.PROCESSES_START, Scope.PROCESSES_READ, Scope.WEBHOOKS_RECEIVE}
    if not wanted <= set(client.scopes or []):
        client.scopes = sorted({*(client.scopes or []), *wanted})
    client.full_clean()
    client.save()
    if not signing_keys(client):
        signing_key_rotate(client=client)
    if WebhookEndpoint.objects.filter(client=client, url=demo_receiver_url()).exists():
        return
    try:
        webhook_endpoint_create(
            client=client,
            url=demo_receiver_url(),
            events=list(EventType.values),
            description="The demo receiver: manage.py webhook_receiver --port 8765",
        )
    except ValidationError as exc:  # loopback refused: WEBHOOK_ALLOW_PRIVATE_NETWORKS is off
        write(f"Demo webhook endpoint not created: {'; '.join(exc.messages)}")
        return
    write(f"Demo webhooks: client {DEMO_CLIENT!r} subscribed at {demo_receiver_url()}")
