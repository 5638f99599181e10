"""The attack suite (issue 11): demo accounts attack the live uvicorn server on PostgreSQL.

Each test is one attacker with a browser of their own (a cookie jar, the real login form, CSRF
tokens, no redirect followed unless asked), acting over real HTTP or websockets. Each asserts
that the attack is refused AND that the database did not move: no decision recorded, the task
still with its holder, nothing handed to the wrong person. The gate's unit tests
(tests/processes/test_gate.py) hold the same classes in-process; these hold the deployed stack.

Classes 5, 6 and 7 are written to the secure expectation of the fixes being made in other
branches (next= on the hand-over pages, action-link secrets at rest, the small leaks and floods).
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import transaction
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent
from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "portal-demo"
LINK_SECRET = re.compile(r"/links/([A-Za-z0-9_-]{16,})/")


# ---------------------------------------------------------------- the attacker's browser


@dataclass
class Page:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 30x comes back as it is: an attacker reads where it points


class Browser:
    """One client of the live server: its own cookies, CSRF handled like a browser's form."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=30) as response:
                return Page(response.status, response.read().decode(errors="replace"), _lower(response))
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.read().decode(errors="replace"), _lower(exc))

    def get(self, path: str, follow: bool = False) -> Page:
        page = self._open(urllib.request.Request(self.base + path))  # noqa: S310 - our live server
        hops = 0
        while follow and page.status in (301, 302, 303) and hops < 5:
            target = page.location
            path = target if target.startswith("/") else urlsplit(target).path + "?" + urlsplit(target).query
            page = self._open(urllib.request.Request(self.base + path))  # noqa: S310
            hops += 1
        return page

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def csrf(self) -> str:
        """The CSRF token a form of this site would carry (the login page sets the cookie)."""
        if self.cookie("csrftoken") is None:
            self.get("/accounts/login/")
        return self.cookie("csrftoken") or ""

    def post(self, path: str, data: dict | None = None, headers: dict | None = None) -> Page:
        body = urlencode({"csrfmiddlewaretoken": self.csrf(), **(data or {})}, doseq=True).encode()
        request = urllib.request.Request(  # noqa: S310 - our live server
            self.base + path,
            data=body,
            headers={"Origin": self.base, "Referer": self.base + path, **(headers or {})},
            method="POST",
        )
        return self._open(request)

    def login(self, username: str, password: str = PASSWORD) -> Page:
        """The real login form: GET it (CSRF cookie), POST the credentials."""
        self.get("/accounts/login/")
        return self.post("/accounts/login/", {"username": username, "password": password})

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def _lower(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}


def logged_in(live_server_url: str, username: str) -> Browser:
    browser = Browser(live_server_url)
    page = browser.login(username)
    assert page.status == 302, f"{username} could not log in: {page.status}"
    assert browser.cookie("sessionid"), f"{username} has no session"
    return browser


def approvals(process) -> int:
    return AuditEvent.objects.filter(process=process, action="purchase.approved").count()


def decisions(process) -> int:
    return AuditEvent.objects.filter(
        process=process, action__in=["purchase.approved", "purchase.rejected", "purchase.revised"]
    ).count()


@pytest.fixture(autouse=True)
def no_counters_left(settings):
    """Rate-limit and lockout counters live in Redis and outlive the test database: drop them
    before and after each attack, so one test's flood never throttles the next one."""
    import redis

    def clear():
        client = redis.Redis.from_url(settings.REDIS_URL)
        for pattern in ("*rate*", "*limit*", "*throttl*", "*axes*", "*lockout*", "*login*"):
            for key in client.scan_iter(match=pattern, count=500):
                if not key.startswith((b"_kombu", b"celery", b"asgi")):
                    client.delete(key)

    clear()
    yield
    clear()


@pytest.fixture
def rejected(purchase_policy, submit_request, olivia):
    """alice's request, rejected by olivia: alice holds its revise task."""
    process = submit_request(title="Espresso machine for the office", amount="2400.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Ask facilities.")
    return process


# ---------------------------------------------------------------- 1. another step's URL


def test_a_revise_task_posted_to_the_approve_steps_url_is_not_found(live_server_url, rejected, alice):
    revise = task_of(rejected, "revise")
    before = decisions(rejected)
    attacker = logged_in(live_server_url, "alice")

    url = f"/purchase/{rejected.pk}/approve/{revise.pk}/execute/"
    page = attacker.post(url, {"decision": "approve", "comment": ""})

    assert page.status == 404
    assert attacker.get(url).status == 404
    revise.refresh_from_db()
    assert (revise.status, revise.owner_id) == (STATUS.ASSIGNED, alice.pk)
    rejected.refresh_from_db()
    assert rejected.approved is False
    assert approvals(rejected) == 0
    assert decisions(rejected) == before


def test_an_approve_task_posted_to_the_revise_form_is_not_found(
    live_server_url, purchase_policy, submit_request, olivia
):
    process = submit_request(title="Standing desk", amount="640.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    attacker = logged_in(live_server_url, "olivia")

    page = attacker.post(
        f"/purchase/{process.pk}/revise/{approve.pk}/execute/",
        {
            "decision": "resubmit",
            "title": "Standing desk",
            "amount": "1.00",
            "currency": "EUR",
            "justification": "x",
        },
    )

    assert page.status == 404
    process.refresh_from_db()
    assert (process.title, str(process.amount), process.revision) == ("Standing desk", "640.00", 0)
    approve.refresh_from_db()
    assert (approve.status, approve.owner_id) == (STATUS.ASSIGNED, olivia.pk)
    assert decisions(process) == 0


# ---------------------------------------------------------------- 2. viewflow's pages as side doors


def test_viewflows_lists_and_dashboards_show_finance_nothing(
    live_server_url, purchase_policy, submit_request, frank
):
    requests = [
        submit_request(title="Secret merger costs", amount="640.00"),
        submit_request(title="Severance for the CFO", amount="900.00"),
    ]
    attacker = logged_in(live_server_url, "frank")

    for path in (
        "/purchase/flows/",
        "/purchase/tasks/",
        "/purchase/queue/assign/",
        "/purchase/inbox/unassign/",
    ):
        page = attacker.get(path)
        assert page.status == 404, path
        assert "Secret merger" not in page.body

    for path in ("/purchase/", "/purchase/inbox/", "/purchase/queue/", "/purchase/archive/"):
        page = attacker.get(path)
        assert page.status == 302, path
        assert page.location.startswith("/tasks/"), page.location
        landed = attacker.get(path, follow=True)
        assert landed.status == 200, path
        assert "Secret merger" not in landed.body, path
        assert "Severance" not in landed.body, path

    for process in requests:  # below finance's stage: not theirs to see
        page = attacker.get(f"/purchase/{process.pk}/")
        assert page.status in (403, 404)
        assert process.title not in page.body


def test_viewflows_unassign_of_a_revise_task_is_not_routed(live_server_url, rejected, alice):
    revise = task_of(rejected, "revise")
    attacker = logged_in(live_server_url, "alice")

    page = attacker.post(f"/purchase/{rejected.pk}/revise/{revise.pk}/unassign/")

    assert page.status == 404
    revise.refresh_from_db()
    assert (revise.status, revise.owner_id) == (STATUS.ASSIGNED, alice.pk)


# ---------------------------------------------------------------- 3. per-request visibility


def test_another_requester_cannot_open_a_rejected_request_its_tasks_history_or_files(
    live_server_url, stack_env, settings, rejected, alice, ava
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from processes.attachments.checks import uploads_check
    from processes.attachments.services import attachments_add

    # The file goes where the live server keeps attachments.
    settings.ATTACHMENTS_ROOT = Path(
        stack_env.get("ATTACHMENTS_ROOT") or Path(stack_env["PORTAL_VAR_DIR"]) / "private" / "attachments"
    )
    pdf = SimpleUploadedFile(
        "quote.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf"
    )
    with transaction.atomic():
        (attachment,) = attachments_add(process=rejected, uploads=uploads_check([pdf]), user=alice)
    revise = task_of(rejected, "revise")
    approve = task_of(rejected, "approve")
    pages = [
        f"/purchase/{rejected.pk}/",  # the request, its attachments and its history
        f"/purchase/{rejected.pk}/chart/",
        f"/purchase/{rejected.pk}/revise/{revise.pk}/",
        f"/purchase/{rejected.pk}/revise/{revise.pk}/detail/",
        f"/purchase/{rejected.pk}/revise/{revise.pk}/execute/",
        f"/purchase/{rejected.pk}/approve/{approve.pk}/",
        f"/purchase/{rejected.pk}/approve/{approve.pk}/detail/",
    ]
    owner = logged_in(live_server_url, "alice")
    own = owner.get(pages[0])  # the pages exist: alice sees her own request and its history
    assert own.status == 200
    assert "Ask facilities" in own.body
    assert owner.get(f"/attachments/{attachment.pk}/").status == 200

    attacker = logged_in(live_server_url, "ava")
    for path in pages:
        page = attacker.get(path)
        assert page.status in (403, 404), (path, page.status)
        assert "Espresso machine" not in page.body, path
        assert "Ask facilities" not in page.body, path
    download = attacker.get(f"/attachments/{attachment.pk}/")
    assert download.status in (403, 404)
    assert "%PDF" not in download.body
    mine = attacker.get("/purchase/mine/")
    assert "Espresso machine" not in mine.body
    revise.refresh_from_db()
    assert (revise.status, revise.owner_id) == (STATUS.ASSIGNED, alice.pk)


# ---------------------------------------------------------------- 4. segregation of duties


def test_a_requester_who_approves_cannot_claim_or_approve_her_own_request(
    live_server_url, purchase_policy, submit_request, alice_approves
):
    process = submit_request(title="Standing desk", amount="640.00")
    approve = task_of(process, "approve")
    attacker = logged_in(live_server_url, "alice")

    claim = attacker.post(f"/tasks/{approve.pk}/claim/", {"next": "/tasks/queue/"})
    assert claim.status in (302, 403, 404)
    if claim.status == 302:  # the task list's actions answer with a message on the next page
        assert "your own request" in attacker.get(claim.location).body
    bulk = attacker.post("/tasks/claim/", {"task": approve.pk, "next": "/tasks/queue/"})
    assign = attacker.post(f"/purchase/{process.pk}/approve/{approve.pk}/assign/")
    execute = attacker.post(
        f"/purchase/{process.pk}/approve/{approve.pk}/execute/", {"decision": "approve", "comment": ""}
    )

    assert bulk.status in (302, 403, 404)
    assert assign.status in (403, 404)
    assert execute.status in (403, 404, 409)
    approve.refresh_from_db()
    assert (approve.status, approve.owner_id) == (STATUS.NEW, None)

    # Even if a raw write put it in her inbox, she cannot decide it.
    Task.objects.filter(pk=approve.pk).update(owner=alice_approves, status=STATUS.ASSIGNED)
    execute = attacker.post(
        f"/purchase/{process.pk}/approve/{approve.pk}/execute/", {"decision": "approve", "comment": ""}
    )
    assert execute.status in (403, 404)
    approve.refresh_from_db()
    assert approve.status == STATUS.ASSIGNED
    assert approvals(process) == 0


def test_nobody_delegates_or_reassigns_her_own_request_to_her(
    live_server_url, purchase_policy, submit_request, alice_approves, olivia, maria
):
    process = submit_request(title="Standing desk", amount="640.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    olivias = logged_in(live_server_url, "olivia")
    picker = olivias.get(f"/tasks/{approve.pk}/delegate/")
    assert picker.status == 200
    assert f'value="{alice_approves.pk}"' not in picker.body
    delegate = olivias.post(f"/tasks/{approve.pk}/delegate/", {"to_user": alice_approves.pk, "next": "/"})
    assert delegate.status in (302, 403, 404, 422)
    approve.refresh_from_db()
    assert (approve.status, approve.owner_id) == (STATUS.ASSIGNED, olivia.pk)

    marias = logged_in(live_server_url, "maria")
    reassign = marias.post(f"/tasks/{approve.pk}/reassign/", {"to_user": alice_approves.pk, "next": "/"})
    assert reassign.status in (302, 403, 404, 422)
    approve.refresh_from_db()
    assert (approve.status, approve.owner_id) == (STATUS.ASSIGNED, olivia.pk)
    assert not AuditEvent.objects.filter(
        process=process, action__in=["task.delegated", "task.reassigned"]
    ).exists()


def test_escalation_never_emails_or_hands_a_request_to_its_requester(
    roles, submit_request, alice_approves, olivia
):
    """Escalation runs in the worker's sweep, not over HTTP: fired here, on the same database."""
    from processes import scheduler
    from processes.actionlinks.models import ActionToken
    from processes.mail.models import OutgoingEmail
    from processes.policies.models import EscalationAction
    from processes.policies.services import policy_create

    def late(process):
        timers = Task.objects.filter(process=process, flow_task_type="TIMER", status=STATUS.SCHEDULED)
        timers.update(scheduled=timezone.now() - timedelta(seconds=1))
        scheduler.timers_fire(task_ids=list(timers.values_list("pk", flat=True)))

    stage = {"name": "Team approval", "group": roles["approvers"], "sla": timedelta(hours=4)}
    targets = [
        # She is the escalation user: the late task is reassigned to her...
        {"escalation_user": alice_approves, "levels": [(timedelta(0), EscalationAction.REASSIGN)]},
        # ... or she is emailed action links ...
        {
            "escalation_user": alice_approves,
            "escalation_group": roles["approvers"],
            "levels": [(timedelta(0), EscalationAction.EMAIL)],
        },
        # ... or she is in the escalation group whose members are emailed.
        {"escalation_group": roles["approvers"], "levels": [(timedelta(0), EscalationAction.EMAIL)]},
    ]
    processes = []
    for number, target in enumerate(targets):
        policy_create(name="purchase", stages=[{**stage, **target}])
        processes.append(submit_request(title=f"Standing desk {number}", amount="640.00"))
        late(processes[-1])
    by_group = processes[-1]

    assert AuditEvent.objects.filter(process__in=processes, action="task.escalated").count() == 3
    assert OutgoingEmail.objects.filter(to_user=olivia, process=by_group).exists()  # the group was emailed
    assert not OutgoingEmail.objects.filter(to_user=alice_approves).exists()
    assert not ActionToken.objects.filter(user=alice_approves).exists()
    for process in processes:
        approve = task_of(process, "approve")
        assert approve.owner_id != alice_approves.pk
        assert approvals(process) == 0


def test_a_request_in_another_currency_than_the_policys_is_refused(live_server_url, purchase_policy, alice):
    assert purchase_policy.currency == "EUR"
    attacker = logged_in(live_server_url, "alice")

    page = attacker.post(
        "/purchase/start/",
        {
            "title": "150,000 of something cheap",
            "amount": "150000.00",
            "currency": "USD",
            "priority": "2",
            "justification": "Skips the finance stage.",
        },
    )

    assert page.status == 200  # the form again, with the error
    assert "decides amounts in EUR" in page.body
    assert not PurchaseProcess.objects.filter(title__startswith="150,000").exists()


# ---------------------------------------------------------------- 5. next= on the hand-over pages


@pytest.mark.parametrize("target", ["javascript:alert(1)", "https://evil.example/"])
def test_the_hand_over_pages_never_link_to_an_unchecked_next(
    live_server_url, purchase_policy, submit_request, olivia, maria, target
):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    link = re.compile(r"""href\s*=\s*["']?\s*""" + re.escape(target.split("(")[0]), re.IGNORECASE)

    for user, page in (("olivia", "delegate"), ("maria", "reassign")):
        browser = logged_in(live_server_url, user)
        response = browser.get(f"/tasks/{approve.pk}/{page}/?{urlencode({'next': target})}")
        assert response.status == 200, page
        assert not link.search(response.body), f"{page} links to {target}"


# ---------------------------------------------------------------- 6. action-link secrets at rest


def test_no_action_link_secret_can_be_read_from_the_database(
    live_server_url, purchase_policy, submit_request, olivia, mailoutbox
):
    from django.db import connection

    from processes.actionlinks.models import ActionToken
    from processes.actionlinks.services import escalation_email_send

    process = submit_request()
    approve = task_of(process, "approve")
    with transaction.atomic():
        escalation_email_send(task=approve, addressee=olivia)
    # The email went out after commit with its Approve and Reject links: the secrets exist.
    (sent,) = [message for message in mailoutbox if olivia.email in message.to]
    assert len(set(LINK_SECRET.findall(sent.body))) == 2
    assert ActionToken.objects.filter(task=approve).count() == 2

    # Everything the database holds (the outbox, the tokens, audit events, notifications, ...).
    text = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT CAST(t AS text) FROM "{table}" t')  # noqa: S608 - table names from the catalog
            text.extend(row[0] for row in cursor.fetchall())
    found = set(LINK_SECRET.findall("\n".join(text)))

    thief = Browser(live_server_url)
    acted = []
    for raw in sorted(found):
        page = thief.post(f"/links/{raw}/", {"comment": "taken from the database"})
        if page.status == 200:
            acted.append(raw)
    approve.refresh_from_db()
    assert acted == [], f"{len(acted)} of {len(found)} link secrets read from the database acted"
    assert approve.status == STATUS.NEW
    assert approvals(process) == 0


# ---------------------------------------------------------------- 7. small leaks and floods


def test_readyz_tells_anonymous_only_what_is_ok_or_failing(live_server_url):
    page = Browser(live_server_url).get("/readyz")

    assert page.status in (200, 503)
    for leak in ("127.0.0.1", "5432", "6379", "postgres", "redis://"):
        assert leak not in page.body, f"/readyz shows {leak!r}: {page.body}"


def test_wrong_passwords_lock_the_login_out(live_server_url, olivia):
    attacker = Browser(live_server_url)
    for _ in range(6):
        page = attacker.login("olivia", "wrong-guess")
        assert page.status in (200, 403, 429)

    page = attacker.login("olivia", PASSWORD)

    assert page.status in (403, 429), f"the right password after 6 wrong ones: {page.status}"
    assert attacker.get("/tasks/inbox/").status == 302  # still not logged in


def test_a_flood_of_unknown_link_tokens_is_throttled_and_not_audited(live_server_url):
    import secrets

    before = AuditEvent.objects.count()

    def guess_50() -> list[int]:  # one client address, four connections at a time
        attacker = Browser(live_server_url)
        return [attacker.get(f"/links/{secrets.token_urlsafe(32)}/").status for _ in range(50)]

    with ThreadPoolExecutor(4) as pool:
        statuses = [status for batch in pool.map(lambda _: guess_50(), range(4)) for status in batch]

    assert set(statuses) <= {404, 429}, set(statuses)
    assert statuses.count(429) >= 150, f"only {statuses.count(429)} of 200 guesses were rate limited"
    assert AuditEvent.objects.count() == before, "the flood wrote to the audit trail"


def test_an_oversized_anonymous_body_is_refused_with_413(live_server_url):
    browser = Browser(live_server_url)
    token = browser.csrf()  # a real form's cookie and token: the body is what gets refused
    parts = urlsplit(live_server_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = b"username=olivia&password=" + b"x" * (5 * 1024 * 1024)
    try:
        connection.putrequest("POST", "/accounts/login/")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Cookie", browser.cookie_header())
        connection.putheader("X-CSRFToken", token)
        connection.putheader("Origin", live_server_url)
        connection.endheaders()
        try:
            for start in range(0, len(body), 65536):
                connection.send(body[start : start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole body was read: the answer is still there
        status = connection.getresponse().status
    finally:
        connection.close()

    assert status == 413


def test_a_websocket_is_closed_when_its_user_logs_out(live_server_url, olivia):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    browser = logged_in(live_server_url, "olivia")
    ws_url = live_server_url.replace("http://", "ws://") + "/ws/notifications/"
    with connect(
        ws_url,
        additional_headers={"Cookie": browser.cookie_header(), "Origin": live_server_url},
        open_timeout=10,
    ) as socket:
        assert '"hello"' in socket.recv(timeout=10)
        assert browser.post("/accounts/logout/").status in (200, 302)

        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline:
            try:
                socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            except ConnectionClosed:
                closed = True
                break
            except TimeoutError:
                break
        assert closed, "the socket is still open 5 s after its user logged out"


def test_the_websocket_catch_up_is_bounded(live_server_url, olivia):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from processes.models import Notification, NotificationKind

    Notification.objects.bulk_create(
        Notification(user=olivia, kind=NotificationKind.TASK_QUEUED, title=f"Flood {n}") for n in range(200)
    )
    browser = logged_in(live_server_url, "olivia")
    ws_url = live_server_url.replace("http://", "ws://") + "/ws/notifications/?after=0"
    frames = 0
    with connect(
        ws_url,
        additional_headers={"Cookie": browser.cookie_header(), "Origin": live_server_url},
        open_timeout=10,
    ) as socket:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                message = socket.recv(timeout=max(0.05, deadline - time.monotonic()))
            except (TimeoutError, ConnectionClosed):
                break
            frames += '"notification"' in message

    assert frames > 0  # the catch-up works
    assert frames <= 100, f"{frames} notifications in 2 s after ?after=0"


# ---------------------------------------------------------------- 8. the race, with a made-up process id


def _together(calls):
    """Run the calls at the same moment (one thread each); their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_two_decisions_at_once_under_a_made_up_process_id_are_refused_then_one_wins(
    live_server_url, purchase_policy, submit_request, olivia
):
    process = submit_request(title="Standing desk", amount="640.00")
    other = submit_request(title="Office chair", amount="189.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    missing = PurchaseProcess.objects.order_by("-pk").first().pk + 1000
    first, second = logged_in(live_server_url, "olivia"), logged_in(live_server_url, "olivia")
    decision = {"decision": "approve", "comment": "Fine."}

    for made_up in (other.pk, missing):
        url = f"/purchase/{made_up}/approve/{approve.pk}/execute/"
        pages = _together([lambda b=b, url=url: b.post(url, decision) for b in (first, second)])
        assert [page.status for page in pages] == [404, 404], made_up
        approve.refresh_from_db()
        assert (approve.status, approve.owner_id) == (STATUS.ASSIGNED, olivia.pk)
        assert approvals(process) == approvals(other) == 0
    assert task_of(other, "approve").status == STATUS.NEW

    url = f"/purchase/{process.pk}/approve/{approve.pk}/execute/"
    pages = _together([lambda b=b: b.post(url, decision) for b in (first, second)])

    statuses = sorted(page.status for page in pages)
    assert statuses.count(302) == 1, statuses  # exactly one decision went through
    (loser,) = (page for page in pages if page.status != 302)
    # Refused cleanly: the conflict page saying why (or the task page saying so), never a 500.
    assert loser.status in (200, 409), loser.status
    assert "already done" in loser.body
    approve.refresh_from_db()
    assert approve.status == STATUS.DONE
    assert approvals(process) == 1
