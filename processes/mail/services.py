"""Write side of the email outbox.

`mail_queue` writes the email in the caller's transaction: a rollback sends nothing, and a commit
never loses it. Right after commit the same process tries to deliver it (most emails go out at
once); if that fails, or the process dies first, the scheduler's sweep (`mails_retry_due`, every
few seconds) retries with exponential backoff until `EMAIL_MAX_ATTEMPTS`, then marks it failed and
audits `email.failed`. Delivery is at least once: a crash between the SMTP server's "accepted" and
the row's update sends that email again on the next try.

Some emails carry secrets (the Approve/Reject links of an escalation). Those are never stored:
the row holds placeholders, and a *finisher* registered for the email's kind
(`mail_finisher_register`) fills them in at each delivery attempt, in memory, inside the
transaction that records the attempt. The rendered message is sent and dropped; only the row's
status fields are saved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from processes import instruments
from processes.audit import audit_record
from processes.instruments import count_on_commit
from processes.mail.models import OutgoingEmail
from processes.tracing import span, traceparent_current

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from viewflow.workflow.models import Process, Task

logger = structlog.get_logger(__name__)

# kind -> finisher(email) -> (text, html): the message as sent, with its secrets filled in.
Finisher = Callable[[OutgoingEmail], tuple[str, str]]
_finishers: dict[str, Finisher] = {}


def mail_finisher_register(kind: str, finisher: Finisher) -> None:
    """Let `finisher` complete every email of `kind` right before it is handed to the SMTP server.

    It runs inside the delivery transaction, with the email's row locked, once per attempt; what it
    writes commits with the attempt's outcome (and rolls back with it if the process dies before).
    """
    if _finishers.get(kind, finisher) is not finisher:
        raise ValueError(f"a finisher for {kind!r} emails is already registered")
    _finishers[kind] = finisher


def _finished(email: OutgoingEmail) -> tuple[str, str]:
    finisher = _finishers.get(email.kind)
    if finisher is None:
        return email.text, email.html
    with transaction.atomic():  # a failing finisher leaves the attempt's transaction usable
        return finisher(email)


def mail_queue(
    *,
    kind: str,
    to_user: User,
    subject: str,
    text: str,
    html: str = "",
    headers: dict[str, str] | None = None,
    process: Process | None = None,
    task: Task | None = None,
) -> OutgoingEmail:
    """Write one email to `to_user` in the current transaction; it is delivered after commit."""
    if not to_user.email:
        raise ValueError(f"{to_user} has no email address")
    if process is None and task is not None:
        process = task.process
    email = OutgoingEmail.objects.create(
        kind=kind,
        to_user=to_user,
        to_address=to_user.email,
        subject=subject[:255],
        text=text,
        html=html,
        headers=headers or {},
        process=process,
        task=task,
        traceparent=traceparent_current(),
        # The committing process tries at once; the sweep only if that attempt never happened.
        next_attempt_at=timezone.now() + timedelta(seconds=settings.EMAIL_RETRY_BASE_SECONDS),
    )
    transaction.on_commit(lambda: mail_deliver_quietly(email_id=email.pk))
    return email


def mail_deliver_quietly(*, email_id: int) -> None:
    """The after-commit delivery attempt: whatever happens, the committed change stays committed."""
    try:
        mail_deliver(email_id=email_id)
    except Exception as exc:  # the row is still pending: the sweep tries again
        logger.warning("email.deliver_error", email_id=email_id, error=str(exc))


def _backoff(attempts: int) -> timedelta:
    base = settings.EMAIL_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 3 ** (attempts - 1), 3600))


def mail_deliver(*, email_id: int, now: datetime | None = None) -> str:
    """Try to deliver one pending email. Returns its status afterwards ("busy" when another
    process is delivering it right now, "gone" when it is no longer pending).

    The row stays locked while the SMTP server answers, so two sweeps never send it together.
    """
    now = now or timezone.now()
    with transaction.atomic():
        email = (
            OutgoingEmail.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status=OutgoingEmail.Status.PENDING)
            .first()
        )
        if email is None:
            exists = OutgoingEmail.objects.filter(pk=email_id, status=OutgoingEmail.Status.PENDING).exists()
            return "busy" if exists else "gone"
        email.attempts += 1
        try:
            # In the trace of the request or job that queued it, also when the sweep retries it.
            with span(
                "email.send",
                parent=email.traceparent,
                attributes={
                    "portal.email.kind": email.kind,
                    "portal.email.id": email.pk,
                    "portal.email.attempt": email.attempts,
                },
            ):  # a failure is recorded on the span as it leaves it
                # The message as sent lives in memory only: the row keeps the placeholders.
                text, html = _finished(email)
                message = EmailMultiAlternatives(email.subject, text, None, [email.to_address])
                if html:
                    message.attach_alternative(html, "text/html")
                message.extra_headers.update(email.headers)
                message.send()
        except Exception as exc:
            email.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if email.attempts >= settings.EMAIL_MAX_ATTEMPTS:
                email.status = OutgoingEmail.Status.FAILED
                count_on_commit(instruments.EMAIL_DELIVERIES.labels(outcome="failed").inc)
                audit_record(
                    action="email.failed",
                    process=email.process,
                    task=email.task,
                    details={
                        "to_user": email.to_user.get_username() if email.to_user else email.to_address,
                        "kind": email.kind,
                        "attempts": email.attempts,
                        "error": email.last_error,
                    },
                )
                logger.error(
                    "email.failed", email_id=email.pk, attempts=email.attempts, error=email.last_error
                )
            else:
                email.next_attempt_at = now + _backoff(email.attempts)
                logger.warning(
                    "email.retry_later",
                    email_id=email.pk,
                    attempts=email.attempts,
                    next_attempt_at=email.next_attempt_at.isoformat(),
                    error=email.last_error,
                )
        else:
            email.status = OutgoingEmail.Status.SENT
            count_on_commit(instruments.EMAIL_DELIVERIES.labels(outcome="sent").inc)
            email.sent_at = timezone.now()
            email.last_error = ""
            logger.info("email.delivered", email_id=email.pk, kind=email.kind, attempts=email.attempts)
        email.save(update_fields=["attempts", "last_error", "status", "next_attempt_at", "sent_at"])
        return email.status


def mails_retry_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """The sweep: try every pending email whose next attempt is due (the oldest first)."""
    now = now or timezone.now()
    due = list(
        OutgoingEmail.objects.filter(status=OutgoingEmail.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(mail_deliver(email_id=pk, now=now) == OutgoingEmail.Status.SENT for pk in due)


def mails_prune(*, now: datetime | None = None) -> int:
    """Forget sent emails after `EMAIL_KEEP_DAYS` (failed ones stay, for the admin)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EMAIL_KEEP_DAYS)
    deleted, _ = OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENT, sent_at__lt=cutoff).delete()
    return deleted
