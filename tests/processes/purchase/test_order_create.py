"""The purchase order job's handler: one order per idempotency key, however often and however
concurrently it runs, without a savepoint of its own, in one INSERT that stands back when the
key is taken (processes/bulk.py `row_insert_once`)."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from processes.models import AuditEvent
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_order_create
from tests.stack import _test_database_url, wait_for


def _statements(captured) -> list[str]:
    """The statements that read or write rows (not the transaction's own: BEGIN, COMMIT, and the
    test's transaction's savepoints)."""
    control = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")
    return [query["sql"] for query in captured if not query["sql"].startswith(control)]


def _orders_audited(process) -> int:
    return AuditEvent.objects.filter(process=process, action="purchase.order_created").count()


@pytest.mark.django_db
def test_the_same_key_again_returns_the_first_order_and_audits_it_once(submit_request):
    process = submit_request()

    first = purchase_order_create(process=process, idempotency_key="k-1")
    with CaptureQueriesContext(connection) as again:
        second = purchase_order_create(process=process, idempotency_key="k-1")

    assert second == first
    assert first.number == f"PO-{process.pk:06d}"
    # The INSERT that finds the key taken, then the read by the key: nothing written.
    statements = _statements(again)
    assert len(statements) == 2
    assert "ON CONFLICT" in statements[0]
    assert _orders_audited(process) == 1


@pytest.mark.django_db(transaction=True)
def test_no_savepoint_when_it_creates_the_order(submit_request):
    process = submit_request()

    with CaptureQueriesContext(connection) as created:
        purchase_order_create(process=process, idempotency_key="k-1")

    assert not [query for query in created if "SAVEPOINT" in query["sql"]]
    # No read first: the order's INSERT (standing back on a taken key), then its audit row.
    assert [sql.split(" (")[0] for sql in _statements(created)] == [
        'INSERT INTO "processes_purchaseorder"',
        'INSERT INTO "processes_auditevent"',
    ]


@pytest.mark.django_db
def test_a_second_order_for_the_same_request_under_another_key_is_refused(submit_request):
    process = submit_request()
    purchase_order_create(process=process, idempotency_key="k-1")

    with pytest.raises(IntegrityError):
        purchase_order_create(process=process, idempotency_key="k-2")

    assert PurchaseOrder.objects.filter(process=process).count() == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_return_the_one_order_the_first_committed(submit_request):
    """The other delivery's order is written and not yet committed when this one looks: this one
    finds none, its INSERT waits on the key, and once the other commits it returns that order."""
    process = submit_request()
    other = psycopg.connect(_test_database_url())  # the other delivery's transaction
    other.execute(
        "INSERT INTO processes_purchaseorder (process_id, number, idempotency_key, created_at) "
        "VALUES (%s, %s, %s, %s)",
        (process.pk, f"PO-{process.pk:06d}", "k-1", timezone.now()),
    )
    outcome: dict[str, object] = {}

    def deliver() -> None:
        try:
            outcome["order"] = purchase_order_create(process=process, idempotency_key="k-1")
        except Exception as exc:  # reported to the test, not lost in the thread
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        with psycopg.connect(_test_database_url(), autocommit=True) as probe:
            wait_for(
                lambda: probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
                ).fetchone()[0],
                timeout=10,
                interval=0.02,
                what="this delivery's INSERT to wait on the other's key",
            )
        other.commit()
    finally:
        other.close()
        thread.join(timeout=30)

    assert "error" not in outcome, outcome
    order = outcome["order"]
    assert isinstance(order, PurchaseOrder)
    assert (order.idempotency_key, order.process_id) == ("k-1", process.pk)
    assert PurchaseOrder.objects.filter(process=process).count() == 1
    assert _orders_audited(process) == 0  # the other delivery's order: this one wrote no audit of it
