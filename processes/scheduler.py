"""What the scheduler (Celery beat) runs: timer sweep, stuck-job sweep and housekeeping.

Deadlines and pending jobs are rows in the database, never messages sleeping in the broker,
so each sweep can be repeated, run late or run twice without losing or doubling anything.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

logger = structlog.get_logger(__name__)

TIMER_SWEEP_GUARD = "scheduler:timer-sweep"


def timers_fire_due() -> dict:
    """Fire viewflow's due timers once; a sweep already running elsewhere makes this one skip.

    The cache guard only saves work. Correctness comes from the flow lock each timer is fired
    under: a timer already fired is no longer SCHEDULED when the next sweep re-reads it.
    """
    from viewflow.workflow.timers import fire_due_timers

    if not cache.add(TIMER_SWEEP_GUARD, "1", timeout=60):
        return {"skipped": True}
    try:
        return {"fired": fire_due_timers()}
    finally:
        cache.delete(TIMER_SWEEP_GUARD)


def jobs_sweep_stuck(*, now: datetime | None = None, limit: int = 200) -> int:
    """Re-send the message of jobs still SCHEDULED long after it was sent (lost or never sent).

    Re-sending uses the same Celery task id; a job that meanwhile started is skipped by the
    worker, so a spare message never runs a job twice.
    """
    from processes.audit import correlation_id_of
    from processes.nodes.celery_job import job_send

    now = now or timezone.now()
    threshold = now - timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    candidates = (
        Task.objects.filter(flow_task_type="JOB", status=STATUS.SCHEDULED, created__lt=threshold)
        .select_related("process")
        .order_by("created")[:limit]
    )
    resent = 0
    for task in candidates:
        sent_at = (task.data or {}).get("sent_at")
        if sent_at and datetime.fromisoformat(sent_at) > threshold:
            continue
        activation = task.flow_task.activation_class(task)
        if job_send(activation.ref(), task.external_task_id, correlation_id_of(activation.process)):
            data = {**(task.data or {}), "sent_at": now.isoformat()}
            data["resent"] = int(data.get("resent", 0)) + 1
            Task.objects.filter(pk=task.pk, status=STATUS.SCHEDULED).update(data=data)
            resent += 1
    if resent:
        logger.warning("job.sweep_resent", count=resent)
    return resent


def housekeeping() -> dict:
    """Drop acknowledged messages from the embedded SQLite broker, which never deletes them."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("sqla+sqlite:///"):
        return {"deleted_messages": 0}
    path = url.removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path, timeout=20) as db:
        try:
            deleted = db.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
        except sqlite3.OperationalError:  # no table yet: nothing was ever sent
            deleted = 0
    logger.info("housekeeping.done", deleted_messages=deleted)
    return {"deleted_messages": deleted}
