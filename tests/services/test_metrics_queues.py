"""The scrape's probe of the broker's queues (processes/metrics.py `broker_queues`) on a real Redis
and a real RabbitMQ: depth per queue, and on Redis the oldest message's age from the header the
publisher stamps. A queue of the test's own, which no worker consumes."""

from __future__ import annotations

import time
import uuid

import pytest

from portal.celery import app
from processes.metrics import broker_queues
from tests.stack import RABBITMQ_URL

pytestmark = [pytest.mark.services]


def _publish(broker_url: str, queue: str, count: int) -> None:
    with app.connection_for_write(broker_url) as connection:
        for _ in range(count):
            app.send_task("processes.tasks.nothing", queue=queue, connection=connection)


def test_a_redis_queue_depth_and_its_oldest_message_age(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.METRICS_QUEUES = [queue]
    _publish(settings.REDIS_URL, queue, 3)
    time.sleep(1.1)
    try:
        depth, age = broker_queues()[queue]
    finally:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).delete(queue)

    assert depth == 3
    assert age is not None
    assert 1.0 <= age < 60


def test_a_rabbitmq_queue_depth(settings):
    from kombu import Connection

    settings.CELERY_BROKER_URL = RABBITMQ_URL
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.METRICS_QUEUES = [queue]
    with Connection(RABBITMQ_URL) as connection:
        channel = connection.channel()
        try:
            _publish(RABBITMQ_URL, queue, 2)  # Celery declares the queue as it publishes
            time.sleep(0.5)  # RabbitMQ counts a message once it is routed

            queues = broker_queues()

            assert queues[queue] == (2, None)  # AMQP cannot tell an age without taking the message
            # A queue nobody declared yet (no worker ran on this broker) is empty, not an error.
            settings.METRICS_QUEUES = [f"never-{queue}", queue]
            assert broker_queues()[f"never-{queue}"] == (0, None)
        finally:
            channel.queue_delete(queue=queue)
