"""The outbox on PostgreSQL: sweeps that overlap (two beat processes by mistake, or the
after-commit attempt racing the sweep) send each email once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from processes.mail.models import OutgoingEmail
from processes.mail.services import mails_retry_due
from tests.stack import SmtpSink

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class SlowSink(SmtpSink):
    """An SMTP server that takes its time to accept, so the sweeps really overlap."""

    async def handle_DATA(self, server, session, envelope) -> str:
        import asyncio

        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def _sweeps_race(sink: SmtpSink, *, now, count: int = 4) -> None:
    """`count` sweeps at once (threads released together), then the SMTP sink stops; none fails."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            mails_retry_due(now=now, limit=100)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sink.controller.stop()
    assert errors == []


def test_four_overlapping_sweeps_send_each_email_once(olivia, settings):
    sink = SlowSink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", sink.port, 10
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    now = timezone.now()
    OutgoingEmail.objects.bulk_create(
        OutgoingEmail(
            kind="test",
            to_user=olivia,
            to_address=olivia.email,
            subject=f"Mail {n}",
            text="Body",
            next_attempt_at=now,
        )
        for n in range(40)
    )
    sink.controller.start()
    _sweeps_race(sink, now=now + timedelta(seconds=1))

    subjects = sorted(
        line
        for message in sink.messages
        for line in message.decode().splitlines()
        if line.startswith("Subject:")
    )
    assert len(subjects) == 40
    assert len(set(subjects)) == 40
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_overlapping_sweeps_send_each_escalation_email_once_and_exactly_its_links_work(
    purchase_policy, submit_request, olivia, settings
):
    """Escalation emails mint their links while the sweeps race: each email leaves once, and the
    hashes in the database are exactly those of the links that left (one working set per email)."""
    import hashlib
    import re

    from django.db import transaction

    from processes.actionlinks.models import ActionToken
    from processes.actionlinks.services import escalation_email_send
    from tests.conftest import task_of
    from tests.stack import free_port

    settings.PORTAL_BASE_URL = "http://portal.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 10
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    task = task_of(submit_request(), "approve")
    for _ in range(10):  # the after-commit attempts find no server: the sweeps send them
        with transaction.atomic():
            escalation_email_send(task=task, addressee=olivia)
    assert set(OutgoingEmail.objects.values_list("status", "attempts")) == {("pending", 1)}
    sink = SlowSink()
    settings.EMAIL_PORT = sink.port
    sink.controller.start()
    _sweeps_race(sink, now=timezone.now() + timedelta(hours=1))

    assert len(sink.messages) == 10
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}
    delivered = {
        raw
        for message in sink.messages
        for raw in re.findall(rb"http://portal.test/links/([A-Za-z0-9_-]{43})/", message)
    }
    assert len(delivered) == 20  # text and HTML carry the same two links per email
    stored = set(ActionToken.objects.values_list("token_hash", flat=True))
    assert stored == {hashlib.sha256(raw).hexdigest() for raw in delivered}
    assert all(b"[[action-link:" not in message for message in sink.messages)
