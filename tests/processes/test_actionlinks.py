"""Email action links: the escalation email, the confirmation page, acting by POST, and every
way a link is refused (each with its own page and status, none a 500), through the real URLconf."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import get_resolver
from django.utils import timezone
from viewflow.workflow.status import STATUS

from processes.actionlinks.models import ActionToken
from processes.actionlinks.services import escalation_email_send
from processes.models import AuditEvent, ProcessComment
from processes.selectors import process_history
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

LINK_RE = re.compile(r"http://testserver/links/([A-Za-z0-9_-]{43})/")


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
    """A request in the approvers' queue: its (unclaimed) approval task."""
    return task_of(submit_request(), "approve")


@pytest.fixture
def links(approval, olivia, mailoutbox, django_capture_on_commit_callbacks):
    """Escalation email to olivia about the queued task; returns the raw tokens by action."""
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)
    text = mailoutbox[-1].body
    approve, reject = LINK_RE.findall(text)
    return {"approve": approve, "reject": reject}


def _url(raw: str) -> str:
    return f"/links/{raw}/"


def _refusals() -> list[str]:
    return [
        e.details["reason"] for e in AuditEvent.objects.filter(action="actionlink.refused").order_by("id")
    ]


# ---------------------------------------------------------------- the email


def test_escalation_email_has_the_summary_and_three_links_and_leaves_after_commit(
    approval, olivia, mailoutbox, django_capture_on_commit_callbacks
):
    class Level:
        order = 2

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        escalation_email_send(task=approval, addressee=olivia, level=Level())
    assert mailoutbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    (mail,) = mailoutbox
    assert mail.to == ["olivia@example.com"]
    assert "Approvals Portal" in mail.subject
    assert "Standing desk" in mail.subject
    assert "escalation level 2" in mail.subject
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html"
    for body in (mail.body, html):
        assert "Approvals Portal" in body
        assert "Standing desk" in body
        assert "€640.00" in body  # the amount as the addressee's language writes it
        assert "alice" in body
        assert "Team approval" in body
        assert "the approvers queue (unclaimed)" in body
        assert f"http://testserver/purchase/{approval.process_id}/approve/{approval.pk}/" in body
    due = approval.created + timedelta(hours=4)
    assert due.strftime("%Y") in mail.body
    assert "is due" in mail.body
    assert len(LINK_RE.findall(mail.body)) == 2
    assert "Approve" in html
    assert "Reject" in html
    assert "Open in portal" in html

    tokens = ActionToken.objects.order_by("action")
    assert [t.action for t in tokens] == ["approve", "reject"]
    raw_approve = LINK_RE.findall(mail.body)[0]
    stored = ActionToken.objects.get(action="approve")
    assert stored.token_hash == hashlib.sha256(raw_approve.encode()).hexdigest()
    assert raw_approve not in stored.token_hash
    assert stored.user == olivia
    assert stored.task_id == approval.pk
    assert stored.escalation_level == 2
    assert (stored.sent_status, stored.sent_owner_id, stored.sent_owner_permission) == (
        STATUS.NEW,
        None,
        approval.owner_permission,  # the stage's candidate permission
    )
    assert stored.expires_at - stored.created_at == timedelta(hours=72)
    event = AuditEvent.objects.get(action="email.sent")
    assert event.process_id == approval.process_id
    assert event.details["to_user"] == "olivia"
    assert event.details["level"] == 2


def test_an_overdue_task_says_it_was_due(approval, olivia, mailoutbox, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(approval.created + timedelta(hours=4, minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        escalation_email_send(task=approval, addressee=olivia)

    assert "It was due" in mailoutbox[0].body


def test_an_email_given_up_is_audited_not_raised(
    approval, olivia, settings, django_capture_on_commit_callbacks
):
    """The outbox retries (tests/processes/test_mail.py); the last failed attempt is audited."""
    from tests.stack import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_MAX_ATTEMPTS = 1

    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=olivia)

    failed = AuditEvent.objects.get(action="email.failed")
    assert failed.process_id == approval.process_id
    assert failed.details["to_user"] == "olivia"
    assert "Email not delivered" in [row["what"] for row in process_history(approval.process)]


def test_an_addressee_without_an_address_is_skipped_and_audited(approval, olivia, mailoutbox):
    olivia.email = ""
    olivia.save(update_fields=["email"])

    escalation_email_send(task=approval, addressee=olivia)

    assert mailoutbox == []
    assert ActionToken.objects.count() == 0
    rows = [r for r in process_history(approval.process) if r["what"] == "Escalation email not sent"]
    assert rows[0]["detail"] == "to olivia: no email address"


def test_only_purchase_approval_tasks_get_email_links(approval, olivia):
    start = task_of(approval.process, "start")

    with pytest.raises(ValueError, match="not decided with a yes or no"):
        escalation_email_send(task=start, addressee=olivia)


def test_an_addressee_who_cannot_decide_gets_the_portal_link_only(
    approval, frank, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation_email_send(task=approval, addressee=frank)

    (mail,) = mailoutbox
    assert LINK_RE.findall(mail.body) == []
    assert "Open in portal" in mail.body
    assert "cannot decide this task" in mail.body
    assert ActionToken.objects.count() == 0


def test_a_rolled_back_escalation_sends_nothing(
    approval, olivia, mailoutbox, django_capture_on_commit_callbacks
):
    from django.db import transaction

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        escalation_email_send(task=approval, addressee=olivia)
        raise RuntimeError("escalation failed")

    assert mailoutbox == []
    assert ActionToken.objects.count() == 0


# ---------------------------------------------------------------- GET never acts


@pytest.mark.parametrize("method", ["get", "head"])
def test_opening_a_link_shows_a_confirmation_and_changes_nothing(client, approval, links, method):
    response = getattr(client, method)(_url(links["approve"]))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    if method == "get":
        page = response.content.decode()
        assert "Approve this purchase request?" in page
        for fact in ("Standing desk", "€640.00", "alice", "Team approval", "Confirm approval"):
            assert fact in page
    approval.refresh_from_db()
    assert (approval.status, approval.owner_id) == (STATUS.NEW, None)
    assert not ActionToken.objects.filter(used_at__isnull=False).exists()
    opened = AuditEvent.objects.get(action="actionlink.opened")
    assert opened.details["method"] == method.upper()
    assert opened.actor_name == "olivia"


def test_the_reject_page_asks_for_a_reason(client, links):
    page = client.get(_url(links["reject"])).content.decode()

    assert "Reject this purchase request?" in page
    assert "required" in page


# ---------------------------------------------------------------- acting


def test_posting_the_approve_link_claims_and_approves_as_the_addressee_without_logging_in(
    client, approval, links, olivia
):
    response = client.post(_url(links["approve"]), {"comment": "Fine by me."})

    assert response.status_code == 200
    assert "You approved the request" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == STATUS.DONE
    assert approval.owner == olivia
    assert approval.process.purchaseprocess.approved is True
    assert "_auth_user_id" not in client.session  # the token acted once; nobody is logged in
    used = AuditEvent.objects.get(action="actionlink.used")
    assert used.actor_name == "olivia"
    assert used.details["action"] == "approve"
    assert AuditEvent.objects.filter(action="purchase.approved", actor_name="olivia").count() == 1
    assert ActionToken.objects.get(action="approve").used_at is not None
    whats = [row["what"] for row in process_history(approval.process)]
    assert "Escalation email sent" in whats
    assert "Decided by email link" in whats
    assert "Approved" in whats


def test_a_logged_in_addressee_may_use_their_own_link(client, approval, links, olivia):
    client.force_login(olivia)

    response = client.post(_url(links["approve"]))

    assert response.status_code == 200
    approval.refresh_from_db()
    assert approval.status == STATUS.DONE


def test_rejecting_needs_a_comment_and_keeps_it(client, approval, links):
    empty = client.post(_url(links["reject"]), {"comment": "  "})
    assert empty.status_code == 400
    assert "A rejection needs a comment" in empty.content.decode()
    approval.refresh_from_db()
    assert approval.status == STATUS.NEW
    assert ActionToken.objects.get(action="reject").used_at is None

    response = client.post(_url(links["reject"]), {"comment": "Too expensive."})

    assert response.status_code == 200
    assert "You rejected the request" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == STATUS.DONE
    assert approval.process.purchaseprocess.approved is False
    assert ProcessComment.objects.get().text == "Too expensive."


def test_a_double_click_approves_once_and_the_second_sees_used(client, approval, links):
    first = client.post(_url(links["approve"]))
    second = client.post(_url(links["approve"]))

    assert first.status_code == 200
    assert second.status_code == 410
    assert "This link was already used" in second.content.decode()
    assert AuditEvent.objects.filter(action="purchase.approved").count() == 1
    assert _refusals() == ["used"]


def test_the_sibling_link_after_a_decision_says_who_decided_and_when(client, approval, links):
    client.post(_url(links["approve"]))

    response = client.get(_url(links["reject"]))

    assert response.status_code == 409
    page = response.content.decode()
    assert "already decided" in page
    assert "olivia approved it on" in page


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "token",
    ["nonsense", "x" * 43, "x" * 42 + "=", "A" * 200],
)
def test_unknown_or_malformed_links_get_a_404_page(client, token):
    response = client.get(_url(token))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert _refusals() == []  # no process to attach it to: logged, not audited


def test_a_tampered_link_is_unknown(client, approval, links):
    raw = links["approve"]
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    response = client.post(_url(tampered))

    assert response.status_code == 404
    approval.refresh_from_db()
    assert approval.status == STATUS.NEW


def test_an_expired_link_gets_a_410_page(client, approval, links):
    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1), tick=False):
        get = client.get(_url(links["approve"]))
        post = client.post(_url(links["approve"]))

    assert get.status_code == post.status_code == 410
    assert "This link has expired" in post.content.decode()
    approval.refresh_from_db()
    assert approval.status == STATUS.NEW
    assert _refusals() == ["expired", "expired"]


def test_housekeeping_forgets_tokens_a_keeping_time_after_they_expired(approval, links, settings):
    from processes.actionlinks.services import action_tokens_prune

    settings.ACTION_LINK_TTL_HOURS, settings.ACTION_LINK_KEEP_DAYS = 72, 30
    expired = timezone.now() + timedelta(hours=72)

    assert action_tokens_prune(now=expired + timedelta(days=29)) == 0
    assert action_tokens_prune(now=expired + timedelta(days=30, seconds=1)) == 2
    assert ActionToken.objects.count() == 0


def test_someone_else_logged_in_is_told_and_nothing_happens(client, approval, links, oscar):
    client.force_login(oscar)

    get = client.get(_url(links["approve"]))
    post = client.post(_url(links["approve"]))

    assert get.status_code == post.status_code == 403
    page = post.content.decode()
    assert "You are logged in as oscar" in page
    assert "sent to olivia" in page
    approval.refresh_from_db()
    assert (approval.status, approval.owner_id) == (STATUS.NEW, None)
    assert ActionToken.objects.get(action="approve").used_at is None
    assert _refusals() == ["wrong_user", "wrong_user"]
    assert AuditEvent.objects.filter(action="actionlink.refused").last().details["viewer"] == "oscar"
    details = [
        row["detail"] for row in process_history(approval.process) if row["what"] == "Email link refused"
    ]
    assert details[-1] == "approve link: someone else was logged in (oscar)"


def test_a_task_decided_in_the_portal_meanwhile_gets_a_409_naming_who(client, approval, links, oscar):
    from processes.purchase.services import purchase_task_decide

    task_claim(task=approval, user=oscar)
    purchase_task_decide(task=approval, user=oscar, approved=True, comment="")

    response = client.post(_url(links["approve"]))

    assert response.status_code == 409
    page = response.content.decode()
    assert "already decided" in page
    assert "oscar approved it on" in page
    assert _refusals() == ["decided"]


def test_a_task_claimed_by_someone_else_since_the_email_is_refused(client, approval, links, oscar):
    task_claim(task=approval, user=oscar)

    response = client.post(_url(links["approve"]))

    assert response.status_code == 409
    assert "changed hands" in response.content.decode()
    assert "oscar" in response.content.decode()
    approval.refresh_from_db()
    assert approval.owner == oscar
    assert approval.status == STATUS.ASSIGNED
    assert _refusals() == ["reassigned"]


def test_a_task_rerouted_to_another_group_since_the_email_is_refused(client, approval, links):
    approval.owner_permission = "purchase.manage_purchaseprocess"
    approval.save(update_fields=["owner_permission"])

    response = client.post(_url(links["approve"]))

    assert response.status_code == 409
    assert _refusals() == ["reassigned"]


def test_the_addressee_claiming_it_in_the_portal_meanwhile_still_lets_the_link_act(
    client, approval, links, olivia
):
    task_claim(task=approval, user=olivia)

    response = client.post(_url(links["approve"]))

    assert response.status_code == 200
    approval.refresh_from_db()
    assert approval.status == STATUS.DONE


def test_an_inactive_addressee_may_no_longer_act(client, approval, links, olivia):
    olivia.is_active = False
    olivia.save(update_fields=["is_active"])

    response = client.post(_url(links["approve"]))

    assert response.status_code == 403
    assert (
        "no longer have the permission" in response.content.decode()
        or "inactive" in response.content.decode()
    )
    approval.refresh_from_db()
    assert approval.status == STATUS.NEW
    assert _refusals() == ["not_allowed"]


def test_an_addressee_who_left_the_group_may_no_longer_act(client, approval, links, olivia):
    olivia.groups.remove(Group.objects.get(name="approvers"))

    get = client.get(_url(links["approve"]))
    post = client.post(_url(links["approve"]))

    assert get.status_code == post.status_code == 403
    approval.refresh_from_db()
    assert approval.status == STATUS.NEW
    assert ActionToken.objects.get(action="approve").used_at is None


def test_a_closed_task_is_no_longer_open(client, approval, links):
    with approval.activation() as activation:
        activation.cancel()

    response = client.get(_url(links["approve"]))

    assert response.status_code == 409
    assert "no longer open" in response.content.decode()


def test_a_busy_process_lock_gets_a_409_page_and_the_link_still_works(client, approval, links, monkeypatch):
    from contextlib import contextmanager

    from viewflow.workflow.exceptions import FlowLockFailed

    from processes.purchase.flows import PurchaseFlow

    @contextmanager
    def busy(process_pk):
        raise FlowLockFailed("held by a job")
        yield

    with monkeypatch.context() as patch:
        patch.setattr(PurchaseFlow, "lock", busy)
        response = client.post(_url(links["approve"]))

    assert response.status_code == 409
    assert "Someone else is changing this request" in response.content.decode()
    assert ActionToken.objects.get(action="approve").used_at is None
    assert _refusals() == ["busy"]
    assert client.post(_url(links["approve"])).status_code == 200


# ---------------------------------------------------------------- rate limits


def test_one_token_is_rate_limited_with_a_429_page_audited_once(client, settings, links):
    settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN = 3
    responses = [client.get(_url(links["approve"])) for _ in range(5)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert responses[-1]["Retry-After"] == "60"
    assert "Too many requests" in responses[-1].content.decode()
    assert _refusals() == ["rate_limited"]
    assert client.get(_url(links["reject"])).status_code == 200  # another token, same client


def test_one_client_address_is_rate_limited_across_tokens(client, settings):
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 4
    statuses = [client.get(_url(f"guess{i:038d}")).status_code for i in range(6)]

    assert statuses == [404, 404, 404, 404, 429, 429]
    other = client.get(_url("guess"), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 404


# ---------------------------------------------------------------- admin


def test_the_admin_lists_tokens_read_only_without_hashes(client, links, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin)
    token = ActionToken.objects.first()

    listing = client.get("/admin/processes/actiontoken/")
    detail = client.get(f"/admin/processes/actiontoken/{token.pk}/change/")

    assert listing.status_code == detail.status_code == 200
    assert token.token_hash not in detail.content.decode()
    assert client.get("/admin/processes/actiontoken/add/").status_code == 403
