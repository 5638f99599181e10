"""Webhooks out on SQLite: events from the core's changes, the envelope, signed deliveries to a
real local HTTP server, backoff, failure for good, 410, replay and retry."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from processes.api import signing
from processes.api.keys import signing_key_rotate, signing_keys
from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from processes.webhooks import events
from processes.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from processes.webhooks.services import (
    backoff_delay,
    backoff_schedule,
    webhook_deliver,
    webhook_emit,
    webhook_endpoint_create,
    webhook_replay,
    webhook_retry_now,
    webhooks_retry_due,
)
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker():
    """Jobs and deliveries are run here by calling their services; nothing is published."""
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


def _keys(client) -> list[bytes]:
    return signing.keys_for_verifying(key.salt for key in signing_keys(client))


def _deliver_all() -> None:
    for pk in WebhookDelivery.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True):
        webhook_deliver(delivery_id=pk)


def _decided_request(submit_request, olivia):
    process = submit_request(amount="4817.39")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True, comment="Fine")
    return process, approve


def test_the_envelope_is_type_timestamp_and_data():
    at = timezone.now()
    envelope = events.envelope("task.decided", {"process_id": 1}, timestamp=at)
    assert envelope == {
        "type": "task.decided",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "data": {"process_id": 1},
    }
    assert envelope["timestamp"].endswith("Z")
    with pytest.raises(ValueError, match="unknown webhook event"):
        events.envelope("process.exploded", {})


def test_a_decided_request_queues_its_events_with_ids_not_personal_data(submit_request, olivia, endpoint):
    process, approve = _decided_request(submit_request, olivia)

    rows = list(WebhookDelivery.objects.order_by("pk"))
    assert [row.event_type for row in rows] == ["process.started", "task.created", "task.decided"]
    decided = rows[2].payload
    assert decided["type"] == "task.decided"
    assert decided["data"] == {
        "process_id": process.pk,
        "process_type": {"label": "purchase", "title": "Purchase request", "kind": ""},
        "correlation_id": str(process.correlation_id),
        "task_id": approve.pk,
        "step": "approve",
        "step_title": decided["data"]["step_title"],
        "decision": "approved",
        "action": "purchase.approved",
    }
    text = json.dumps([row.payload for row in rows])
    # The amount has a decimal point, so it cannot hide in a uuid or a timestamp by chance.
    for personal in ("Standing desk", "4817.39", "4817.3", "Back pain", "Fine", "alice", "olivia"):
        assert personal not in text
    assert {row.endpoint_id for row in rows} == {endpoint.pk}
    assert len({row.msg_id for row in rows}) == len(rows)


def test_only_subscribed_active_endpoints_get_an_event(shop, receiver, submit_request):
    started = webhook_endpoint_create(client=shop, url=receiver.url, events=["process.started"])
    off = webhook_endpoint_create(client=shop, url=receiver.url + "/off", events=list(EventType.values))
    WebhookEndpoint.objects.filter(pk=off.pk).update(active=False)

    submit_request()

    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event_type")) == [
        (started.pk, "process.started")
    ]


def test_a_rolled_back_change_queues_nothing(submit_request, endpoint):
    with pytest.raises(RuntimeError), transaction.atomic():
        submit_request()
        assert WebhookDelivery.objects.exists()
        raise RuntimeError("the change fails")
    assert not WebhookDelivery.objects.exists()


def test_the_delivery_is_sent_after_commit_by_a_task(
    submit_request, endpoint, django_capture_on_commit_callbacks
):
    with mock.patch("processes.tasks.webhook_deliver.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            submit_request()
        assert delay.call_count == 0  # nothing before the commit
        for callback in callbacks:
            callback()
    queued = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert {call.args[0] for call in delay.call_args_list} == queued


def test_a_delivery_is_signed_the_standard_webhooks_way(submit_request, shop, endpoint, receiver):
    submit_request()
    delivery = WebhookDelivery.objects.get(event_type="process.started")

    assert webhook_deliver(delivery_id=delivery.pk) == "delivered"

    [got] = receiver.received
    assert got.path == "/hooks"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == delivery.msg_id
    assert signing.verify(_keys(shop), got.headers, got.body) == (
        delivery.msg_id,
        int(got.headers["webhook-timestamp"]),
    )
    assert signing.verify([signing.secret_parse(shop.secret)], got.headers, got.body)[0] == delivery.msg_id
    assert got.event == delivery.payload
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert webhook_deliver(delivery_id=delivery.pk) == "gone"  # never twice
    assert len(receiver.received) == 1


def test_during_a_key_rotation_both_keys_verify(submit_request, shop, endpoint, receiver):
    old_secret = shop.secret
    new_secret = signing_key_rotate(client=shop, overlap=timedelta(hours=1))
    submit_request()

    _deliver_all()

    for got in receiver.received:
        assert len(got.headers["webhook-signature"].split()) == 2
        for secret in (old_secret, new_secret):
            assert signing.verify([signing.secret_parse(secret)], got.headers, got.body)[0] == got.msg_id


def test_a_failing_receiver_is_retried_with_backoff_then_given_up_and_audited(
    submit_request, endpoint, receiver, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 503
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()

    start = timezone.now()
    assert webhook_deliver(delivery_id=delivery.pk, now=start) == "pending"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (1, 503)
    assert delivery.last_error.startswith("HTTP 503")
    wait = (delivery.next_attempt_at - start).total_seconds()
    assert 24 <= wait <= 36  # 30 s ± 20 %
    assert webhooks_retry_due(now=start + timedelta(seconds=10)) == 0  # not due yet
    assert len(receiver.received) == 1

    webhooks_retry_due(now=start + timedelta(minutes=1))
    webhooks_retry_due(now=start + timedelta(hours=1))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(receiver.received) == 3
    assert len({got.msg_id for got in receiver.received}) == 1  # the same webhook-id on every retry
    failed = AuditEvent.objects.get(action="webhook.failed")
    assert failed.details["msg_id"] == delivery.msg_id


def test_an_unreachable_receiver_is_a_failed_attempt(endpoint, receiver):
    receiver.stop()
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()

    assert webhook_deliver(delivery_id=delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error


def test_redirects_are_not_followed(endpoint, receiver):
    receiver.status = 302
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()

    assert webhook_deliver(delivery_id=delivery.pk) == "pending"
    assert len(receiver.received) == 1


def test_the_send_time_check_refuses_what_became_private(endpoint, receiver, settings):
    webhook_emit(event_type="process.started", data={"process_id": 1})
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    delivery = WebhookDelivery.objects.get()

    assert webhook_deliver(delivery_id=delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1 is a loopback address")
    assert receiver.received == []


def test_a_410_disables_the_endpoint_and_cancels_its_pending_deliveries(endpoint, receiver):
    receiver.status = 410
    webhook_emit(event_type="process.started", data={"process_id": 1})
    webhook_emit(event_type="process.completed", data={"process_id": 1})
    first, second = WebhookDelivery.objects.order_by("pk")

    assert webhook_deliver(delivery_id=first.pk) == "failed"

    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_at is not None
    assert "410" in endpoint.disabled_reason
    second.refresh_from_db()
    assert second.status == "canceled"
    assert webhook_deliver(delivery_id=second.pk) == "gone"
    assert len(receiver.received) == 1
    assert webhook_emit(event_type="process.started", data={"process_id": 2}) == []  # no longer subscribed
    assert AuditEvent.objects.filter(action="webhook.endpoint_disabled").count() == 1


def test_backoff_grows_four_fold_to_twelve_hours_over_about_three_days(settings):
    assert (settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_MAX_ATTEMPTS) == (30, 12)
    schedule = [delay.total_seconds() for delay in backoff_schedule()]
    assert schedule == [30, 120, 480, 1920, 7680, 30720, 43200, 43200, 43200, 43200, 43200]
    assert 2.5 * 86400 < sum(schedule) < 3.5 * 86400
    for attempts in range(1, 12):
        plain = backoff_delay(attempts, jitter=0)
        assert backoff_delay(attempts, jitter=-1) == plain * 0.8
        assert backoff_delay(attempts, jitter=1) == plain * 1.2
        assert plain * 0.8 <= backoff_delay(attempts) <= plain * 1.2


def test_replay_sends_the_same_event_with_the_same_webhook_id(endpoint, receiver):
    webhook_emit(event_type="process.started", data={"process_id": 1})
    original = WebhookDelivery.objects.get()
    webhook_deliver(delivery_id=original.pk)

    replay = webhook_replay(delivery=original)
    webhook_deliver(delivery_id=replay.pk)

    assert (replay.msg_id, replay.payload, replay.replay_of) == (original.msg_id, original.payload, original)
    assert [got.msg_id for got in receiver.received] == [original.msg_id, original.msg_id]
    assert receiver.received[0].body == receiver.received[1].body
    assert AuditEvent.objects.filter(action="webhook.replayed").count() == 1


def test_retry_now_revives_failed_and_canceled_deliveries(endpoint, receiver):
    webhook_emit(event_type="process.started", data={"process_id": 1})
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=12)

    assert webhook_retry_now(deliveries=[delivery]) == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert webhook_deliver(delivery_id=delivery.pk) == "delivered"
    assert webhook_retry_now(deliveries=[delivery]) == 0  # a delivered one stays delivered


def test_an_incident_queues_incident_opened(submit_request, olivia, endpoint):
    from processes.nodes.celery_job import job_execute
    from processes.purchase import services as purchase_services

    process, _ = _decided_request(submit_request, olivia)
    job = task_of(process, "create_order")
    with mock.patch.object(purchase_services, "purchase_order_create", side_effect=ValueError("ERP said no")):
        assert job_execute(job.flow_task.activation_class(job).ref()) == "failed"

    incident = WebhookDelivery.objects.get(event_type="incident.opened")
    assert incident.payload["data"]["task_id"] == job.pk
    assert incident.payload["data"]["step"] == "create_order"
    assert "ERP" not in json.dumps(incident.payload)


def test_a_compensated_order_queues_compensated_and_completed(place_order, endpoint):
    from tests.processes.orders.test_flows import run_jobs

    with mock.patch("processes.connectors.services.time.sleep"):
        order = place_order(lines=[("DESK-01", 1), ("LAMP-03", 1)])  # the lamp is out of stock
        run_jobs(order)

    rows = WebhookDelivery.objects.filter(process_id=order.pk)
    assert sorted(rows.values_list("event_type", flat=True)) == [
        "process.compensated",  # the compensation throw
        "process.completed",  # once, though the compensation handlers end at End nodes too
        "process.started",
    ]  # no incident: the failed step's error boundary caught it
    completed = rows.get(event_type="process.completed").payload["data"]
    assert (completed["process_type"]["label"], completed["end"], completed["status"]) == (
        "order",
        "compensated",
        "DONE",
    )


def test_the_outbox_gauges(endpoint, receiver):
    from processes.metrics import metrics_text

    for n in range(3):
        webhook_emit(event_type="process.started", data={"process_id": n})
    first, second, _third = WebhookDelivery.objects.order_by("pk")
    webhook_deliver(delivery_id=first.pk)
    WebhookDelivery.objects.filter(pk=second.pk).update(status="failed")

    text = metrics_text().decode()
    assert "portal_webhooks_pending 1.0" in text
    assert "portal_webhooks_delivered" not in text  # history: the sent counter says it
    assert "portal_webhooks_failed 1.0" in text


def _counted(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_deliveries_are_counted_sent_and_given_up(endpoint, receiver, django_capture_on_commit_callbacks):
    sent = _counted("portal_webhook_deliveries_total", outcome="sent")
    failed = _counted("portal_webhook_deliveries_total", outcome="failed")
    webhook_emit(event_type="process.started", data={"process_id": 1})
    webhook_emit(event_type="process.started", data={"process_id": 2})
    first, second = WebhookDelivery.objects.order_by("pk")

    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliver(delivery_id=first.pk) == "delivered"
    receiver.status = 410
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliver(delivery_id=second.pk) == "failed"

    assert _counted("portal_webhook_deliveries_total", outcome="sent") == sent + 1
    assert _counted("portal_webhook_deliveries_total", outcome="failed") == failed + 1


def test_a_compensated_order_is_counted_once(place_order, endpoint, django_capture_on_commit_callbacks):
    from tests.processes.orders.test_flows import run_jobs

    labels = {"process_type": "orders/flows.OrderFlow", "version": ""}
    before = _counted("portal_processes_compensated_total", **labels)
    with (
        mock.patch("processes.connectors.services.time.sleep"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        order = place_order(lines=[("DESK-01", 1), ("LAMP-03", 1)])  # the lamp is out of stock
        run_jobs(order)

    assert _counted("portal_processes_compensated_total", **labels) == before + 1
