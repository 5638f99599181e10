"""The API's writes against the live uvicorn server on PostgreSQL and Redis: the Idempotency-Key
rules over real HTTP, concurrent starts with one key (exactly one process), task actions of a
client through the gate, scopes per endpoint, and the rate limit shared through Redis."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from email.message import Message

import pytest
from django.db import connection, transaction
from django.utils import timezone
from viewflow.workflow.models import Process

from processes.api.models import IdempotencyRecord
from processes.api.services import api_client_create
from processes.connectors.models import Product
from tests.conftest import task_of
from tests.stack import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "payment_method": "card",
    "shipping_address": "1 Analytical Row, London",
    "lines": [{"sku": "DESK-01", "qty": 1}],
}
START = {"type": "order", "data": ORDER}


class Reply:
    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> dict:
        return json.loads(self.body)


def call(url: str, token: str, method: str = "POST", body: object = None, key: str | None = None) -> Reply:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - our own live server
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def problem_type(reply: Reply) -> str:
    assert reply.headers["Content-Type"] == "application/problem+json", reply.body
    return reply.json()["type"].rsplit("/", 1)[-1]


@pytest.fixture
def shop(catalogue):
    return api_client_create(name="shop", scopes=["processes:start", "processes:read"])[1]


def test_the_idempotency_rules_over_http(live_server_url, shop):
    url = f"{live_server_url}/api/v1/processes"

    first = call(url, shop, body=START, key="order-1")
    replay = call(url, shop, body=START, key="order-1")
    reused = call(url, shop, body={**START, "data": {**ORDER, "customer_name": "Charles"}}, key="order-1")
    empty = call(url, shop, body=START, key="")
    too_long = call(url, shop, body=START, key="k" * 256)

    assert first.status == 201, first.body
    assert "Idempotent-Replayed" not in first.headers
    assert (replay.status, replay.body, replay.headers["Idempotent-Replayed"]) == (201, first.body, "true")
    assert replay.headers["Location"] == first.headers["Location"]
    assert (reused.status, problem_type(reused)) == (422, "idempotency-key-reused")
    assert (empty.status, problem_type(empty)) == (400, "idempotency-key-invalid")
    assert (too_long.status, problem_type(too_long)) == (400, "idempotency-key-invalid")
    read = call(f"{live_server_url}{first.headers['Location']}", shop, method="GET")  # read your writes
    assert read.status == 200
    assert read.json() == first.json()
    assert Process.objects.count() == 1


def test_a_retry_while_the_first_is_in_flight_is_a_409(live_server_url, shop):
    url = f"{live_server_url}/api/v1/processes"
    call(url, shop, body=START, key="slow")
    # The first request still running: its row in flight (as committed before its work).
    IdempotencyRecord.objects.filter(key="slow").update(state="in_flight", status=None, body="")

    retry = call(url, shop, body=START, key="slow")

    assert (retry.status, problem_type(retry)) == (409, "idempotency-key-in-flight")
    assert retry.headers["Retry-After"] == "1"
    IdempotencyRecord.objects.filter(key="slow").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(url, shop, body=START, key="slow").status == 201  # expired: a new request


def _race(url: str, token: str, threads: int, key: str) -> tuple[list[Reply], list[threading.Thread]]:
    barrier = threading.Barrier(threads)
    replies: list[Reply] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait(10)
        reply = call(url, token, body=START, key=key)
        with lock:
            replies.append(reply)

    workers = [threading.Thread(target=start) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return replies, workers


def _outcome(reply: Reply) -> str:
    if reply.status == 201:
        return "replayed" if "Idempotent-Replayed" in reply.headers else "ran"
    return problem_type(reply) if reply.status == 409 else str(reply.status)


def test_concurrent_starts_with_one_key_make_exactly_one_process(live_server_url, shop):
    assert connection.vendor == "postgresql"
    url = f"{live_server_url}/api/v1/processes"
    threads = 8

    replies, workers = _race(url, shop, threads, "one-key")
    for worker in workers:
        worker.join(60)

    outcomes = Counter(_outcome(reply) for reply in replies)
    assert len(replies) == threads
    assert outcomes["ran"] == 1, outcomes
    assert set(outcomes) <= {"ran", "replayed", "idempotency-key-in-flight"}, outcomes
    assert Process.objects.count() == 1
    ran = next(r for r in replies if _outcome(r) == "ran")
    assert all(r.body == ran.body for r in replies if r.status == 201)


def test_while_the_first_start_works_the_others_get_409_then_the_replay(live_server_url, shop):
    """The first request's work is held up (its products table locked): the other requests with
    its key find its row in flight and get a 409 at once; after it finishes, a retry replays it."""
    url = f"{live_server_url}/api/v1/processes"
    threads = 6
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{Product._meta.db_table}" IN ACCESS EXCLUSIVE MODE')
        replies, workers = _race(url, shop, threads, "held")
        wait_for(lambda: len(replies) >= threads - 1, timeout=30, what="the 409s")
        refused = list(replies)
    for worker in workers:
        worker.join(60)

    assert Counter(_outcome(reply) for reply in refused) == {"idempotency-key-in-flight": threads - 1}
    assert all(reply.headers["Retry-After"] == "1" for reply in refused)
    assert Counter(_outcome(reply) for reply in replies)["ran"] == 1
    retry = call(url, shop, body=START, key="held")
    assert (retry.status, _outcome(retry)) == (201, "replayed")
    assert Process.objects.count() == 1


def test_a_client_claims_and_decides_through_the_gate(
    live_server_url, purchase_policy, submit_request, olivia, alice_approves
):
    process = submit_request()
    task = task_of(process, "approve")
    bot = api_client_create(name="bot", scopes=["tasks:act"], acts_as=olivia)[1]
    own = api_client_create(name="alice's bot", scopes=["tasks:act"], acts_as=alice_approves)[1]
    base = f"{live_server_url}/api/v1/tasks/{task.pk}"

    refused = call(f"{base}/claim", own)  # segregation of duties: alice started it
    claimed = call(f"{base}/claim", bot)
    decided = call(f"{base}/decide", bot, body={"decision": "approve", "comment": "ok"}, key="d-1")
    replayed = call(f"{base}/decide", bot, body={"decision": "approve", "comment": "ok"}, key="d-1")
    again = call(f"{base}/decide", bot, body={"decision": "approve", "comment": "ok"})

    assert (refused.status, problem_type(refused)) == (403, "permission-denied")
    assert claimed.status == 200, claimed.body
    assert claimed.json()["owner"] == "olivia"
    assert decided.status == 200, decided.body
    assert decided.json()["status"] == "DONE"
    assert (replayed.status, replayed.body) == (200, decided.body)
    assert (again.status, problem_type(again)) == (409, "task-already-decided")
    process.refresh_from_db()
    assert process.approved is True


def test_scopes_per_endpoint(live_server_url, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")
    tokens = {
        scope: api_client_create(name=scope, scopes=[scope])[1]
        for scope in ("processes:read", "processes:start", "tasks:act")
    }
    endpoints = {
        ("POST", "/api/v1/processes"): "processes:start",
        ("GET", "/api/v1/process-types"): "processes:start",
        ("POST", f"/api/v1/tasks/{task.pk}/claim"): "tasks:act",
        ("POST", f"/api/v1/tasks/{task.pk}/release"): "tasks:act",
        ("POST", f"/api/v1/tasks/{task.pk}/decide"): "tasks:act",
        ("GET", "/api/v1/processes"): "processes:read",
    }

    for (method, path), needed in endpoints.items():
        for scope, token in tokens.items():
            reply = call(f"{live_server_url}{path}", token, method=method)
            if scope != needed:
                assert (reply.status, problem_type(reply)) == (403, "forbidden"), (method, path, scope)
            else:
                assert reply.status != 403 or problem_type(reply) != "forbidden", (method, path, scope)


def test_a_rotated_token_overlaps_and_a_revoked_one_stops_over_http(live_server_url, shop):
    from processes.api.models import ApiClient
    from processes.api.services import api_token_revoke, api_token_rotate

    client = ApiClient.objects.get(name="shop")
    url = f"{live_server_url}/api/v1/process-types"
    new = api_token_rotate(client=client, overlap=timedelta(hours=1))
    assert call(url, shop, method="GET").status == 200  # the old token, during the overlap
    assert call(url, new, method="GET").status == 200

    newest = api_token_rotate(client=client, overlap=timedelta(0))
    assert problem_type(call(url, shop, method="GET")) == "not-authenticated"  # overlap over
    assert problem_type(call(url, new, method="GET")) == "not-authenticated"
    assert call(url, newest, method="GET").status == 200

    api_token_revoke(target=client)
    reply = call(url, newest, method="GET")
    assert (reply.status, problem_type(reply)) == (401, "not-authenticated")
