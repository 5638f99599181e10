"""The Celery app: `celery -A portal worker` and `celery -A portal beat`.

Configuration comes from Django settings (the CELERY_* block); tasks live in processes/tasks.py.
"""

import os

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init, worker_process_init
from django_structlog.celery.steps import DjangoStructLogInitStep

from portal.config import ConfigError, exit_on_config_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

try:
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - load the settings now, so a bad variable is one line, not a traceback
except ConfigError as exc:
    exit_on_config_error(exc)

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Binds the structlog context (request id, correlation id) carried in task headers.
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def _configure_logging(**kwargs) -> None:
    """Use Django's LOGGING (JSON lines) in the worker and beat instead of Celery's own format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_init.connect
def _tracing_worker(**kwargs) -> None:
    """Traces in the worker (portal/tracing.py): set up in the main process, so the thread and solo
    pools have them; prefork children inherit it (the span processor restarts its thread there)."""
    from portal.tracing import tracing_setup

    tracing_setup("worker")


@worker_process_init.connect
def _tracing_worker_child(**kwargs) -> None:
    from portal.tracing import tracing_setup

    tracing_setup("worker")  # once per process: a no-op when the parent set it up before forking


@beat_init.connect
def _tracing_beat(**kwargs) -> None:
    from portal.tracing import tracing_setup

    tracing_setup("beat")
