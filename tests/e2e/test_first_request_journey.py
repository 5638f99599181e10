"""alice submits a purchase request, olivia approves it from her queue, and the worker creates
the purchase order: the whole stack (uvicorn, Celery worker, PostgreSQL, Redis, Chromium)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import PROCESS

from processes.models import AuditEvent
from processes.purchase.models import PurchaseOrder, PurchaseProcess
from tests.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def log_in(browser, base_url: str, username: str):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username_control", username)
    page.fill("#id_password_control", "portal-demo")
    page.click("button[type=submit]")
    expect(page.locator(".vf-page__menu, .mdc-drawer").first).to_contain_text(username.capitalize())
    return page


def test_alice_submits_olivia_approves_and_the_worker_creates_the_order(
    live_server_url, celery_worker_process, browser, alice, olivia, shoot
):
    """(The stack comes first: its database setup must run before Playwright starts its loop.)"""
    for user, first_name in ((alice, "Alice"), (olivia, "Olivia")):
        user.first_name = first_name
        user.save(update_fields=["first_name"])

    # alice logs in with the demo password and submits a request.
    page = log_in(browser, live_server_url, "alice")
    shoot(page, "01-alice-dashboard")
    page.get_by_text("New purchase request").click()
    page.fill("#id_title_control", "Ergonomic keyboard")
    page.fill("#id_amount_control", "89.90")
    page.fill("#id_justification_control", "Wrist pain after long days.")
    shoot(page, "02-alice-start-form")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("body")).to_contain_text("Ergonomic keyboard: 89.90 EUR")  # its card on the dashboard
    process = PurchaseProcess.objects.get(title="Ergonomic keyboard")
    assert process.requester == alice

    # olivia finds it in her queue, claims it and approves it.
    page = log_in(browser, live_server_url, "olivia")
    page.goto("/purchase/queue/")
    expect(page.locator("body")).to_contain_text("Ergonomic keyboard")
    shoot(page, "03-olivia-queue")
    page.locator("tr", has_text="Ergonomic keyboard").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/approve/\d+/assign/"))
    shoot(page, "04-olivia-claim")
    page.get_by_role("button", name="Assign and continue").click()
    expect(page).to_have_url(re.compile(r"/approve/\d+/execute/"))
    page.get_by_label("Approve", exact=True).check()
    page.fill("#id_comment_control", "Fine, within budget.")
    shoot(page, "05-olivia-decision")
    page.get_by_role("button", name="Execute", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/execute/"))

    # The worker creates the purchase order and finishes the process.
    def finished() -> bool:
        process.refresh_from_db()
        return process.status == PROCESS.DONE

    wait_for(finished, timeout=30, what="the worker to create the purchase order")
    assert PurchaseOrder.objects.get(process=process).number == f"PO-{process.pk:06d}"

    page = log_in(browser, live_server_url, "alice")
    page.goto(f"/purchase/{process.pk}/")
    expect(page.locator("body")).to_contain_text("Create purchase order")
    shoot(page, "06-alice-process-done")
    assert AuditEvent.objects.filter(process=process, action="process.finished").exists()
