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
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            mails_retry_due(now=now + timedelta(seconds=1), limit=100)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sink.controller.stop()

    assert errors == []
    subjects = sorted(
        line
        for message in sink.messages
        for line in message.decode().splitlines()
        if line.startswith("Subject:")
    )
    assert len(subjects) == 40
    assert len(set(subjects)) == 40
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}
