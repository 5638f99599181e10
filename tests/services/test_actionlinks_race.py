"""Email links against the live uvicorn server on PostgreSQL and Redis: concurrent clicks on one
link approve once, and the rate limit is shared through Redis."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from django.db import transaction
from viewflow.workflow.status import STATUS

from processes.actionlinks.models import ActionToken
from processes.actionlinks.services import action_tokens_issue, action_tokens_mint
from processes.models import AuditEvent
from tests.conftest import task_of

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _opener():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))


def _csrf(opener, url: str) -> str:
    with opener.open(url, timeout=20) as response:  # the confirmation page sets the CSRF cookie
        page = response.read().decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def _post(opener, url: str, origin: str, data: dict) -> int:
    request = urllib.request.Request(  # noqa: S310 - our own live server
        url, data=urlencode(data).encode(), headers={"Origin": origin, "Referer": url}, method="POST"
    )
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_concurrent_posts_of_one_link_approve_exactly_once(
    live_server_url, purchase_policy, submit_request, olivia
):
    task = task_of(submit_request(), "approve")
    with transaction.atomic():
        token = action_tokens_issue(task=task, addressee=olivia)["approve"]
        raw = action_tokens_mint(tokens=[token])[token.pk]
    url = f"{live_server_url}/links/{raw}/"
    openers = [_opener() for _ in range(4)]
    tokens = [_csrf(opener, url) for opener in openers]
    barrier = threading.Barrier(len(openers))

    def click(i: int) -> int:
        barrier.wait()
        return _post(openers[i], url, live_server_url, {"csrfmiddlewaretoken": tokens[i], "comment": "ok"})

    with ThreadPoolExecutor(len(openers)) as pool:
        statuses = sorted(pool.map(click, range(len(openers))))

    # The others wait on the token row's lock (the conditional UPDATE), then find it used.
    assert statuses == [200, 410, 410, 410]
    assert [e.details["reason"] for e in AuditEvent.objects.filter(action="actionlink.refused")] == [
        "used"
    ] * 3
    task.refresh_from_db()
    assert task.status == STATUS.DONE
    assert AuditEvent.objects.filter(action="purchase.approved", task=task).count() == 1
    assert AuditEvent.objects.filter(action="actionlink.used").count() == 1
    assert ActionToken.objects.get(action="approve").used_at is not None


def test_the_rate_limit_holds_across_requests_through_redis(live_server_url):
    statuses = []
    for _ in range(12):
        try:
            with urllib.request.urlopen(f"{live_server_url}/links/{'x' * 43}/", timeout=10):  # noqa: S310
                statuses.append(200)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)

    # The default: 10 requests per token per minute (and 30 per client address).
    assert statuses == [404] * 10 + [429] * 2
