"""An overdue approval reaches the escalation group in the browser: maria (managers) finds it in
her queue once its level fires, sees the escalation in the history, and approves it."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes import scheduler
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from processes.purchase.services import purchase_request_start
from tests.e2e.test_first_request_journey import log_in
from tests.e2e.test_policy_journeys import _claim_and_approve

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_maria_takes_over_an_overdue_approval(
    live_server_url, celery_worker_process, browser, roles, alice, olivia, maria, shoot
):
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(seconds=2),
                "escalation_group": roles["managers"],
                "levels": [(timedelta(0), EscalationAction.ADD_CANDIDATES)],
            }
        ],
    )
    process = purchase_request_start(
        requester=alice,
        data={
            "title": "Overdue monitor arm",
            "amount": Decimal("90.00"),
            "currency": "EUR",
            "justification": "Neck.",
        },
    )
    timer = Task.objects.get(process=process, flow_task_type="TIMER")
    time.sleep(max(0.0, (timer.scheduled - timezone.now()).total_seconds()) + 0.1)
    # What a worker runs for the sweep's message (the beat path itself: tests/services/test_escalation.py).
    assert scheduler.timers_fire(task_ids=[timer.pk]) == 1

    page = log_in(browser, live_server_url, "maria")
    page.goto("/purchase/queue/")
    expect(page.locator("body")).to_contain_text("Overdue monitor arm")
    shoot(page, "escalation-01-maria-queue")
    page.goto(f"/purchase/{process.pk}/")
    history = page.locator(".portal-history")
    expect(history).to_contain_text("Escalated")
    expect(history).to_contain_text("Add the escalation group as candidates (managers)")
    shoot(page, "escalation-02-history-escalated")

    _claim_and_approve(page, "Overdue monitor arm", "Taking it: overdue.")
    page.goto(f"/purchase/{process.pk}/")
    expect(page.locator(".portal-history")).to_contain_text("Taking it: overdue.")
    shoot(page, "escalation-03-history-approved")
    assert Task.objects.get(process=process, flow_task=process.flow_class.approve).status == STATUS.DONE
