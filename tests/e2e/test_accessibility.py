"""WCAG 2.1 AA in the browser: axe-core checks every page each demo role can open, in the empty,
full and error states, and finds no critical or serious violation.

The page list is the authorization matrix's (tests/portal/authorization_matrix.csv lists every
route the resolver knows): each GET row, its parameters filled from the demo data the matrix
test builds (`build_scene`), minus the routes that answer no HTML page. A role audits what it
gets: a page it may not see is its refusal page, audited once. The admin's pages are audited
for the superuser only: its index, each model's list and change page.

axe-core comes from the npm registry into var/node-axe/ (git-ignored), once, pinned; later runs
find it there. When it cannot be installed, the test fails and says why. One browser, one
context per role, the session's live uvicorn.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from unittest import mock

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from processes.nodes import celery_job
from processes.tasks import carrier_callback
from tests.e2e.conftest import npm_package
from tests.portal.test_authorization_matrix import (
    USERNAMES,
    build_scene,
    resolver_routes,
    route_url,
    row_params,
    table_rows,
)

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

AXE_VERSION = "4.11.0"
PROGRESS = os.environ.get("PORTAL_A11Y_PROGRESS") == "1"  # print each audit as it runs (with -s)
NODE_DIR = Path(__file__).resolve().parents[2] / "var" / "node-axe"  # not var/node: npm prunes

# The demo's people (processes/management/commands/demo_data.py), one browser context each.
ROLES = ("alice", "olivia", "frank", "maria", "fiona", "hana", "admin")
# The matrix's roles, to fill a row's parameters per person (fiona and hana as anonymous do:
# with parameters that name no object of theirs).
MATRIX_ROLE = {username: role for role, username in USERNAMES.items() if username} | {
    "fiona": "anonymous",
    "hana": "anonymous",
}

# Routes that answer no HTML page (data, files, redirects that act), or a third party's page.
NOT_PAGES = re.compile(
    r"^(healthz|readyz|metrics|logout|task_counts|notifications_read_all|notification_open|notification_read"
    r"|attachment_download|api:.*|admin:(jsi18n|autocomplete|view_on_site|logout|catalog_typeversion_export_.*)"
    r"|tasks:(bulk_claim|claim|unclaim)|absence_cancel)$"
)
# The admin's main pages: its index, an app's index, and each model's list and change page (an
# add page has the change page's widgets; the error state submits one).
ADMIN_PAGES = re.compile(r"^admin:(index|app_list|\w+_(changelist|change))$")

RUN_AXE = """
async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    resultTypes: ["violations"],
  });
  return result.violations
    .filter((v) => v.impact === "critical" || v.impact === "serious")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary)}));
}
"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's bundle: installed with npm into var/node-axe/ when missing or another version."""
    return npm_package("axe-core", AXE_VERSION, NODE_DIR, "axe.min.js").read_text()


class Auditor:
    """One logged-in browser context per person; audits pages and collects what axe finds."""

    def __init__(self, browser, base_url: str, axe_source: str) -> None:
        self.browser, self.base_url, self.axe_source = browser, base_url, axe_source
        self.pages: dict[str, object] = {}
        self.found: list[str] = []
        self.audited = 0
        self.timings: list[tuple[float, str]] = []
        self.seen: set[tuple[str, str]] = set()  # (person, what they saw): each is audited once

    def page(self, username: str):
        if username not in self.pages:
            # bypass_csp: the audit injects axe-core; tests/e2e/test_csp.py checks the policy itself.
            context = self.browser.new_context(
                base_url=self.base_url, viewport={"width": 1280, "height": 860}, bypass_csp=True
            )
            page = context.new_page()
            page.goto("/accounts/login/")
            page.fill("#id_username_control", username)
            page.fill("#id_password_control", "portal-demo")
            page.click("button[type=submit]")
            expect(page.locator(".vf-page__menu, .mdc-drawer").first).to_contain_text(
                f"{username}@example.com"
            )
            self.pages[username] = page
        return self.pages[username]

    def audit(self, page, label: str) -> None:
        page.wait_for_load_state("load")
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_source)
        self.audited += 1
        started = time.monotonic()
        violations = page.evaluate(RUN_AXE)
        self.timings.append((time.monotonic() - started, label))
        if PROGRESS:
            print(f"a11y {time.monotonic() - started:.2f}s {len(violations)} {label}", flush=True)
        for violation in violations:
            nodes = "\n      ".join(violation["nodes"])
            self.found.append(
                f"{label}: {violation['impact']} {violation['id']} ({violation['help']})\n      {nodes}"
            )

    def visit(self, username: str, url: str, label: str = "") -> bool:
        """Open `url` as `username` and audit what it shows; False when it is no HTML page."""
        page = self.page(username)
        try:
            response = page.goto(url)
        except PlaywrightError:  # a bodiless answer (a 405 to a GET of a POST-only route)
            return False
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            return False
        landed = page.url.removeprefix(self.base_url)
        # A refusal looks the same whatever was refused: its page is audited once per person.
        seen = str(response.status) if response.status >= 400 else landed
        if (username, seen) in self.seen:
            return True
        self.seen.add((username, seen))
        self.audit(page, f"{username} {label or url} -> {landed} [{response.status}]")
        return True

    def refusal_seen(self, username: str) -> bool:
        return (username, "403") in self.seen or (username, "404") in self.seen

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()

    def report(self) -> str:
        return f"{len(self.found)} critical or serious violations in {self.audited} audits:\n" + "\n".join(
            self.found
        )


@pytest.fixture
def auditor(live_server_url, browser, axe_source):
    found = Auditor(browser, live_server_url, axe_source)
    yield found
    found.close()


def _submit_empty(auditor: Auditor, username: str, url: str, field: str, label: str) -> None:
    """Open the form at `url` and send it as it is (the browser's own checks off, as an old
    browser would): the server answers with its errors."""
    page = auditor.page(username)
    page.goto(url)
    page.evaluate(
        "(name) => { const form = document.querySelector(`input[name=${name}], textarea[name=${name}]`).form; form.noValidate = true; form.submit(); }",
        field,
    )
    page.wait_for_load_state("load")
    expect(
        page.locator(".errorlist, .vf-field__errors, .mdc-text-field-helper-text, [aria-invalid=true]").first
    ).to_be_attached()
    auditor.audit(page, f"{username} error {label} -> {page.url.removeprefix(auditor.base_url)}")


def _error_states(auditor: Auditor) -> None:
    """Forms submitted invalid: the task list's filter, a start form, the admin's add form, the
    password change, and a failed login."""
    page = auditor.page("olivia")
    page.goto("/tasks/queue/?amount_min=abc&amount_max=-")
    expect(page.locator(".portal-field__error").first).to_be_visible()
    auditor.audit(page, "olivia error tasks:queue filter")
    _submit_empty(auditor, "alice", "/purchase/start/", "title", "purchase:start")
    _submit_empty(auditor, "admin", "/admin/auth/user/add/", "username", "admin:auth_user_add")
    _submit_empty(auditor, "frank", "/accounts/password_change/", "old_password", "password_change")
    _submit_empty(auditor, "olivia", "/accounts/absence/", "starts_at", "absence")

    context = auditor.browser.new_context(base_url=auditor.base_url, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        auditor.audit(page, "anonymous login")
        page.fill("#id_username_control", "olivia")
        page.fill("#id_password_control", "not-her-password")
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))
        auditor.audit(page, "anonymous error login")
    finally:
        context.close()


def _page_rows():
    routes = resolver_routes()
    for row in table_rows():
        if row.method != "GET" or NOT_PAGES.match(row.route or "-"):
            continue
        route = routes[row.key]
        if not row.route:  # the admin's unnamed redirects (old change URLs) and its catch-all
            continue
        yield row, route


def _finish(auditor: Auditor, state: str, started: float) -> None:
    print(f"accessibility, {state}: {auditor.audited} audits in {time.monotonic() - started:.1f} s")
    assert not auditor.found, auditor.report()


def test_empty_state_every_page_for_every_role(live_server_url, auditor):
    """The people and no process yet: every page without parameters (empty lists and centers)."""
    from processes.management.commands.demo_data import Command as DemoData

    started = time.monotonic()
    DemoData()._users()
    for username in ROLES:
        for row, route in _page_rows():
            if route.converters or row.route.startswith("admin:"):
                continue
            auditor.visit(username, route_url(route, {}), f"empty {row.route}")
    _finish(auditor, "empty", started)


# The one long sweep of the suite (every page for every role, with data): 780 s alone on a loaded
# 2-core machine on 2026-12-03, beyond the suite's 300 s per test.
@pytest.mark.timeout(1200)
def test_full_state_every_page_for_every_role(live_server_url, auditor, shoot):
    """The demo data (and what the matrix test adds to it): every page. A page the matrix says a
    role is refused is skipped once that role's refusal page has been audited."""
    started = time.monotonic()
    # The demo runs its orders' jobs inline, as the worker would. The session's live worker (other
    # modules started it) must not take a job or a carrier callback first: the scene would find
    # other states than the ones it checks. Nothing is sent to the broker while it is built.
    with (
        mock.patch.object(celery_job, "job_send", return_value=True),
        mock.patch.object(carrier_callback, "apply_async"),
    ):
        scene = build_scene()
    for username in ROLES:
        visited: set[str] = set()
        role = MATRIX_ROLE[username]
        for row, route in _page_rows():
            is_admin = row.route.startswith("admin:")
            if is_admin and (username != "admin" or not ADMIN_PAGES.match(row.route)):
                continue
            if (
                role != "anonymous"
                and row.expected[role] in ("403", "404")
                and auditor.refusal_seen(username)
            ):
                continue
            params = dict(row_params(scene, row, role))
            params.pop("_data", None)  # a POST's body: the sweep only GETs
            url = route_url(route, params)
            if url in visited:
                continue
            visited.add(url)
            auditor.visit(username, url, row.route)
    # The demo's overdue request is in olivia's queue from the start, marked so.
    page = auditor.page("olivia")
    page.goto("/tasks/queue/?overdue=on")
    overdue = page.locator(
        "#live-rows tbody tr.portal-overdue", has_text="Printer toner for the second floor"
    )
    expect(overdue.locator(".portal-overdue__label")).to_have_text(re.compile("overdue", re.IGNORECASE))
    shoot(page, "a11y-olivia-queue-overdue")
    _finish(auditor, "full", started)


def test_error_state_forms_submitted_invalid(live_server_url, auditor, purchase_policy):
    """Forms submitted invalid, as each kind of person meets them."""
    from processes.management.commands.demo_data import Command as DemoData

    started = time.monotonic()
    DemoData()._users()
    _error_states(auditor)
    _finish(auditor, "error", started)
