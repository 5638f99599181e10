"""Tasks that exist only for benchmarks (the worker loads them with `--include bench.tasks`)."""

from celery import shared_task
from django.conf import settings

COUNTER = "bench:noop"


@shared_task(name="bench.tasks.noop", ignore_result=True)
def noop() -> None:
    """An empty task that only counts itself, so the benchmark knows when all have run."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).incr(COUNTER)
