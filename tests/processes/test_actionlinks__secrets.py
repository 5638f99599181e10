"""Action-link secrets never rest in the database: the outbox stores placeholders, the sender mints
the secrets at delivery, and every retry or crash leaves at most one working set of links.

"Working" is checked the way an attacker would: every `/links/<x>/` string found anywhere in the
database is GET and POSTed to the real endpoint, and must be refused.
"""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.urls import get_resolver
from viewflow.workflow.status import STATUS

from processes.actionlinks.models import ActionToken
from processes.actionlinks.selectors import token_hash
from processes.actionlinks.services import escalation_email_send
from processes.mail.models import OutgoingEmail
from processes.mail.services import mail_deliver, mails_retry_due
from tests.conftest import task_of
from tests.stack import free_port

pytestmark = pytest.mark.django_db

LINK_RE = re.compile(r"/links/([^/\s\"'<>]+)/")
DELIVERED_RE = re.compile(r"http://testserver/links/([A-Za-z0-9_-]{43})/")
HERE = "tests.processes.test_actionlinks__secrets"


class AcceptedThenLost(LocmemBackend):
    """The SMTP server accepted the message, then the connection broke before the portal heard."""

    def send_messages(self, messages):
        super().send_messages(messages)
        raise ConnectionResetError("connection lost after DATA")


class AcceptedThenDied(LocmemBackend):
    """The SMTP server accepted the message, then the sending process died before its commit."""

    def send_messages(self, messages):
        super().send_messages(messages)
        raise SystemExit("worker killed")


@pytest.fixture(autouse=True)
def _settings(settings):
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    settings.PORTAL_BASE_URL = "http://testserver"
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 1000
    settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN = 1000
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def approval(purchase_policy, submit_request):
    return task_of(submit_request(), "approve")


def _database_text() -> str:
    """Every value of every row of every table, as text: what a backup holds."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            values.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(values)


def _assert_no_working_link_in_database(client, extra: list[str] = ()) -> None:
    found = set(LINK_RE.findall(_database_text())) | set(extra)
    for raw in found:
        assert client.get(f"/links/{raw}/").status_code in (404, 410), raw
        assert client.post(f"/links/{raw}/", {"comment": "from a backup"}).status_code in (404, 410), raw


def _delivered(message) -> dict[str, str]:
    approve, reject = DELIVERED_RE.findall(message.body)
    html = message.alternatives[0][0]
    assert DELIVERED_RE.findall(html) == [approve, reject]
    return {"approve": approve, "reject": reject}


def test_neither_the_queued_nor_the_sent_email_leaves_a_working_link_in_the_database(
    client, approval, olivia, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        escalation_email_send(task=approval, addressee=olivia)

    stored = OutgoingEmail.objects.get()
    assert LINK_RE.findall(stored.text + stored.html) == []
    tokens = list(ActionToken.objects.order_by("pk"))
    for token in tokens:
        assert f"[[action-link:{token.placeholder}]]" in stored.text
        assert f"[[action-link:{token.placeholder}]]" in stored.html
        assert (token.email_id, token.minted_at) == (stored.pk, None)
    _assert_no_working_link_in_database(client)

    for callback in callbacks:  # the commit: the sender delivers it
        callback()

    (message,) = mailoutbox
    links = _delivered(message)
    stored.refresh_from_db()
    assert stored.status == OutgoingEmail.Status.SENT
    assert LINK_RE.findall(stored.text + stored.html) == []
    dump = _database_text()
    for raw in links.values():
        assert raw not in dump
        assert f"/links/{raw}/" not in dump
    assert {t.token_hash for t in ActionToken.objects.all()} == {token_hash(r) for r in links.values()}
    assert all(t.minted_at is not None for t in ActionToken.objects.all())
    _assert_no_working_link_in_database(client)

    # The delivered email's links do work, once.
    assert client.get(f"/links/{links['approve']}/").status_code == 200
    assert client.post(f"/links/{links['approve']}/").status_code == 200
    approval.refresh_from_db()
    assert approval.status == STATUS.DONE
    assert _database_text().count(links["approve"]) == 0  # nor after use (audit events included)


def test_a_failed_attempt_and_its_retry_mint_fresh_links_and_only_the_delivered_ones_work(
    client, approval, olivia, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)
    email = OutgoingEmail.objects.get()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 1)
    after_failure = dict(ActionToken.objects.values_list("pk", "token_hash"))

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mails_retry_due(now=email.next_attempt_at) == 1

    (message,) = mailoutbox
    links = _delivered(message)
    after_retry = dict(ActionToken.objects.values_list("pk", "token_hash"))
    assert set(after_retry.values()).isdisjoint(after_failure.values())
    assert set(after_retry.values()) == {token_hash(raw) for raw in links.values()}
    _assert_no_working_link_in_database(client)
    assert client.post(f"/links/{links['reject']}/", {"comment": "No."}).status_code == 200


def test_an_email_accepted_but_not_confirmed_is_sent_again_and_only_the_second_links_work(
    client, approval, olivia, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = f"{HERE}.AcceptedThenLost"
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)
    email = OutgoingEmail.objects.get()
    assert email.status == OutgoingEmail.Status.PENDING  # at least once: it goes out again
    first = _delivered(mailoutbox[0])

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mails_retry_due(now=email.next_attempt_at) == 1

    second = _delivered(mailoutbox[1])
    assert set(first.values()).isdisjoint(second.values())
    _assert_no_working_link_in_database(client, extra=list(first.values()))
    assert client.get(f"/links/{second['approve']}/").status_code == 200
    assert mail_deliver(email_id=email.pk) == "gone"  # sent once: no third email
    assert len(mailoutbox) == 2


def test_a_crash_after_the_server_accepted_leaves_the_first_links_dead_and_resends_working_ones(
    client, approval, olivia, mailoutbox, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        escalation_email_send(task=approval, addressee=olivia)
    email = OutgoingEmail.objects.get()
    queued = dict(ActionToken.objects.values_list("pk", "token_hash"))
    settings.EMAIL_BACKEND = f"{HERE}.AcceptedThenDied"

    with pytest.raises(SystemExit):
        mail_deliver(email_id=email.pk)

    first = _delivered(mailoutbox[0])
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutgoingEmail.Status.PENDING, 0)  # the attempt rolled back
    assert dict(ActionToken.objects.values_list("pk", "token_hash")) == queued  # so did the minting
    _assert_no_working_link_in_database(client, extra=list(first.values()))

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert mail_deliver(email_id=email.pk) == OutgoingEmail.Status.SENT
    second = _delivered(mailoutbox[1])
    assert client.post(f"/links/{second['approve']}/").status_code == 200


def test_an_addressee_who_cannot_decide_gets_no_placeholders_and_no_tokens(
    approval, frank, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=frank)

    assert "[[action-link:" not in OutgoingEmail.objects.get().text
    assert "[[action-link:" not in mailoutbox[0].body
    assert ActionToken.objects.count() == 0


def test_a_title_cannot_forge_a_placeholder(approval, olivia, mailoutbox, django_capture_on_commit_callbacks):
    """The placeholder's key is random: text that looks like one is not filled with a link."""
    process = approval.process.purchaseprocess
    process.title = "Desk [[action-link:abcdefghijklmnopqrstuv]]"
    process.save(update_fields=["title"])

    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)

    body = mailoutbox[0].body
    assert len(DELIVERED_RE.findall(body)) == 2
    assert "Desk [link removed]" in body


def test_the_outbox_admin_shows_placeholders_and_no_link(
    client, approval, olivia, mailoutbox, django_user_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)
    links = _delivered(mailoutbox[0])
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    email = OutgoingEmail.objects.get()

    page = client.get(f"/admin/processes/outgoingemail/{email.pk}/change/").content.decode()
    tokens_page = client.get("/admin/processes/actiontoken/").content.decode()

    assert "[[action-link:" in page
    assert LINK_RE.findall(page) == []
    for raw in links.values():
        assert raw not in page
        assert raw not in tokens_page
        assert token_hash(raw) not in tokens_page


# ---------------------------------------------------------------- the data migration


def _scrub() -> None:
    module = importlib.import_module("processes.migrations.0014_outbox_link_placeholders")
    module.scrub_outbox(apps, None)


def _old_style_email(approval, olivia, mailoutbox, capture, *, sent: bool) -> dict[str, str]:
    """An escalation email as the portal stored it before: raw links in its text and HTML."""
    with capture(execute=True):
        escalation_email_send(task=approval, addressee=olivia)
    links = _delivered(mailoutbox[-1])
    email = OutgoingEmail.objects.get()
    ActionToken.objects.update(email=None, placeholder="", minted_at=None)
    email.text, email.html = mailoutbox[-1].body, mailoutbox[-1].alternatives[0][0]
    email.status = OutgoingEmail.Status.SENT if sent else OutgoingEmail.Status.PENDING
    email.save(update_fields=["text", "html", "status"])
    assert links["approve"] in _database_text()
    return links


def test_the_migration_redacts_the_links_of_sent_emails(
    client, approval, olivia, mailoutbox, django_capture_on_commit_callbacks
):
    links = _old_style_email(approval, olivia, mailoutbox, django_capture_on_commit_callbacks, sent=True)

    _scrub()

    email = OutgoingEmail.objects.get()
    assert LINK_RE.findall(email.text + email.html) == []
    assert email.text.count("[link removed]") == 2
    assert links["approve"] not in _database_text()
    # The addressee's mailbox still has working links until they expire (the documented choice).
    assert client.get(f"/links/{links['approve']}/").status_code == 200


def test_the_migration_turns_pending_emails_into_placeholders_and_kills_the_stored_links(
    client, approval, olivia, mailoutbox, settings, django_capture_on_commit_callbacks
):
    links = _old_style_email(approval, olivia, mailoutbox, django_capture_on_commit_callbacks, sent=False)

    _scrub()

    email = OutgoingEmail.objects.get()
    assert LINK_RE.findall(email.text + email.html) == []
    assert email.text.count("[[action-link:") == 2
    _assert_no_working_link_in_database(client, extra=list(links.values()))
    assert mail_deliver(email_id=email.pk) == OutgoingEmail.Status.SENT
    fresh = _delivered(mailoutbox[-1])
    assert client.post(f"/links/{fresh['approve']}/").status_code == 200


# ---------------------------------------------------------------- logs


def test_request_logs_never_carry_a_link_secret(client, approval, olivia, mailoutbox):
    import io
    import logging

    import structlog

    escalation_email_send(task=approval, addressee=olivia)
    mail_deliver(email_id=OutgoingEmail.objects.get().pk)
    links = _delivered(mailoutbox[0])
    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        client.get(f"/links/{links['approve']}/")
        client.get(f"/links/{'x' * 43}/")  # unknown: Django's "Not Found: <path>" warning too
        structlog.get_logger("test").warning("clicked", url=f"http://testserver/links/{links['reject']}/")
    finally:
        handler.setStream(previous)

    logged = stream.getvalue()
    assert "/links/[redacted]/" in logged
    assert "Not Found: /links/[redacted]/" in logged
    for raw in [*links.values(), "x" * 43]:
        assert raw not in logged
