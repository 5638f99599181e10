"""An escalation email through a real SMTP server, its Approve link followed in Chromium.

The email is sent by `escalation_email_send` (escalation's seam) for olivia's queued task,
received by the test's aiosmtpd server, and its Approve link is opened logged out: the
confirmation page, the confirmation, the approved task, and the process history showing it.
"""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import STATUS

from processes.actionlinks.services import escalation_email_send
from processes.models import AuditEvent
from tests.conftest import task_of
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _parts(raw: bytes) -> tuple[str, str, email.message.EmailMessage]:
    message = email.message_from_bytes(raw, policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html, message


def test_olivia_approves_from_the_escalation_email_in_a_logged_out_browser(
    live_server_url, smtp_sink, settings, browser, purchase_policy, submit_request, olivia, oscar, shoot
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.PORTAL_BASE_URL = live_server_url
    olivia.first_name, olivia.last_name = "Olivia", "Operator"
    olivia.save(update_fields=["first_name", "last_name"])
    process = submit_request(title="Ergonomic chairs", amount="880.00")
    task = task_of(process, "approve")

    escalation_email_send(task=task, addressee=olivia)

    raw = smtp_sink.wait_for_message(lambda m: b"Ergonomic chairs" in m)
    text, html, message = _parts(raw)
    assert message["To"] == "olivia@example.com"
    assert "Ergonomic chairs" in message["Subject"]
    approve_url, reject_url = re.findall(rf"{re.escape(live_server_url)}/links/[A-Za-z0-9_-]{{43}}/", text)
    assert approve_url in html
    assert f"{live_server_url}/purchase/{process.pk}/approve/{task.pk}/" in text

    # The email as a mail client shows it.
    context = browser.new_context(base_url=live_server_url, viewport={"width": 900, "height": 800})
    page = context.new_page()
    page.set_content(html)
    expect(page.get_by_role("link", name="Approve")).to_have_attribute("href", approve_url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "links-01-escalation-email.png"), full_page=True)

    # Logged out, the link shows a confirmation page and changes nothing.
    page.goto(approve_url)
    expect(page.get_by_role("heading")).to_have_text("Approve this purchase request?")
    expect(page.locator(".summary")).to_contain_text("€880.00")  # the amount as English writes it
    expect(page.locator(".summary")).to_contain_text("Team approval")
    shoot(page, "links-02-confirmation")
    task.refresh_from_db()
    assert task.status == STATUS.NEW

    page.fill("#id_comment", "Approved from my phone.")
    page.get_by_role("button", name="Confirm approval").click()
    expect(page.get_by_role("heading")).to_have_text("You approved the request")
    shoot(page, "links-03-done")
    task.refresh_from_db()
    assert task.status == STATUS.DONE
    assert task.owner == olivia
    assert AuditEvent.objects.filter(action="actionlink.used", task=task, actor_name="olivia").exists()

    # The same link again (a second click, or the back button): used.
    page.goto(approve_url)
    expect(page.get_by_role("heading")).to_have_text("This link was already used")
    shoot(page, "links-04-used")

    # Someone else logged in, opening the sibling link: told, nothing done.
    other = log_in(browser, live_server_url, "oscar")
    other.goto(reject_url)
    expect(other.get_by_role("heading")).to_have_text("This link is for someone else")
    shoot(other, "links-05-wrong-user")

    # The history shows the email, the link and the decision.
    page = log_in(browser, live_server_url, "olivia")
    page.goto(f"/purchase/{process.pk}/")
    history = page.locator(".portal-history")
    expect(history).to_contain_text("Escalation email sent")
    expect(history).to_contain_text("Decided by email link")
    expect(history).to_contain_text("Approved from my phone.")
    shoot(page, "links-06-history")
