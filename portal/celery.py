"""The Celery app: `celery -A portal worker` and `celery -A portal beat`.

Configuration comes from Django settings (the CELERY_* block); tasks live in processes/tasks.py.
"""

import os
import time

from celery import Celery, bootsteps
from celery.signals import (
    beat_init,
    before_task_publish,
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from django_structlog.celery.steps import DjangoStructLogInitStep

from portal.config import ConfigError, exit_on_config_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

try:
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - load the settings now, so a bad variable is one line, not a traceback
except ConfigError as exc:
    exit_on_config_error(exc)

# Celery's Django fixup, except that a worker keeps its connection pool between tasks
# (portal/celery_fixup.py).
app = Celery("portal", fixups=["portal.celery_fixup:fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Binds the structlog context (request id, correlation id) carried in task headers.
app.steps["worker"].add(DjangoStructLogInitStep)


class MetricsHeartbeat(bootsteps.StartStopStep):
    """The worker's main process stamps portal_worker_heartbeat_timestamp_seconds{worker} every
    WORKER_HEARTBEAT_SECONDS, idle or not: the "worker missing" alert watches it (ADR 0018)."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        from processes.instruments import worker_heartbeat

        worker_heartbeat(worker.hostname)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, worker_heartbeat, (worker.hostname,), priority=10
        )

    def stop(self, worker) -> None:
        tref = getattr(self, "tref", None)
        if tref is not None:
            tref.cancel()


app.steps["worker"].add(MetricsHeartbeat)


@before_task_publish.connect
def _stamp_sent_at(headers=None, **kwargs) -> None:
    """When the message was sent: the scrape's age of a queue's oldest message reads it."""
    if headers is not None:
        headers.setdefault("portal_sent_at", time.time())


@worker_process_shutdown.connect
@worker_shutdown.connect
def _metrics_process_dead(**kwargs) -> None:
    """A pool child or the worker ends: its live gauges leave the multi-process sum."""
    from processes.instruments import process_dead_mark

    process_dead_mark()


@worker_process_shutdown.connect
def _pools_close(**kwargs) -> None:
    """A pool child ends: its database pool, kept between its tasks, closes with it."""
    from portal.celery_fixup import pools_close

    pools_close()


@setup_logging.connect
def _configure_logging(**kwargs) -> None:
    """Use Django's LOGGING (JSON lines) in the worker and beat instead of Celery's own format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_init.connect
def _tracing_worker(**kwargs) -> None:
    """Traces in the worker (portal/tracing.py): set up in the main process, so the thread and solo
    pools have them; prefork children inherit it (the span processor restarts its thread there).
    Then the collector is tuned (portal/gctune.py), before prefork's children are forked."""
    from portal.gctune import gc_tune
    from portal.tracing import tracing_setup

    tracing_setup("worker")
    gc_tune()


@worker_process_init.connect
def _tracing_worker_child(**kwargs) -> None:
    from portal.gctune import gc_tune
    from portal.tracing import tracing_setup

    tracing_setup("worker")  # once per process: a no-op when the parent set it up before forking
    gc_tune()  # what the child loaded since the fork


@beat_init.connect
def _tracing_beat(**kwargs) -> None:
    from portal.tracing import tracing_setup

    tracing_setup("beat")
