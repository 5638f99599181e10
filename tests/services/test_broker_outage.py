"""The broker goes down while a job is being enqueued: nothing is lost, and the sweep recovers it.

On both brokers. Redis: a private redis-server (its own port, nothing shared) is the broker of
this test's worker and of the test process's publisher, stopped and started again. RabbitMQ: a
private virtual host on the shared server, reached through a TCP forwarder that the test cuts
(every connection reset, new ones refused) and restores, so the shared server is never stopped.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from viewflow.workflow.status import PROCESS, STATUS

from processes import scheduler
from processes.connectors.models import PaymentOperation
from processes.orders.models import OrderProcess
from tests.conftest import task_of
from tests.stack import PrivateRedis, PrivateVhost, publisher, start_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class RabbitOutage:
    """A private RabbitMQ virtual host behind a TcpProxy: stop() cuts it, start() restores it."""

    def __init__(self) -> None:
        self.vhost = PrivateVhost(proxied=True)
        self.url = self.vhost.url

    def stop(self) -> None:
        self.vhost.proxy.cut()

    def start(self) -> None:
        self.vhost.proxy.restore()

    def delete(self) -> None:
        self.vhost.delete()


@pytest.fixture(params=["redis", "amqp"])
def private_broker(request, stack_env):
    if request.param == "redis":
        broker = PrivateRedis()
        broker.start()
    else:
        broker = RabbitOutage()
    worker = start_worker(
        f"worker-private-broker-{request.param}",
        {**stack_env, "CELERY_BROKER_URL": broker.url},
        concurrency=1,
    )
    yield broker, worker
    worker.stop()
    if isinstance(broker, RabbitOutage):
        broker.delete()
    elif broker.process.poll() is None:
        broker.stop()


def test_an_order_placed_while_the_broker_is_down_completes_once_it_is_back(
    private_broker, place_order, carrier
):
    broker, worker = private_broker
    with publisher(broker.url):
        broker.stop()  # the broker is down as the order commits and its first job is enqueued
        order = place_order()
        authorize = task_of(order, "authorize_payment")
        assert authorize.status == STATUS.SCHEDULED  # committed; its message could not be sent

        broker.start()  # back; the worker reconnects by itself
        wait_for(
            lambda: "Connected to " in worker.output().rsplit("Cannot connect", 1)[-1],
            timeout=60,
            what="the worker to reconnect",
        )
        later = timezone.now() + timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS + 1)
        assert scheduler.jobs_sweep_stuck(now=later) == 1

    def completed() -> bool:
        return OrderProcess.objects.get(pk=order.pk).status == PROCESS.DONE

    wait_for(completed, timeout=90, what="the recovered order to complete")
    assert OrderProcess.objects.get(pk=order.pk).outcome == OrderProcess.Outcome.COMPLETED
    assert PaymentOperation.objects.filter(kind="authorize").count() == 1
    assert PaymentOperation.objects.filter(kind="capture").count() == 1
    time.sleep(1)
    assert "job.enqueue_failed" not in worker.output()  # every later job was published by the worker
