"""Logging out in one tab ends the live channel of every tab of that browser: the other tab's
socket closes with 4410 and the page reloads to the login page instead of reconnecting
(uvicorn, PostgreSQL, Redis, Chromium)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_logging_out_in_one_tab_sends_the_other_tab_to_the_login_page(
    live_server_url, browser, olivia, shoot
):
    watching = log_in(browser, live_server_url, "olivia")
    watching.goto("/purchase/queue/")
    expect(watching.locator("html")).to_have_attribute("data-live", "on")
    other = watching.context.new_page()
    other.goto("/purchase/queue/")
    csrf = next(c["value"] for c in watching.context.cookies() if c["name"] == "csrftoken")

    response = other.request.post(
        f"{live_server_url}/accounts/logout/",
        headers={"X-CSRFToken": csrf, "Referer": f"{live_server_url}/purchase/queue/"},
        max_redirects=0,
    )

    assert response.status in (200, 302)
    expect(watching).to_have_url(re.compile(r"/accounts/login/"), timeout=5000)
    shoot(watching, "logout-ends-live-pages")
