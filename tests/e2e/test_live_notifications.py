"""Live notifications across two browsers on Redis: queues update in place, and a browser that
was offline catches up on what it missed (uvicorn, Celery worker, PostgreSQL, Redis, Chromium).

The watchers are olivia and oscar, both approvers: frank (finance) may not see approval tasks,
so his queue never shows them. The request's stage escalates for real while olivia is offline:
beat's timer sweep and the worker notify her (level 1), then approve it automatically (level 2).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent, Notification, NotificationKind
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in
from tests.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

QUEUE_ROWS = "#live-rows"  # the task list's rows (its table goes when the list is empty)


def test_two_queues_follow_a_request_live_and_a_cut_connection_catches_up(
    live_server_url, beat_process, browser, roles, olivia, oscar, maria, submit_request, shoot
):
    # Time enough to watch, claim and go offline; then the worker escalates, then decides.
    policy_create(
        name="purchase",
        version_fields={"allow_auto_decisions": True},
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(seconds=25),
                "escalation_group": roles["managers"],
                "levels": [
                    (timedelta(0), EscalationAction.NOTIFY),
                    (timedelta(seconds=3), EscalationAction.AUTO_APPROVE),
                ],
            }
        ],
    )
    olivia.first_name, oscar.first_name = "Olivia", "Oscar"
    olivia.save(update_fields=["first_name"])
    oscar.save(update_fields=["first_name"])

    # olivia's websocket goes through a switch the test can open: Chromium's offline mode
    # leaves open websockets alone, so the cut is made here instead.
    cut = {"on": False, "sockets": []}

    def switch(socket):
        if cut["on"]:
            socket.close(code=4000, reason="cut by the test")
            return
        socket.connect_to_server()
        cut["sockets"].append(socket)

    pages = {}
    for name in ("olivia", "oscar"):
        page = log_in(browser, live_server_url, name)
        if name == "olivia":
            page.route_web_socket(re.compile(r"/ws/notifications/"), switch)
        page.goto("/tasks/queue/")
        expect(page.locator("html")).to_have_attribute("data-live", "on")
        pages[name] = page
    olivia_page, oscar_page = pages["olivia"], pages["oscar"]

    # A new request arrives: both queues show it without a reload, with a toast and the bell.
    process = submit_request(title="Ergonomic chair", amount="349.00")
    for page in (olivia_page, oscar_page):
        expect(page.locator(QUEUE_ROWS)).to_contain_text("Ergonomic chair", timeout=5000)
        expect(page.locator(".portal-toast")).to_contain_text("New in your queue: Approve purchase request")
        expect(page.locator("[data-portal-unread]")).to_have_text("1")
        expect(page.locator("#live-count")).to_have_text("1 task")  # the list's own counter
    shoot(olivia_page, "live-01-olivia-queue-toast")

    # olivia claims it: it leaves oscar's queue without a reload.
    olivia_page.locator("tr", has_text="Ergonomic chair").get_by_role("link").first.click()
    olivia_page.get_by_role("button", name="Assign and continue").click()
    expect(oscar_page.locator(QUEUE_ROWS)).not_to_contain_text("Ergonomic chair", timeout=5000)
    expect(oscar_page.locator("#live-count")).to_have_text("0 tasks")
    shoot(oscar_page, "live-02-oscar-queue-after-claim")

    # olivia's connection is cut; meanwhile the worker escalates her overdue task.
    olivia_page.goto("/tasks/inbox/")
    expect(olivia_page.locator("html")).to_have_attribute("data-live", "on")
    cut["on"] = True
    for socket in cut["sockets"]:
        socket.close(code=4000, reason="cut by the test")
    expect(olivia_page.locator("html")).to_have_attribute("data-live", "off", timeout=10000)
    shoot(olivia_page, "live-03-olivia-offline")
    wait_for(
        lambda: Notification.objects.filter(user=olivia, kind=NotificationKind.TASK_ESCALATED).exists(),
        timeout=60,
        what="the worker to escalate olivia's task",
    )
    wait_for(
        lambda: AuditEvent.objects.filter(process=process, action="purchase.approved").exists(),
        timeout=30,
        what="the worker to approve it automatically",
    )
    olivia_page.wait_for_timeout(500)
    expect(olivia_page.locator(".portal-toast", has_text="Escalated")).to_have_count(0)

    # Back online: she reconnects and sees what she missed, once.
    cut["on"] = False
    expect(olivia_page.locator("html")).to_have_attribute("data-live", "on", timeout=20000)
    toast = olivia_page.locator(".portal-toast", has_text="Escalated (overdue): Approve purchase request")
    expect(toast).to_have_count(1)
    expect(olivia_page.locator("[data-portal-unread]")).to_have_text("2")
    shoot(olivia_page, "live-04-olivia-caught-up")

    olivia_page.locator(".portal-bell").click()
    expect(olivia_page.locator("#portal-notification-list")).to_contain_text("Escalated (overdue)")
    shoot(olivia_page, "live-05-notification-center")
    assert task_of(process, "approve").status == STATUS.DONE  # decided by the escalation, not by her
