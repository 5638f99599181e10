"""CeleryJob: an automated flow step that runs in a Celery worker.

Why this exists: viewflow's own Celery node (`viewflow.contrib.celery.Job`) ships only with the
paid edition. The open-source core has `AbstractJob`/`AbstractJobActivation`, which keep the
status bookkeeping but leave out scheduling, the worker side and cancellation; this module adds
them (docs/decisions/0002-celery-job-node.md).

How it behaves:
- `activate()` moves the task NEW -> SCHEDULED and sends the Celery message only after the
  transaction commits, with the task's `external_task_id` as the Celery task id. A message
  that cannot be sent (broker down) is logged and left to `jobs_sweep_stuck`, which re-sends
  jobs that stay SCHEDULED too long; the database row is the source of truth.
- The worker (`job_execute`) takes the flow lock only briefly: once to move SCHEDULED ->
  STARTED, and once to finish (DONE and the next nodes, or ERROR). The job's own code runs
  outside the lock, because viewflow does not lock long jobs and a held process lock would
  block every operator acting on the process.
- Messages are acknowledged late, so a worker that dies mid-job has its message delivered
  again. A delivery for a task that is no longer SCHEDULED or STARTED (done, cancelled, failed)
  does nothing; a redelivery while STARTED runs the job again, which is why every job gets a
  stable idempotency key to pass to the system it calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone
from viewflow import this
from viewflow.workflow.activation import Activation, has_manage_permission
from viewflow.workflow.fields import import_flow_by_ref
from viewflow.workflow.flow import mixins as flow_mixins
from viewflow.workflow.flow import views as flow_views
from viewflow.workflow.nodes.job import AbstractJob, AbstractJobActivation
from viewflow.workflow.status import STATUS

from processes.audit import correlation_bind, correlation_id_of

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class JobCall:
    """What a job's code receives: the process, its task, and the key to pass on as idempotency key."""

    activation: Any
    idempotency_key: str

    @property
    def process(self) -> Any:
        return self.activation.process

    @property
    def task(self) -> Any:
        return self.activation.task


def job_send(activation_ref: str, external_task_id: str, correlation_id: str) -> bool:
    """Publish the job's Celery message; False (and a log line) when the broker refuses it."""
    from processes.tasks import job_run

    try:
        job_run.apply_async(
            args=[activation_ref], task_id=external_task_id, headers={"correlation_id": correlation_id}
        )
    except Exception as exc:  # the broker is down: the stuck-job sweep re-sends later
        logger.warning(
            "job.enqueue_failed", task_ref=activation_ref, correlation_id=correlation_id, error=str(exc)
        )
        return False
    logger.info(
        "job.enqueued",
        task_ref=activation_ref,
        celery_task_id=external_task_id,
        correlation_id=correlation_id,
    )
    return True


class CeleryJobActivation(AbstractJobActivation):
    """Activation of a CeleryJob task: schedules on commit, cancels without touching the broker."""

    @Activation.status.transition(source=STATUS.NEW, target=STATUS.SCHEDULED)
    def activate(self):
        data = self.task.data or {}
        # Stable across worker retries and redeliveries, and kept when an admin revives the task.
        data.setdefault("idempotency_key", f"{self.process.pk}:{self.flow_task.name}:{self.task.pk}")
        data["sent_at"] = timezone.now().isoformat()
        self.task.data = data
        self.task.save()
        ref, task_id, correlation_id = self.ref(), self.task.external_task_id, correlation_id_of(self.process)
        transaction.on_commit(lambda: job_send(ref, task_id, correlation_id))

    @Activation.status.transition(
        source=[STATUS.NEW, STATUS.SCHEDULED, STATUS.ERROR],
        target=STATUS.CANCELED,
        permission=has_manage_permission,
    )
    def cancel(self):
        # No broker revoke: a message that still arrives finds the task CANCELED and does nothing.
        self.task.finished = timezone.now()
        self.task.save()


class CeleryJob(
    flow_mixins.NodeDetailMixin,
    flow_mixins.NodeCancelMixin,
    flow_mixins.NodeUndoMixin,
    flow_mixins.NodeReviveMixin,
    AbstractJob,
):
    """A flow node whose work runs in a Celery worker: `CeleryJob(this.method)`.

    The method receives a JobCall and must be idempotent under its `idempotency_key`.
    """

    activation_class = CeleryJobActivation
    index_view_class = flow_views.IndexTaskView
    detail_view_class = flow_views.DetailTaskView
    cancel_view_class = flow_views.CancelTaskView
    undo_view_class = flow_views.UndoTaskView
    revive_view_class = flow_views.ReviveTaskView

    def __init__(self, handler: Callable[[JobCall], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handler = handler

    def _resolve(self, instance: Any) -> None:
        super()._resolve(instance)
        self._handler = this.resolve(instance, self._handler)

    def run_handler(self, call: JobCall) -> Any:
        return self._handler(call)


def job_execute(activation_ref: str, message_id: str | None = None) -> str:
    """Run one delivery of a job message in the worker. Returns what happened, for logs and tests.

    `message_id` is the Celery task id of the delivery; a message whose id is not the task's
    `external_task_id` (an old message for a task row that was since replaced) is ignored.
    """
    flow_ref, process_pk, task_pk = activation_ref.rsplit("/", 2)
    flow_class = import_flow_by_ref(flow_ref)
    task = flow_class.task_class._default_manager.filter(pk=task_pk, process_id=process_pk).first()
    if task is None:
        logger.warning("job.unknown_task", task_ref=activation_ref)
        return "unknown"
    if message_id is not None and message_id != task.external_task_id:
        logger.warning("job.stale_message", task_ref=activation_ref, message_id=message_id)
        return "stale"

    with task.activation() as activation:  # short lock 1: SCHEDULED -> STARTED
        correlation_bind(activation.process)
        if not activation.start.can_proceed():
            logger.info("job.skipped", task_ref=activation_ref, status=task.status)
            return "skipped"
        activation.start()
        call = JobCall(activation=activation, idempotency_key=task.data["idempotency_key"])

    started = time.monotonic()
    try:
        task.flow_task.run_handler(call)  # no lock held: operators can act on the process meanwhile
    except Exception as exc:
        with task.activation() as activation:  # short lock 2: STARTED -> ERROR (an incident)
            if activation.error.can_proceed():
                activation.error(exc)
        logger.exception(
            "job.failed", task_ref=activation_ref, duration_s=round(time.monotonic() - started, 3)
        )
        return "failed"

    with task.activation() as activation:  # short lock 2: STARTED -> DONE, then the next nodes
        if not activation.execute.can_proceed():
            logger.info("job.finished_elsewhere", task_ref=activation_ref, status=task.status)
            return "skipped"
        activation.execute()
    logger.info("job.done", task_ref=activation_ref, duration_s=round(time.monotonic() - started, 3))
    return "done"
