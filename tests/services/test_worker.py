"""The CeleryJob node against a real worker, PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import pools
from viewflow.workflow.status import PROCESS, STATUS

from portal.celery import app
from processes import scheduler
from processes.models import AuditEvent
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from processes.tasks import job_run
from tests.conftest import task_of
from tests.stack import unreachable_broker_url, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _approve(submit_request, olivia):
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True)
    return process


def _finished(process):
    process.refresh_from_db()
    return process.status == PROCESS.DONE


def test_the_worker_runs_the_job_and_finishes_the_process(celery_worker_process, submit_request, olivia):
    process = _approve(submit_request, olivia)

    wait_for(lambda: _finished(process), timeout=30, what="the worker to finish the process")

    assert PurchaseOrder.objects.filter(process=process).count() == 1
    job = task_of(process, "create_order")
    assert job.status == STATUS.DONE
    correlation_id = str(process.correlation_id)
    assert f'"correlation_id": "{correlation_id}"' in celery_worker_process.output()
    assert '"event": "job.done"' in celery_worker_process.output()


def test_the_same_message_delivered_twice_has_one_effect(celery_worker_process, submit_request, olivia):
    process = _approve(submit_request, olivia)
    job = task_of(process, "create_order")
    ref = job.flow_task.activation_class(job).ref()
    # A second copy of the very same message, as a broker redelivery would produce.
    job_run.apply_async(args=[ref], task_id=job.external_task_id)

    wait_for(lambda: _finished(process), timeout=30, what="the worker to finish the process")
    dropped = (
        "job.skipped",
        "job.finished_elsewhere",
        "job.duplicate_delivery",
    )  # which one depends on timing
    wait_for(
        lambda: any(event in celery_worker_process.output() for event in dropped),
        timeout=15,
        what="the duplicate to be dropped",
    )

    assert PurchaseOrder.objects.filter(process=process).count() == 1
    assert AuditEvent.objects.filter(process=process, action="purchase.order_created").count() == 1
    assert (
        AuditEvent.objects.filter(
            process=process, action="task.completed", details__node="create_order"
        ).count()
        == 1
    )


@contextlib.contextmanager
def _publisher_broker(url: str):
    """Point this process's Celery publisher at `url`, with fresh connection pools."""

    def reset_pools():
        pools.reset()  # kombu's process-wide connection and producer pools
        app._pool = None
        app.amqp._producer_pool = None

    good = app.conf.broker_url
    app.conf.broker_url = url
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url = good
        reset_pools()


def test_a_job_enqueued_while_the_broker_is_down_is_recovered_by_the_sweep(
    celery_worker_process, submit_request, olivia
):
    with _publisher_broker(unreachable_broker_url()):  # nothing listens there: connection refused
        process = _approve(submit_request, olivia)

    job = task_of(process, "create_order")
    assert job.status == STATUS.SCHEDULED  # committed, but no message exists
    assert not _finished(process)

    assert (
        scheduler.jobs_sweep_stuck(
            now=timezone.now() + timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS + 1)
        )
        == 1
    )

    wait_for(lambda: _finished(process), timeout=30, what="the worker to finish the recovered job")
    assert PurchaseOrder.objects.filter(process=process).count() == 1
