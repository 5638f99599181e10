"""The email outbox against a real SMTP server (aiosmtpd on a free port): nothing sent on
rollback, nothing lost when the server is down, nothing sent twice by overlapping sweeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from processes.mail.models import OutgoingEmail
from processes.mail.services import mail_deliver, mail_queue, mails_prune, mails_retry_due
from processes.models import AuditEvent
from processes.notifications.services import notification_preferences_set, notifications_record
from tests.stack import SmtpSink, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    """A real SMTP server, and the portal's settings pointing at it."""
    sink = SmtpSink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", sink.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    sink.controller.start()
    yield sink
    sink.controller.stop()


def queue(user, subject="Hello"):
    with transaction.atomic():
        return mail_queue(kind="test", to_user=user, subject=subject, text="Body", html="<p>Body</p>")


def test_a_committed_email_goes_out_at_once_with_its_html(olivia, smtp):
    email = queue(olivia)

    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.SENT
    assert email.attempts == 1
    assert len(smtp.messages) == 1
    assert b"Subject: Hello" in smtp.messages[0]
    assert b"text/html" in smtp.messages[0]


def test_a_rolled_back_transaction_sends_nothing(olivia, smtp):
    with pytest.raises(RuntimeError), transaction.atomic():
        mail_queue(kind="test", to_user=olivia, subject="Never", text="Body")
        raise RuntimeError("the change fails")

    assert OutgoingEmail.objects.count() == 0
    assert smtp.messages == []


def test_a_server_down_at_commit_is_retried_by_the_sweep_until_it_goes_out(olivia, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    email = queue(olivia)  # the after-commit attempt finds no server

    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1)
    assert "Connection refused" in email.last_error
    assert email.next_attempt_at > timezone.now()
    assert mails_retry_due() == 0  # not due yet: backoff

    sink = SmtpSink()
    settings.EMAIL_PORT = sink.port
    sink.controller.start()
    try:
        assert mails_retry_due(now=email.next_attempt_at) == 1
        assert mails_retry_due(now=email.next_attempt_at + timedelta(hours=1)) == 0
        assert len(sink.messages) == 1
    finally:
        sink.controller.stop()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.SENT, 2)


def test_an_email_never_attempted_is_picked_up_by_the_sweep(olivia, smtp, settings):
    """The process that committed died before its after-commit attempt: the row is all there is."""
    email = OutgoingEmail.objects.create(
        kind="test",
        to_user=olivia,
        to_address=olivia.email,
        subject="Orphan",
        text="Body",
        next_attempt_at=timezone.now() + timedelta(seconds=settings.EMAIL_RETRY_BASE_SECONDS),
    )

    assert mails_retry_due() == 0  # the committing process gets its chance first
    assert mails_retry_due(now=timezone.now() + timedelta(minutes=1)) == 1
    assert len(smtp.messages) == 1
    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.SENT


def test_backoff_grows_then_the_email_is_given_up_and_audited(olivia, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_MAX_ATTEMPTS, settings.EMAIL_RETRY_BASE_SECONDS = 3, 10

    email = queue(olivia)
    email.refresh_from_db()
    first = email.next_attempt_at
    mails_retry_due(now=first)
    email.refresh_from_db()
    second = email.next_attempt_at
    mails_retry_due(now=second)

    email.refresh_from_db()
    assert (second - first).total_seconds() == 30  # 10 s, then 3 times longer
    assert (email.status, email.attempts) == (OutgoingEmail.Status.FAILED, 3)
    failed = AuditEvent.objects.get(action="email.failed")
    assert failed.details["to_user"] == "olivia"
    assert failed.details["attempts"] == 3


def test_a_second_delivery_of_a_sent_email_sends_nothing(olivia, smtp):
    email = queue(olivia)

    assert mail_deliver(email_id=email.pk) == "gone"
    assert len(smtp.messages) == 1


def test_by_email_notifications_go_through_the_outbox(olivia, smtp):
    notification_preferences_set(user=olivia, deliveries={"task.assigned": "email"})
    with transaction.atomic():
        notifications_record(user_ids=[olivia.pk], kind="task.assigned", title="A task for you", url="/x/")

    email = OutgoingEmail.objects.get()
    assert (email.kind, email.status) == ("notification.task.assigned", OutgoingEmail.Status.SENT)
    assert b"A task for you" in smtp.messages[0]


def test_sent_emails_are_pruned_after_the_keeping_time(olivia, smtp, settings):
    settings.EMAIL_KEEP_DAYS = 30
    queue(olivia)

    assert mails_prune() == 0
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert mails_prune() == 1


def test_the_hourly_housekeeping_prunes_the_outbox(olivia, smtp):
    from processes.scheduler import housekeeping

    queue(olivia)

    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert housekeeping()["pruned_emails"] == 1
