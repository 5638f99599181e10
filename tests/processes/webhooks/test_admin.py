"""The webhooks' admin: subscriptions checked on save, enable/disable, the delivery log's replay
and retry now; the demo data's subscription and receiver."""

from __future__ import annotations

import subprocess
import sys
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.urls import reverse

from processes.api import signing
from processes.api.keys import signing_keys_for_sending
from processes.api.models import ApiClient
from processes.api.services import api_client_create
from processes.models import AuditEvent
from processes.webhooks.demo import demo_receiver_url, webhooks_demo_load
from processes.webhooks.models import WebhookDelivery, WebhookEndpoint
from processes.webhooks.services import webhook_emit
from tests.stack import ROOT, free_port, wait_for

pytestmark = pytest.mark.django_db

ADD = "admin:processes_webhookendpoint_add"


def _form(client, url, events=("process.started",)):
    return {"client": client.pk, "url": url, "events": list(events), "description": ""}


def test_a_subscription_is_added_and_audited(admin_client, shop, receiver):
    response = admin_client.post(reverse(ADD), _form(shop, receiver.url, ["task.decided", "process.started"]))

    assert response.status_code == 302, response.context["adminform"].form.errors
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.client, endpoint.url, endpoint.events) == (
        shop,
        receiver.url,
        ["process.started", "task.decided"],
    )
    assert AuditEvent.objects.filter(action="webhook.endpoint_created").count() == 1


@pytest.mark.parametrize(
    ("url", "field", "message"),
    [
        ("ftp://example.com/x", "url", "https:// or http://"),
        ("http://127.0.0.1:9/x", "url", "loopback"),
        ("http://10.0.0.1/x", "url", "private"),
    ],
)
def test_a_subscription_to_a_refused_url_is_a_form_error(admin_client, shop, settings, url, field, message):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = admin_client.post(reverse(ADD), _form(shop, url))

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert not WebhookEndpoint.objects.exists()


def test_the_client_needs_the_scope_and_a_signing_key(admin_client, receiver):
    reader, _ = api_client_create(name="reader", scopes=["processes:read"])
    keyless, _ = api_client_create(name="keyless", scopes=["webhooks:receive"])
    for client, message in [(reader, "scope webhooks:receive"), (keyless, "no signing key")]:
        response = admin_client.post(reverse(ADD), _form(client, receiver.url))
        assert message in str(response.context["adminform"].form.errors["client"])
    response = admin_client.post(
        reverse(ADD), {**_form(reader, receiver.url), "events": ["process.exploded"]}
    )
    assert "process.exploded" in str(response.context["adminform"].form.errors["events"])


def test_a_change_is_checked_and_audited(admin_client, endpoint, settings):
    change = reverse("admin:processes_webhookendpoint_change", args=[endpoint.pk])
    form = _form(endpoint.client, endpoint.url, ["task.decided"])

    assert admin_client.post(change, form).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.events == ["task.decided"]
    assert AuditEvent.objects.filter(action="webhook.endpoint_changed").count() == 1

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert admin_client.post(change, form).status_code == 200  # loopback is refused now
    assert AuditEvent.objects.filter(action="webhook.endpoint_changed").count() == 1


def test_disable_then_enable(admin_client, endpoint):
    webhook_emit(event_type="process.started", data={"process_id": 1})
    changelist = reverse("admin:processes_webhookendpoint_changelist")

    admin_client.post(changelist, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert WebhookDelivery.objects.get().status == "canceled"

    admin_client.post(changelist, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_at, endpoint.disabled_reason) == (True, None, "")
    assert admin_client.get(changelist).status_code == 200
    assert (
        admin_client.get(reverse("admin:processes_webhookendpoint_change", args=[endpoint.pk])).status_code
        == 200
    )


def test_the_delivery_log_shows_replays_and_retries(admin_client, endpoint, receiver):
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()
    changelist = reverse("admin:processes_webhookdelivery_changelist")
    page = admin_client.get(reverse("admin:processes_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert delivery.msg_id in page.content.decode()
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(reverse("admin:processes_webhookdelivery_add")).status_code == 403

    admin_client.post(changelist, {"action": "replay", "_selected_action": [delivery.pk]})
    replay = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (replay.msg_id, replay.replay_of_id) == (delivery.msg_id, delivery.pk)

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=12)
    admin_client.post(changelist, {"action": "retry_now", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)


def test_a_user_without_the_right_cannot_replay(client, django_user_model, endpoint):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(viewer)
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()

    client.post(
        reverse("admin:processes_webhookdelivery_changelist"),
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    assert WebhookDelivery.objects.count() == 1


def test_the_demo_subscribes_the_shop_at_the_demo_receiver(db):
    lines: list[str] = []
    webhooks_demo_load(lines.append)
    webhooks_demo_load(lines.append)  # idempotent

    shop = ApiClient.objects.get(name="shop")
    assert shop.scopes == ["processes:read", "processes:start", "webhooks:receive"]  # README: "API"
    [endpoint] = WebhookEndpoint.objects.filter(client=shop)
    assert endpoint.url == demo_receiver_url() == "http://127.0.0.1:8765/webhooks"
    assert len(endpoint.events) == 6
    assert len(lines) == 1


def test_the_receiver_command_prints_verified_deliveries(shop):
    """`manage.py webhook_receiver` (a subprocess here) verifies each delivery and prints it."""
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "manage.py", "webhook_receiver", "--port", str(port), "--secret", shop.secret],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    body = b'{"data":{"process_id":7},"timestamp":"2026-12-02T17:00:00Z","type":"process.started"}'

    def post(headers):
        request = Request(f"http://127.0.0.1:{port}/webhooks", data=body, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=5) as response:  # noqa: S310 - the local test receiver
                return response.status
        except HTTPError as exc:
            return exc.code
        except OSError:
            return None

    try:
        good = signing.headers_sign(signing_keys_for_sending(shop), "msg_demo1", body)
        wait_for(lambda: post(good) == 200, timeout=30, what="the receiver")
        assert post(good) == 200
        assert post({**good, "webhook-signature": "v1,AAAA"}) == 401
    finally:
        receiver.terminate()
        text = receiver.communicate(timeout=10)[0]
    assert 'verified msg_demo1 process.started {"process_id": 7}' in text
    assert "duplicate msg_demo1" in text
    assert "REJECTED (bad-signature)" in text
