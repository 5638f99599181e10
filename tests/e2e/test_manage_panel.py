"""A process manager fixes a running request from its page (ADR 0017), in the browser: a due time
in the past comes back on the form with its error, what the manager types survives a live update
of the page, a reassignment with a reason lands with the new holder, and the history says who
did it and why."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent
from processes.purchase.services import purchase_request_start
from processes.services import task_claim
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_maria_moves_nothing_into_the_past_and_hands_the_request_to_oscar(
    live_server_url, browser, purchase_policy, alice, olivia, oscar, maria, shoot
):
    process = purchase_request_start(
        requester=alice,
        data={
            "title": "Drawing tablet",
            "amount": Decimal("310.00"),
            "currency": "EUR",
            "justification": "x",
        },
    )
    approve = task_of(process, "approve")
    page = log_in(browser, live_server_url, "maria")
    page.goto(f"/purchase/{process.pk}/")
    panel = page.locator(".portal-manage")
    expect(panel).to_contain_text("Approve purchase request")

    # A due time in the past: the fix's page shows the form again with the error, nothing moves.
    due = panel.locator(f"#manage-task-{approve.pk} form").nth(1)
    due.locator("input[name=due_at]").fill("2020-01-01T09:00")
    due.locator("input[name=reason]").fill("Typo")
    due.locator("button[type=submit]").click()
    expect(page.locator(".portal-field__error").first).to_contain_text("future")
    shoot(page, "manage-01-due-in-the-past")
    assert not AuditEvent.objects.filter(process=process, action="intervention.due_changed").exists()

    # Reassign with a reason, typed while the page updates live (olivia claims the task
    # meanwhile): what maria typed survives the update, and the task lands with oscar.
    page.goto(f"/purchase/{process.pk}/")
    expect(page.locator("html")).to_have_attribute("data-live", "on")
    reassign = page.locator(f"#manage-task-{approve.pk} form").first
    reassign.locator("select[name=to_user]").select_option(value=str(oscar.pk))
    reassign.locator("input[name=reason]").fill("Olivia is on leave this week.")
    task_claim(task=approve, user=olivia)
    expect(page.locator(f"#manage-task-{approve.pk} h3")).to_contain_text("olivia", timeout=10_000)
    expect(reassign.locator("input[name=reason]")).to_have_value("Olivia is on leave this week.")
    expect(reassign.locator("select[name=to_user]")).to_have_value(str(oscar.pk))
    reassign.locator("button[type=submit]").click()
    expect(page.locator(".portal-history")).to_contain_text("Olivia is on leave this week.")
    shoot(page, "manage-02-reassigned")

    approve.refresh_from_db()
    assert (approve.status, approve.owner) == (STATUS.ASSIGNED, oscar)
    event = AuditEvent.objects.get(process=process, action="intervention.reassigned")
    assert (event.actor, event.details["reason"]) == (maria, "Olivia is on leave this week.")
