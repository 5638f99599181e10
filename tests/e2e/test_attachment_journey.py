"""Attachments in the browser: alice attaches a quote to her request; olivia sees it on the task
page beside the diagram and the history, downloads it, and approves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import get_resolver
from playwright.sync_api import expect

from processes.attachments.models import Attachment
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in
from tests.processes.attachments.conftest import PDF

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_alice_attaches_a_quote_and_olivia_downloads_it_and_approves(
    live_server_url, browser, purchase_policy, alice, olivia, shoot, tmp_path
):
    quote = tmp_path / "desk quote.pdf"
    quote.write_bytes(PDF)
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")

    page = log_in(browser, live_server_url, "alice")
    page.get_by_text("New purchase request").click()
    page.fill("#id_title_control", "Standing desk")
    page.fill("#id_amount_control", "640.00")
    page.fill("#id_justification_control", "Back pain.")
    # A file whose bytes are not what its name says: refused on the form, nothing created.
    page.set_input_files("input[type=file][name=attachments]", [str(quote), str(fake)])
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("body")).to_contain_text("invoice.pdf does not contain what its name says")
    shoot(page, "attachments-01-alice-refused-file")
    assert PurchaseProcess.objects.count() == 0
    assert Attachment.objects.count() == 0

    page.fill("#id_title_control", "Standing desk")
    page.fill("#id_amount_control", "640.00")
    page.fill("#id_justification_control", "Back pain.")
    page.set_input_files("input[type=file][name=attachments]", [str(quote)])
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/start/"))
    process = PurchaseProcess.objects.get(title="Standing desk")
    page.goto(f"/purchase/{process.pk}/")
    expect(page.locator(".portal-attachments")).to_contain_text("desk quote.pdf")
    shoot(page, "attachments-02-alice-process-page")
    (attachment,) = Attachment.objects.filter(process_id=process.pk)
    assert (attachment.content_type, attachment.size) == ("application/pdf", len(PDF))

    page = log_in(browser, live_server_url, "olivia")
    page.goto("/purchase/queue/")
    expect(page.locator("tr", has_text="Standing desk")).to_have_count(1)
    # A full page load rather than a click: the queue's live update (live.js) can land after a
    # Turbo navigation and replace the next page's content (seen under load; see the report).
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    page.goto(task_of(process, "approve").reverse("assign"))
    shoot(page, "attachments-03-olivia-assign")
    page.get_by_role("button", name="Assign and continue").click()
    expect(page).to_have_url(re.compile(r"/approve/\d+/execute/"))
    expect(page.locator(".portal-attachments")).to_contain_text("desk quote.pdf")
    expect(page.locator(".portal-diagram svg")).to_be_visible()
    expect(page.locator('.portal-diagram g#approve[class="assigned"]')).to_have_count(1)
    history = page.locator(".portal-history")
    expect(history).to_contain_text("Submitted")
    expect(history).to_contain_text("Attached")
    expect(history).to_contain_text("Claimed")
    shoot(page, "attachments-04-olivia-task-page")

    with page.expect_download() as download_info:
        page.locator(".portal-attachments a", has_text="desk quote.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "desk quote.pdf"
    assert Path(download.path()).read_bytes() == PDF

    page.get_by_label("Approve", exact=True).check()
    page.fill("#id_comment_control", "Quote is fine.")
    page.get_by_role("button", name="Execute", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/execute/"))
    process.refresh_from_db()
    assert process.approved is True
    page.goto(f"/purchase/{process.pk}/")
    expect(page.locator(".portal-history")).to_contain_text("Quote is fine.")
    shoot(page, "attachments-05-olivia-process-page-after")
