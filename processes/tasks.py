"""Celery tasks: a thin interface. Ids and refs in; the work happens in nodes and services."""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True, name="processes.tasks.job_run", acks_late=True, ignore_result=True)
def job_run(self, activation_ref: str) -> str:
    """Run a CeleryJob flow step (processes/nodes/celery_job.py), then the steps its commits made
    due at once, in this process (processes/nodes/job_chain.py)."""
    from processes.nodes.job_chain import job_chain_run

    _hard, soft = self.request.timelimit or (None, None)
    return job_chain_run(activation_ref, message_id=self.request.id, soft_limit=soft)


@shared_task(name="processes.tasks.timers_fire_due", ignore_result=True)
def timers_fire_due() -> dict:
    """Send viewflow's due database timers (escalation boundaries) to be fired. Every second."""
    from processes.scheduler import timers_fire_due as sweep

    return sweep()


@shared_task(name="processes.tasks.timers_fire", ignore_result=True, acks_late=True)
def timers_fire(task_ids: list[int]) -> int:
    """Fire a batch of due timers (sent by the sweep, grouped by process)."""
    from processes.scheduler import timers_fire as fire

    return fire(task_ids=task_ids)


@shared_task(name="processes.tasks.jobs_sweep_stuck", ignore_result=True)
def jobs_sweep_stuck() -> int:
    """Re-send jobs whose broker message was lost (see processes/scheduler.py)."""
    from processes.scheduler import jobs_sweep_stuck as sweep

    return sweep()


@shared_task(name="processes.tasks.mails_retry_due", ignore_result=True)
def mails_retry_due() -> int:
    """Deliver emails whose first attempt failed or never happened (processes/mail/)."""
    from processes.mail.services import mails_retry_due as retry

    return retry()


@shared_task(name="processes.tasks.webhook_deliver", ignore_result=True, acks_late=True)
def webhook_deliver(delivery_id: int) -> str:
    """Send one webhook delivery, right after the commit that queued it (processes/webhooks/)."""
    from processes.webhooks.services import webhook_deliver as deliver

    return deliver(delivery_id=delivery_id)


@shared_task(name="processes.tasks.webhooks_retry_due", ignore_result=True)
def webhooks_retry_due() -> int:
    """Send webhook deliveries that are due: retries, and first attempts whose message was lost."""
    from processes.webhooks.services import webhooks_retry_due as retry

    return retry()


@shared_task(name="processes.tasks.housekeeping", ignore_result=True)
def housekeeping() -> dict:
    """Delete acknowledged messages from the embedded broker's table."""
    from processes.scheduler import housekeeping as run

    return run()


@shared_task(name="processes.tasks.messages_sweep", ignore_result=True)
def messages_sweep() -> dict:
    """Match, expire and prune received messages (processes/messages/services.py)."""
    from processes.messages.services import messages_sweep as sweep

    return sweep()


@shared_task(
    bind=True, name="processes.tasks.carrier_callback", acks_late=True, ignore_result=True, max_retries=12
)
def carrier_callback(self, shipment_ref: str) -> str:
    """The fake carrier posts its signed delivery callback; retried while the portal is unreachable."""
    from processes.connectors.services import CarrierCallbackFailed, carrier_callback_send

    try:
        return carrier_callback_send(shipment_ref)
    except CarrierCallbackFailed as exc:
        raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries)) from exc


@shared_task(name="processes.tasks.idempotency_records_prune", ignore_result=True)
def idempotency_records_prune() -> int:
    """Delete the API's Idempotency-Keys past their keeping time (API_IDEMPOTENCY_TTL)."""
    from processes.api.idempotency import idempotency_records_prune as prune

    return prune()


@shared_task(name="processes.tasks.absences_sweep", ignore_result=True)
def absences_sweep() -> int:
    """Hand the tasks absent users still hold to their substitutes (processes/absences/services.py)."""
    from processes.absences.services import absences_sweep as sweep

    return sweep()
