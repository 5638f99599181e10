"""The whole escalation promise on the real stack: a request with a 2-second SLA escalates on
time (beat and a worker), the escalation email reaches a real SMTP server (aiosmtpd), maria opens
its Approve link in Chromium without logging in, confirms, and the request is approved; the
history shows the escalation and the decision by email."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy as email_policy

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_two_second_sla_emails_maria_who_approves_from_the_link(
    live_server_url, beat_process, smtp_sink, browser, roles, maria, submit_request, shoot
):
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(seconds=2),
                "escalation_group": roles["managers"],
                "escalation_user": maria,
                "levels": [(timedelta(0), EscalationAction.EMAIL)],
            }
        ],
    )
    process = submit_request(title="Overdue standing desk", amount="640.00")
    task = task_of(process, "approve")
    due = task.created + timedelta(seconds=2)

    raw = smtp_sink.wait_for_message(lambda m: b"Overdue standing desk" in m, timeout=30)
    escalated = AuditEvent.objects.get(process=process, action="task.escalated")
    assert 0 <= (escalated.created_at - due).total_seconds() < 2  # on time: p99 target < 2 s
    message = email.message_from_bytes(raw, policy=email_policy.default)
    assert message["To"] == maria.email
    text = message.get_body(preferencelist=("plain",)).get_content()
    approve_path = re.findall(r"/links/[A-Za-z0-9_-]{43}/", text)[0]  # Approve comes first

    # A browser with nobody logged in, as a phone's mail app opens it.
    context = browser.new_context(base_url=live_server_url)
    page = context.new_page()
    page.goto(approve_path)
    expect(page.get_by_role("heading")).to_have_text("Approve this purchase request?")
    expect(page.locator(".summary")).to_contain_text("Overdue standing desk")
    shoot(page, "escalation-email-01-confirmation")
    task.refresh_from_db()
    assert task.status == STATUS.NEW  # opening the link changed nothing
    page.fill("#id_comment", "Approved on the road.")
    page.get_by_role("button", name="Confirm approval").click()
    expect(page.get_by_role("heading")).to_have_text("You approved the request")
    task.refresh_from_db()
    assert (task.status, task.owner) == (STATUS.DONE, maria)

    history = log_in(browser, live_server_url, "maria")
    history.goto(f"/purchase/{process.pk}/")
    panel = history.locator(".portal-history")
    expect(panel).to_contain_text("Escalated")
    expect(panel).to_contain_text("Escalation email sent")
    expect(panel).to_contain_text("Decided by email link")
    expect(panel).to_contain_text("Approved on the road.")
    shoot(history, "escalation-email-02-history")
