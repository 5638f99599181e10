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

from processes import instruments

logger = structlog.get_logger(__name__)

TIMER_SWEEP_GUARD = "scheduler:timer-sweep"
TIMER_SENT = "scheduler:timer-sent:{}"


def timers_due(now: datetime, limit: int):
    """(pk, process_id) of the armed timers due by `now`, in due order: read through the partial
    index `timer_due` (migration 0032), whose predicate is this filter, so a sweep never walks the
    fired timers."""
    return (
        Task.objects.filter(flow_task_type="TIMER", status=STATUS.SCHEDULED, scheduled__lte=now)
        .order_by("scheduled")
        .values_list("pk", "process_id")[:limit]
    )


def timers_fire_due(*, now: datetime | None = None, limit: int = 5000) -> dict:
    """Send the due timers to the workers to fire; a sweep already running elsewhere makes this one skip.

    Beat calls this every second. It only reads which timers are due and sends them, grouped by
    process (one process's timers in one message, in due order, so they never contend for the
    same flow lock), in batches of `TIMER_BATCH_SIZE`, to `processes.tasks.timers_fire`: the
    firing itself (tens of queries per timer) runs on every worker process in parallel instead
    of in one sweep. A timer sent is not sent again for `TIMER_RESEND_SECONDS`, unless the
    worker gave it back (lock busy); if a message is lost, the next sweep after that sends it
    again, because the database, not the message, says what is due.

    The cache guard and the markers only save work. Correctness comes from the flow lock each
    timer is fired under: a timer already fired is no longer SCHEDULED when it is re-read.
    """
    from processes.tasks import timers_fire

    if not cache.add(TIMER_SWEEP_GUARD, "1", timeout=settings.TIMER_SWEEP_GUARD_SECONDS):
        return {"skipped": True}
    try:
        due = list(timers_due(now or timezone.now(), limit))
        if not due:
            return {"sent": 0}
        keys = {TIMER_SENT.format(pk): pk for pk, _ in due}
        already = set(cache.get_many(list(keys)))
        by_process: dict[int, list[int]] = {}
        for pk, process_id in due:
            if TIMER_SENT.format(pk) not in already:
                by_process.setdefault(process_id, []).append(pk)
        cache.set_many(
            {TIMER_SENT.format(pk): 1 for ids in by_process.values() for pk in ids},
            timeout=settings.TIMER_RESEND_SECONDS,
        )
        batch: list[int] = []
        sent = 0
        for ids in by_process.values():
            batch.extend(ids)
            if len(batch) >= settings.TIMER_BATCH_SIZE:
                timers_fire.delay(batch)
                sent += len(batch)
                batch = []
        if batch:
            timers_fire.delay(batch)
            sent += len(batch)
        return {"sent": sent}
    finally:
        cache.delete(TIMER_SWEEP_GUARD)


def timers_fire(*, task_ids: list[int]) -> int:
    """Fire these timers if they are still due; the number fired.

    Each is re-read under its process's flow lock, as viewflow's own `fire_due_timers` does, so
    a timer fired by another worker, or cancelled because its task was finished meanwhile, is
    skipped. A timer whose lock is busy is given back to the next sweep at once.
    """
    from viewflow.workflow.exceptions import FlowLockFailed

    fired = 0
    for task in Task.objects.filter(pk__in=task_ids).order_by("scheduled", "pk"):
        late: float | None = None
        try:
            with task.activation() as activation:
                start = getattr(activation, "start", None)
                if start is None or task.status != STATUS.SCHEDULED or not start.can_proceed():
                    continue  # fired or cancelled meanwhile, or its node no longer exists
                if task.scheduled:
                    late = (timezone.now() - task.scheduled).total_seconds()
                activation.start()
                activation.execute()
                fired += 1
            if late is not None:  # the firing committed with the lock's block
                instruments.TIMER_LATENESS.observe(max(0.0, late))
        except FlowLockFailed:
            cache.delete(TIMER_SENT.format(task.pk))
            logger.info("timer.lock_busy", timer_id=task.pk)
        except Exception:  # one broken flow must not block the others in the batch
            logger.exception("timer.fire_failed", timer_id=task.pk)
    return fired


def _job_overdue(task, now: datetime, grace: timedelta) -> bool:
    """SCHEDULED and its message should have been picked up long ago, or STARTED and its
    attempt outlived the node's time limit (the hard limit would have ended it: the worker is gone)."""
    from processes.nodes.celery_job import HARD_LIMIT_MARGIN_SECONDS

    data = task.data or {}
    if task.status == STATUS.SCHEDULED:
        due = data.get("due_at") or data.get("sent_at")
        return due is None or datetime.fromisoformat(due) + grace < now
    attempts = data.get("attempts") or []
    if not attempts or "finished_at" in attempts[-1]:
        return False
    limit = timedelta(seconds=task.flow_task.time_limit + HARD_LIMIT_MARGIN_SECONDS)
    return datetime.fromisoformat(attempts[-1]["started_at"]) + limit + grace < now


def jobs_sweep_stuck(*, now: datetime | None = None, limit: int = 200) -> int:
    """Re-send the message of jobs whose message was lost, or whose worker died mid-attempt.

    Re-sending uses the same Celery task id. The worker ignores a delivery for a job that
    meanwhile finished, or whose current attempt is still running, so a spare message never
    runs a job twice at the same time; what a second run does is covered by the idempotency key.
    """
    from processes.audit import correlation_id_of
    from processes.nodes.celery_job import job_send

    now = now or timezone.now()
    grace = timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    candidates = (
        Task.objects.filter(
            flow_task_type="JOB", status__in=[STATUS.SCHEDULED, STATUS.STARTED], created__lt=now - grace
        )
        .select_related("process")
        .order_by("created")[:limit]
    )
    resent = 0
    for task in candidates:
        if not _job_overdue(task, now, grace):
            continue
        activation = task.flow_task.activation_class(task)
        if job_send(
            activation.ref(),
            task.external_task_id,
            correlation_id_of(activation.process),
            time_limit=task.flow_task.time_limit,
        ):
            data = {**(task.data or {}), "sent_at": now.isoformat(), "due_at": now.isoformat()}
            data["resent"] = int(data.get("resent", 0)) + 1
            Task.objects.filter(pk=task.pk, status=task.status).update(data=data)
            resent += 1
            logger.warning(
                "job.sweep_resent",
                task_ref=activation.ref(),
                status=task.status,
                correlation_id=correlation_id_of(activation.process),
            )
    return resent


def housekeeping() -> dict:
    """Drop acknowledged messages from the embedded SQLite broker, which never deletes them, sent
    emails past their keeping time, long-expired action link tokens, and attachment files that no
    row names (processes.attachments.services.attachments_sweep_orphans)."""
    from processes.actionlinks.services import action_tokens_prune
    from processes.attachments.services import attachments_sweep_orphans
    from processes.mail.services import mails_prune
    from processes.webhooks.services import webhooks_prune

    done = {
        "pruned_emails": mails_prune(),
        "pruned_webhook_deliveries": webhooks_prune(),
        "pruned_link_tokens": action_tokens_prune(),
        "deleted_attachment_files": attachments_sweep_orphans(),
    }
    url = settings.CELERY_BROKER_URL
    if not url.startswith("sqla+sqlite:///"):
        return {"deleted_messages": 0, **done}
    path = url.removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path, timeout=20) as db:
        try:
            deleted = db.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
        except sqlite3.OperationalError:  # no table yet: nothing was ever sent
            deleted = 0
    logger.info("housekeeping.done", deleted_messages=deleted, **done)
    return {"deleted_messages": deleted, **done}
