"""The operations dashboard in the browser, on the demo data (ADR 0020): axe finds no critical or
serious violation at desktop and phone width, nothing scrolls sideways, and a task claimed
elsewhere shows up in the open page without a reload and without moving the focus. The
authorization matrix's row puts the page in the full axe sweep too (test_accessibility.py)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from processes.nodes import celery_job
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from processes.tasks import carrier_callback
from tests.e2e.test_accessibility import Auditor, axe_source  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

URL = "/operations/dashboard/"


def test_the_dashboard_on_demo_data_is_accessible_and_live(live_server_url, browser, axe_source, shoot):  # noqa: F811
    from processes.management.commands.demo_data import Command as DemoData

    # The demo's jobs run inline; the session's worker must not take one first (as in the sweep).
    with (
        mock.patch.object(celery_job, "job_send", return_value=True),
        mock.patch.object(carrier_callback, "apply_async"),
    ):
        DemoData().handle()
    auditor = Auditor(browser, live_server_url, axe_source)
    try:
        page = auditor.page("maria")
        page.goto(URL)
        for panel, text in (
            ("#live-stuck", "Order to cash"),
            ("#live-breached", "Printer toner for the second floor"),
            ("#live-incidents", "Send confirmation"),
            ("#live-types", "Purchase request"),
        ):
            expect(page.locator(panel)).to_contain_text(text)
        auditor.audit(page, "maria operations dashboard (desktop)")
        shoot(page, "operations-dashboard-desktop")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        auditor.audit(page, "maria operations dashboard (390 px)")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(page, "operations-dashboard-phone")
        page.set_viewport_size({"width": 1280, "height": 860})
        assert not auditor.found, auditor.report()

        # Live: olivia claims the overdue request elsewhere; maria's open page shows it held.
        expect(page.locator("html")).to_have_attribute("data-live", "on")
        row = TaskRow.objects.get(subject="Printer toner for the second floor")
        retry = page.locator("#live-incidents button[type=submit]").first
        retry.focus()
        with mock.patch.object(celery_job, "job_send", return_value=True):
            task_claim(task=row.task, user=get_user_model().objects.get(username="olivia"))
        expect(page.locator(f"#ops-breached-{row.task_id}")).to_contain_text("olivia", timeout=10_000)
        assert page.evaluate("document.activeElement.textContent.trim()") == "Retry"  # focus stayed
    finally:
        auditor.close()
