"""The subscriptions are read once per flow-lock block, and a change to one is seen at once."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from processes.audit import audit_batch
from processes.webhooks.models import EventType, WebhookDelivery
from processes.webhooks.services import webhook_emit, webhook_endpoint_create, webhook_endpoint_disable

pytestmark = pytest.mark.django_db


def _lookups(captured) -> int:
    return sum(1 for q in captured.captured_queries if 'FROM "processes_webhookendpoint"' in q["sql"])


def test_a_block_reads_the_subscriptions_once(endpoint):
    with transaction.atomic(), audit_batch(), CaptureQueriesContext(connection) as captured:
        webhook_emit(event_type=EventType.PROCESS_STARTED, data={"process_id": 1})
        webhook_emit(event_type=EventType.TASK_CREATED, data={"task_id": 2})
    assert _lookups(captured) == 1
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_outside_a_block_each_event_reads_them(endpoint):
    with CaptureQueriesContext(connection) as captured:
        webhook_emit(event_type=EventType.PROCESS_STARTED, data={"process_id": 1})
        webhook_emit(event_type=EventType.TASK_CREATED, data={"task_id": 2})
    assert _lookups(captured) == 2


def test_a_new_disabled_or_deleted_subscription_is_seen_at_once(endpoint, shop, receiver):
    with transaction.atomic(), audit_batch():
        assert len(webhook_emit(event_type=EventType.PROCESS_STARTED, data={"process_id": 1})) == 1
        second = webhook_endpoint_create(
            client=shop, url=receiver.url + "second", events=list(EventType.values)
        )
        assert {d.endpoint_id for d in webhook_emit(event_type=EventType.PROCESS_STARTED, data={})} == {
            endpoint.pk,
            second.pk,
        }
        webhook_endpoint_disable(endpoint=second, reason="test")
        assert [d.endpoint_id for d in webhook_emit(event_type=EventType.PROCESS_STARTED, data={})] == [
            endpoint.pk
        ]
        WebhookDelivery.objects.filter(endpoint=endpoint).delete()
        endpoint.delete()
        assert webhook_emit(event_type=EventType.PROCESS_STARTED, data={}) == []


def test_deliveries_roll_back_with_the_block(endpoint):
    with pytest.raises(RuntimeError), transaction.atomic(), audit_batch():
        webhook_emit(event_type=EventType.PROCESS_STARTED, data={"process_id": 1})
        raise RuntimeError("boom")
    assert not WebhookDelivery.objects.exists()
