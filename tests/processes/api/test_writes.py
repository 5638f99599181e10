"""The API's writes: starting processes of every kind, claim/release/decide through the gate, the
Idempotency-Key rules, rate limits. SQLite, Django's test client (the live PostgreSQL runs are in
test_writes_live.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone
from viewflow.workflow.models import Process, Task

from processes.api.idempotency import caller_scope, idempotency_records_prune, request_fingerprint
from processes.api.models import IdempotencyRecord
from processes.models import AuditEvent
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of
from tests.processes.api.conftest import bearer
from tests.processes.api.test_endpoints import assert_problem

pytestmark = pytest.mark.django_db

ORDER = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "payment_method": "card",
    "shipping_address": "1 Analytical Row, London",
    "lines": [{"sku": "DESK-01", "qty": 1}],
}
PURCHASE = {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."}


@pytest.fixture(autouse=True)
def _fresh_rate_windows():
    cache.clear()  # the rate limit's counters live in the cache (LocMem here)


def post(client: Client, path: str, body: dict | None = None, key: str | None = None, raw: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    data = raw if raw is not None else json.dumps(body or {})
    return client.post(path, data=data, content_type="application/json", **headers)


def start_body(type_: str = "order", data: dict | None = None, kind: str = "") -> dict:
    return {"type": type_, "kind": kind, "data": ORDER if data is None and type_ == "order" else data}


@pytest.fixture
def shop(make_client, catalogue):
    """The fake shop: starts orders and reads (no service account)."""
    return make_client("shop", ["processes:start", "processes:read"])


@pytest.fixture
def actor(make_client, olivia, purchase_policy):
    """A client acting on tasks as olivia (an approver): (client, token)."""
    from processes.api.services import api_client_create

    return api_client_create(name="bot", scopes=["tasks:act", "processes:read"], acts_as=olivia)


def session(user, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


# ---------------------------------------------------------------- starting processes


def test_a_client_starts_an_order_and_reads_it_back(shop):
    _client, token = shop
    api = bearer(token)

    response = post(api, "/api/v1/processes", start_body())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"]["label"] == "order"
    assert response["Location"] == f"/api/v1/processes/{body['id']}"
    assert body["correlation_id"]
    again = api.get(response["Location"])  # read your writes
    assert again.status_code == 200
    assert again.json() == body


def test_an_order_with_bad_fields_is_a_422_with_errors_per_field(shop):
    _client, token = shop
    data = {**ORDER, "customer_email": "not-an-email", "lines": [{"sku": "NOPE-9", "qty": 1}]}

    body = assert_problem(post(bearer(token), "/api/v1/processes", start_body(data=data)), 422, "validation")

    fields = {tuple(error["loc"]): error["msg"] for error in body["errors"]}
    assert ("body", "payload", "data", "customer_email") in fields
    assert "NOPE-9" in fields[("body", "payload", "data", "lines")]
    assert not Process.objects.exists()


def test_a_person_starts_a_purchase_request_with_her_session(alice, purchase_policy):
    response = post(session(alice), "/api/v1/processes", start_body("purchase", PURCHASE))

    assert response.status_code == 201, response.content
    process = PurchaseProcess.objects.get(pk=response.json()["id"])
    assert process.requester == alice
    assert process.policy_version == purchase_policy  # pinned, as the web form pins it


def test_a_session_post_without_the_csrf_token_is_refused(alice, purchase_policy):
    response = post(session(alice, csrf=True), "/api/v1/processes", start_body("purchase", PURCHASE))

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"
    assert not Process.objects.exists()


def test_a_purchase_request_with_bad_fields_names_each_field(alice, purchase_policy):
    data = {"title": "", "amount": "-5", "currency": "EUR", "justification": "x", "colour": "red"}

    body = assert_problem(
        post(session(alice), "/api/v1/processes", start_body("purchase", data)), 422, "validation"
    )

    fields = {error["loc"][-1] for error in body["errors"]}
    assert fields == {"colour"}  # unknown fields first, the form's checks then
    data.pop("colour")
    body = assert_problem(
        post(session(alice), "/api/v1/processes", start_body("purchase", data)), 422, "validation"
    )
    assert {error["loc"][-1] for error in body["errors"]} == {"title", "amount"}


def test_a_client_starts_a_purchase_request_as_its_service_account(make_client, alice, purchase_policy):
    from processes.api.services import api_client_create

    _client, token = api_client_create(name="erp", scopes=["processes:start"], acts_as=alice)

    response = post(bearer(token), "/api/v1/processes", start_body("purchase", PURCHASE))

    assert response.status_code == 201, response.content
    assert PurchaseProcess.objects.get().requester == alice


def test_a_client_without_a_service_account_may_not_start_a_purchase_request(shop, purchase_policy):
    _client, token = shop

    assert_problem(
        post(bearer(token), "/api/v1/processes", start_body("purchase", PURCHASE)), 403, "forbidden"
    )
    types = bearer(token).get("/api/v1/process-types").json()
    assert [(t["type"], t["kind"]) for t in types] == [("order", "")]


def test_a_person_without_the_right_may_not_start(frank, purchase_policy):
    assert_problem(
        post(session(frank), "/api/v1/processes", start_body("purchase", PURCHASE)), 403, "forbidden"
    )


def test_an_unknown_type_is_a_422(shop):
    _client, token = shop

    body = assert_problem(
        post(bearer(token), "/api/v1/processes", start_body("nope", {})), 422, "process-type-unknown"
    )
    assert body["errors"][0]["loc"] == ["body", "payload", "type"]


@pytest.fixture
def vacation(roles, alice, olivia, maria):
    """The demo's "Vacation request" type, imported from its definition as the demo does."""
    from processes.catalog.definitions import definition_import, definition_loads
    from processes.catalog.demo import VACATION_DEFINITION

    for name, members in (("employees", [alice]), ("team leads", [olivia]), ("hr", [])):
        Group.objects.get_or_create(name=name)[0].user_set.add(*members)
    definition_import(definition_loads(VACATION_DEFINITION.read_bytes()), user=maria, publish=True)
    return "vacation-request"


def test_a_catalog_type_is_listed_with_its_schema_and_started(alice, vacation):
    api = session(alice)
    types = {(t["type"], t["kind"]): t for t in api.get("/api/v1/process-types").json()}
    schema = types[("catalog", vacation)]["schema"]
    assert schema["properties"]["period"]["type"] == "object"
    assert set(schema["required"]) == {"period", "days"}
    start = timezone.localdate() + timedelta(days=20)
    data = {
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()},
        "days": 3,
        "reason": "Family",
    }

    response = post(api, "/api/v1/processes", start_body("catalog", data, kind=vacation))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"]["kind"] == "Vacation request"
    process = Process.objects.get(pk=body["id"]).coerced
    assert process.values["period"] == data["period"]
    assert process.requester == alice


def test_a_catalog_start_validates_against_the_pinned_version(alice, vacation):
    start = timezone.localdate() + timedelta(days=20)
    data = {
        "period": {"start": start.isoformat(), "end": (start - timedelta(days=2)).isoformat()},
        "days": "three",
        "extra": 1,
    }

    body = assert_problem(
        post(session(alice), "/api/v1/processes", start_body("catalog", data, kind=vacation)),
        422,
        "validation",
    )

    fields = {error["loc"][-1] for error in body["errors"]}
    assert fields == {"period", "days", "extra"}


def test_a_catalog_type_the_person_may_not_start_is_403(ava, vacation):
    assert_problem(
        post(session(ava), "/api/v1/processes", start_body("catalog", {"days": 1}, kind=vacation)),
        403,
        "forbidden",
    )


# ---------------------------------------------------------------- scopes


@pytest.mark.parametrize("scope", ["processes:read", "tasks:act", "webhooks:receive"])
def test_starting_needs_processes_start(make_client, scope):
    _client, token = make_client(scopes=[scope])

    assert_problem(post(bearer(token), "/api/v1/processes", start_body()), 403, "forbidden")
    assert_problem(bearer(token).get("/api/v1/process-types"), 403, "forbidden")


@pytest.mark.parametrize("action", ["claim", "release", "decide"])
@pytest.mark.parametrize("scope", ["processes:read", "processes:start", "webhooks:receive"])
def test_task_actions_need_tasks_act(make_client, submit_request, purchase_policy, action, scope):
    task = task_of(submit_request(), "approve")
    _client, token = make_client(scopes=[scope])

    assert_problem(
        post(bearer(token), f"/api/v1/tasks/{task.pk}/{action}", {"decision": "approve"}), 403, "forbidden"
    )


def test_without_credentials_a_post_is_a_401(db):
    assert_problem(post(Client(), "/api/v1/processes", start_body()), 401, "not-authenticated")


# ---------------------------------------------------------------- tasks through the gate


def test_a_person_claims_releases_claims_and_decides(olivia, submit_request, purchase_policy):
    process = submit_request()
    task = task_of(process, "approve")
    api = session(olivia)

    claimed = post(api, f"/api/v1/tasks/{task.pk}/claim")
    assert claimed.status_code == 200, claimed.content
    assert (claimed.json()["status"], claimed.json()["owner"]) == ("ASSIGNED", "olivia")
    released = post(api, f"/api/v1/tasks/{task.pk}/release")
    assert (released.json()["status"], released.json()["owner"]) == ("NEW", None)
    post(api, f"/api/v1/tasks/{task.pk}/claim")
    decided = post(api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "approve", "comment": "Fine"})

    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "DONE"
    process.refresh_from_db()
    assert process.approved is True


def test_a_client_acts_as_its_service_account(actor, submit_request):
    task = task_of(submit_request(), "approve")
    _client, token = actor
    api = bearer(token)

    assert post(api, f"/api/v1/tasks/{task.pk}/claim").json()["owner"] == "olivia"
    decided = post(api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "reject", "comment": "Too dear"})

    assert decided.status_code == 200, decided.content
    task.refresh_from_db()
    assert task.owner.username == "olivia"
    assert AuditEvent.objects.filter(action="purchase.rejected", actor__username="olivia").exists()


def test_a_client_that_acts_as_nobody_may_not_act(make_client, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")
    _client, token = make_client(scopes=["tasks:act"])

    assert_problem(post(bearer(token), f"/api/v1/tasks/{task.pk}/claim"), 403, "no-acting-user")


def test_segregation_of_duties_holds_for_the_api(alice_approves, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")  # alice's own request

    body = assert_problem(
        post(session(alice_approves), f"/api/v1/tasks/{task.pk}/claim"), 403, "permission-denied"
    )

    assert body["errors"] == [{"loc": [], "msg": "own_request"}]
    task.refresh_from_db()
    assert task.status == "NEW"


def test_a_task_of_a_hidden_process_is_a_404(ava, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")

    assert_problem(post(session(ava), f"/api/v1/tasks/{task.pk}/claim"), 404, "not-found")
    assert_problem(post(session(ava), "/api/v1/tasks/999999/claim"), 404, "not-found")


def test_deciding_a_task_not_claimed_is_a_409(olivia, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")

    assert_problem(
        post(session(olivia), f"/api/v1/tasks/{task.pk}/decide", {"decision": "approve"}),
        409,
        "task-unavailable",
    )


def test_claiming_a_task_someone_holds_is_a_409_naming_them(olivia, oscar, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")
    post(session(olivia), f"/api/v1/tasks/{task.pk}/claim")

    body = assert_problem(post(session(oscar), f"/api/v1/tasks/{task.pk}/claim"), 409, "task-unavailable")
    assert "olivia" in body["detail"]


def test_a_rejection_needs_a_comment(olivia, submit_request, purchase_policy):
    task = task_of(submit_request(), "approve")
    post(session(olivia), f"/api/v1/tasks/{task.pk}/claim")

    body = assert_problem(
        post(session(olivia), f"/api/v1/tasks/{task.pk}/decide", {"decision": "reject"}), 422, "validation"
    )
    assert body["errors"][0]["loc"][-1] == "comment"
    assert_problem(
        post(session(olivia), f"/api/v1/tasks/{task.pk}/decide", {"decision": "maybe"}), 422, "validation"
    )


def test_deciding_twice_is_a_409_or_with_the_same_key_the_first_answer(
    olivia, submit_request, purchase_policy
):
    task = task_of(submit_request(), "approve")
    api = session(olivia)
    post(api, f"/api/v1/tasks/{task.pk}/claim")
    first = post(api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "approve"}, key="decide-1")

    again = post(api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "approve"}, key="decide-1")
    without_key = post(api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "approve"})
    other_key = post(
        api, f"/api/v1/tasks/{task.pk}/decide", {"decision": "reject", "comment": "no"}, key="d-2"
    )

    assert first.status_code == 200
    assert (again.status_code, again.content) == (200, first.content)
    assert again["Idempotent-Replayed"] == "true"
    assert_problem(without_key, 409, "task-already-decided")
    assert_problem(other_key, 409, "task-already-decided")


# ---------------------------------------------------------------- Idempotency-Key


def test_the_same_key_and_body_replay_the_first_response(shop):
    _client, token = shop
    api = bearer(token)

    first = post(api, "/api/v1/processes", start_body(), key="order-1")
    # The same payload written otherwise (key order, spaces) is the same request.
    canonical = json.dumps(start_body(), sort_keys=True, indent=2)
    second = post(api, "/api/v1/processes", raw=canonical, key="order-1")

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert (second.status_code, second.content) == (201, first.content)
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert Process.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.state, record.status, record.key) == ("done", 201, "order-1")


def test_the_same_key_with_another_body_is_a_422(shop):
    _client, token = shop
    api = bearer(token)
    post(api, "/api/v1/processes", start_body(), key="order-1")

    other = {**ORDER, "customer_name": "Charles Babbage"}
    assert_problem(
        post(api, "/api/v1/processes", start_body(data=other), key="order-1"), 422, "idempotency-key-reused"
    )
    # ... and on another endpoint too: a key names one request.
    assert_problem(
        post(api, "/api/v1/tasks/1/claim", key="order-1"), 403, "forbidden"
    )  # no tasks:act: auth first
    assert Process.objects.count() == 1


def test_a_retry_while_the_first_is_in_flight_is_a_409(shop):
    client, token = shop
    body = json.dumps(start_body())
    request = RequestFactory().post("/api/v1/processes", data=body, content_type="application/json")
    now = timezone.now()
    IdempotencyRecord.objects.create(
        caller=caller_scope(client),
        key="busy",
        method="POST",
        path="/api/v1/processes",
        fingerprint=request_fingerprint(request),
        expires_at=now + timedelta(hours=1),
    )

    response = post(bearer(token), "/api/v1/processes", raw=body, key="busy")

    assert_problem(response, 409, "idempotency-key-in-flight")
    assert response["Retry-After"] == "1"
    assert not Process.objects.exists()


@pytest.mark.parametrize(
    ("key", "ok"), [("", False), ('""', False), ("k" * 256, False), ("k" * 255, True), ('"abc"', True)]
)
def test_a_key_is_1_to_255_characters(shop, key, ok):
    _client, token = shop

    response = post(bearer(token), "/api/v1/processes", start_body(), key=key)

    if ok:
        assert response.status_code == 201, response.content
    else:
        assert_problem(response, 400, "idempotency-key-invalid")
        assert not Process.objects.exists()


def test_a_sf_string_key_and_its_bare_value_are_one_key(shop):
    _client, token = shop
    api = bearer(token)

    first = post(api, "/api/v1/processes", start_body(), key='"abc"')
    second = post(api, "/api/v1/processes", start_body(), key="abc")

    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content


def test_a_refusal_is_kept_and_replayed_like_a_success(shop):
    _client, token = shop
    api = bearer(token)
    bad = start_body(data={**ORDER, "customer_email": "nope"})

    first = post(api, "/api/v1/processes", bad, key="bad-1")
    second = post(api, "/api/v1/processes", bad, key="bad-1")

    assert_problem(first, 422, "validation")
    assert (second.status_code, second.content) == (422, first.content)
    assert second["Idempotent-Replayed"] == "true"
    assert second["Content-Type"] == "application/problem+json"


def test_a_failed_request_forgets_its_key_so_a_retry_runs(shop, monkeypatch):
    from processes.api import services

    _client, token = shop
    api = bearer(token)
    api.raise_request_exception = False
    real = services.api_process_start

    def broken(**kwargs):
        real(**kwargs)  # the work is done, then something fails: it must be rolled back
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "api_process_start", broken)
    failed = post(api, "/api/v1/processes", start_body(), key="retry-me")
    monkeypatch.setattr(services, "api_process_start", real)
    retried = post(api, "/api/v1/processes", start_body(), key="retry-me")

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert Process.objects.count() == 1


def test_keys_are_scoped_per_caller(shop, make_client):
    _client, token = shop
    _other, other_token = make_client("other shop", ["processes:start"])

    first = post(bearer(token), "/api/v1/processes", start_body(), key="same")
    second = post(bearer(other_token), "/api/v1/processes", start_body(), key="same")

    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second
    assert Process.objects.count() == 2


def test_an_expired_key_runs_again_and_the_prune_deletes_expired_keys(shop, settings):
    _client, token = shop
    api = bearer(token)
    post(api, "/api/v1/processes", start_body(), key="old")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    again = post(api, "/api/v1/processes", start_body(), key="old")
    IdempotencyRecord.objects.create(
        caller="user:1", key="gone", method="POST", path="/", fingerprint="x", expires_at=timezone.now()
    )

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Process.objects.count() == 2
    assert idempotency_records_prune() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["old"]
    kept = IdempotencyRecord.objects.get()
    ttl = kept.expires_at - kept.created_at
    assert ttl == timedelta(seconds=settings.API_IDEMPOTENCY_TTL) == timedelta(hours=24)


def test_beat_prunes_the_keys(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["prune-idempotency-keys"]
    from portal.celery import app

    assert entry["task"] == "processes.tasks.idempotency_records_prune"
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


# ---------------------------------------------------------------- rate limits


def test_a_caller_over_the_rate_limit_gets_a_429_with_retry_after(shop, make_client, settings):
    # An hour's window: the requests never straddle its end (a fixed window starts afresh there).
    settings.API_RATE_LIMIT, settings.API_RATE_WINDOW = 2, 3600
    _client, token = shop
    _other, other_token = make_client("other", ["processes:read"])
    api = bearer(token)

    statuses = [api.get("/api/v1/processes").status_code for _ in range(2)]
    refused = api.get("/api/v1/processes")

    assert statuses == [200, 200]
    assert_problem(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert bearer(other_token).get("/api/v1/processes").status_code == 200  # per caller
    assert_problem(post(api, "/api/v1/processes", start_body()), 429, "throttled")
    assert not Process.objects.exists()


def test_people_are_rate_limited_per_user(olivia, oscar, settings):
    settings.API_RATE_LIMIT, settings.API_RATE_WINDOW = 1, 3600

    assert session(olivia).get("/api/v1/tasks").status_code == 200
    assert_problem(session(olivia).get("/api/v1/tasks"), 429, "throttled")
    assert session(oscar).get("/api/v1/tasks").status_code == 200


def test_an_address_guessing_tokens_gets_a_429_even_for_a_good_token(shop, settings):
    settings.API_AUTH_FAILURE_LIMIT, settings.API_RATE_WINDOW = 3, 3600
    _client, token = shop
    guess = token[:-4] + "abcd"

    refused = [bearer(guess).get("/api/v1/processes").status_code for _ in range(3)]
    throttled = bearer(token).get("/api/v1/processes")  # a good token from the same address

    assert refused == [401, 401, 401]
    assert_problem(throttled, 429, "auth-throttled")
    assert 1 <= int(throttled["Retry-After"]) <= 3600
    assert bearer(token, "198.51.100.7").get("/api/v1/processes").status_code == 200  # per address
    events = AuditEvent.objects.filter(action="api.auth_throttled")
    assert [e.details for e in events] == [{"address": "127.0.0.1", "failures": 3, "window_s": 3600}]


def test_good_tokens_and_sessions_are_not_counted_as_refused(shop, olivia, settings):
    settings.API_AUTH_FAILURE_LIMIT, settings.API_RATE_WINDOW = 2, 3600
    _client, token = shop

    statuses = [bearer(token).get("/api/v1/processes").status_code for _ in range(4)]
    statuses += [session(olivia).get("/api/v1/tasks").status_code for _ in range(3)]

    assert statuses == [200] * 7


def test_no_task_row_is_left_half_done_by_a_refused_start(shop):
    _client, token = shop
    post(bearer(token), "/api/v1/processes", start_body(data={**ORDER, "lines": "DESK-01 1"}))

    assert not Task.objects.exists()


def test_an_id_out_of_range_is_a_422_not_a_database_error(olivia):
    assert_problem(post(session(olivia), f"/api/v1/tasks/{2**63}/claim"), 422, "validation")
    assert_problem(post(session(olivia), "/api/v1/tasks/0/claim"), 422, "validation")
    assert_problem(session(olivia).get(f"/api/v1/processes/{2**64}"), 422, "validation")


def test_a_clients_start_is_audited_with_its_name(shop):
    from processes.models import AuditEvent

    _client, token = shop
    started = post(bearer(token), "/api/v1/processes", start_body()).json()

    event = AuditEvent.objects.get(action="api.process_started")
    assert event.process_id == started["id"]
    assert event.actor is None  # a system started it
    assert event.details == {"type": "order", "kind": "", "api_client": "shop"}
    assert "Started through the API" in [row["what"] for row in started["history"]]


def test_a_claim_by_a_client_names_it_in_the_audit(actor, submit_request):
    from processes.models import AuditEvent

    task = task_of(submit_request(), "approve")
    _client, token = actor

    post(bearer(token), f"/api/v1/tasks/{task.pk}/claim")

    event = AuditEvent.objects.get(action="task.assigned", task=task)
    assert event.actor.username == "olivia"
    assert event.details["api_client"] == "bot"


def test_a_person_who_enters_an_order_through_the_api_never_reviews_it(alice, roles, catalogue):
    """Her session's start makes her the order's starter (its StartHandle task is hers), so
    segregation of duties keeps its fraud review from her even in the fraud group."""
    from processes.gate import GateDenied, TaskAction, task_authorize
    from tests.conftest import fraud_review_of

    alice.groups.add(roles["fraud"])
    risky = {**ORDER, "customer_email": "mallory@mailinator.com"}
    response = post(session(alice), "/api/v1/processes", start_body(data=risky))
    assert response.status_code == 201, response.content
    order = Process.objects.get(pk=response.json()["id"]).coerced
    review = fraud_review_of(order)
    alice = type(alice).objects.get(pk=alice.pk)  # her new group's rights

    with pytest.raises(GateDenied) as refused:
        task_authorize(user=alice, task=review, action=TaskAction.CLAIM)
    assert refused.value.reason == "own_request"
    assert Task.objects.get(process=order, flow_task_type="START").owner == alice
