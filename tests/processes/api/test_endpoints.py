"""The read endpoints: who may call them, what they answer, and errors as problems."""

from __future__ import annotations

import pytest
from django.test import Client

from processes.api.services import api_token_revoke
from tests.conftest import task_of
from tests.processes.api.conftest import bearer

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PROBLEMS = "https://approvals-portal.example/problems/"


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == PROBLEMS + slug
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


# ---------------------------------------------------------------- authentication and scopes


@pytest.mark.parametrize("path", ["/api/v1/processes", "/api/v1/tasks", "/api/v1/processes/1"])
def test_no_credentials_is_a_401_problem(db, path):
    response = Client().get(path)

    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_or_unknown_token_is_a_401(reader):
    client, token = reader
    api_token_revoke(target=client)

    assert_problem(bearer(token).get("/api/v1/processes"), 401, "not-authenticated")
    assert_problem(bearer("ap_nope_nope").get("/api/v1/processes"), 401, "not-authenticated")


def test_a_token_from_an_address_outside_the_allow_list_is_a_401(make_client):
    _client, token = make_client(addresses="10.0.0.0/8")

    assert bearer(token, address="10.9.9.9").get("/api/v1/processes").status_code == 200
    assert_problem(bearer(token, address="192.0.2.1").get("/api/v1/processes"), 401, "not-authenticated")


@pytest.mark.parametrize("path", ["/api/v1/processes", "/api/v1/tasks", "/api/v1/processes/1"])
@pytest.mark.parametrize("scope", ["processes:start", "tasks:act", "webhooks:receive"])
def test_a_client_without_processes_read_gets_403(make_client, path, scope):
    _client, token = make_client(scopes=[scope])

    assert_problem(bearer(token).get(path), 403, "forbidden")


# ---------------------------------------------------------------- one process


def test_a_client_reads_a_process_with_its_tasks_and_history(reader, submit_request):
    process = submit_request(title="Standing desk")
    _client, token = reader

    body = bearer(token).get(f"/api/v1/processes/{process.pk}").json()

    assert body["id"] == process.pk
    assert body["type"] == {"label": "purchase", "title": "Purchase request", "kind": ""}
    assert body["status"] == "NEW"
    assert body["finished"] is None
    assert body["correlation_id"] == str(process.correlation_id)
    assert "Standing desk" in body["summary"]
    approve = task_of(process, "approve")
    assert body["tasks"] == [
        {
            "id": approve.pk,
            "process_id": process.pk,
            "step": "approve",
            "step_title": str(approve.flow_task.task_title),
            "status": "NEW",
            "owner": None,
            "created": body["tasks"][0]["created"],
            "finished": None,
        }
    ]
    assert "owner_permission" not in str(body)
    assert body["history"][0]["who"] == "alice"
    assert [{k: v for k, v in row.items() if k != "at"} for row in body["history"]] == [
        {k: v for k, v in row.items() if k != "at"} for row in _history(process)
    ]


def _history(process):
    from processes.selectors import process_history

    return [{k: v if k == "at" else str(v or "") for k, v in row.items()} for row in process_history(process)]


def test_a_person_sees_her_process_and_another_requester_gets_404(alice, ava, submit_request):
    process = submit_request()
    as_alice, as_ava = Client(), Client()
    as_alice.force_login(alice)
    as_ava.force_login(ava)

    assert as_alice.get(f"/api/v1/processes/{process.pk}").status_code == 200
    hidden = assert_problem(as_ava.get(f"/api/v1/processes/{process.pk}"), 404, "not-found")
    unknown = assert_problem(as_ava.get("/api/v1/processes/999999"), 404, "not-found")
    assert hidden["detail"] == unknown["detail"]  # existence is not leaked


@pytest.mark.parametrize("path", ["/api/", "/api/v1/nope", "/api/v2/processes"])
def test_an_unknown_path_is_a_404_problem(db, path):
    assert_problem(Client().get(path), 404, "not-found")


def test_an_unknown_process_is_a_404_problem(reader):
    _client, token = reader

    assert_problem(bearer(token).get("/api/v1/processes/999999"), 404, "not-found")


def test_a_malformed_id_is_a_422_problem(reader):
    _client, token = reader

    body = assert_problem(bearer(token).get("/api/v1/processes/abc"), 422, "validation")
    assert body["errors"]


# ---------------------------------------------------------------- lists and cursors


def _all_pages(http: Client, path: str, limit: int) -> list[int]:
    ids, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = http.get(path, query).json()
        ids += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            return ids
        assert pages < 100


def test_cursor_pages_have_no_duplicates_or_gaps(reader, submit_request):
    made = [submit_request(title=f"Request {n}").pk for n in range(7)]
    _client, token = reader
    http = bearer(token)

    assert _all_pages(http, "/api/v1/processes", limit=3) == sorted(made)
    tasks = _all_pages(http, "/api/v1/tasks", limit=2)
    assert tasks == sorted(tasks)
    assert len(tasks) == len(set(tasks))
    assert len(tasks) == len(_all_pages(http, "/api/v1/tasks", limit=100))


def test_a_person_pages_only_through_what_she_may_see(alice, ava, submit_request):
    hers = [submit_request(title=f"Alice {n}").pk for n in range(3)]
    ava_own = submit_request(title="Ava's", requester=ava).pk
    as_alice, as_ava = Client(), Client()
    as_alice.force_login(alice)
    as_ava.force_login(ava)

    assert _all_pages(as_alice, "/api/v1/processes", limit=2) == hers
    assert _all_pages(as_ava, "/api/v1/processes", limit=2) == [ava_own]
    ava_tasks = as_ava.get("/api/v1/tasks").json()["items"]
    assert {task["process_id"] for task in ava_tasks} == {ava_own}


def test_filters(reader, submit_request):
    process = submit_request()
    _client, token = reader
    http = bearer(token)

    assert [p["id"] for p in http.get("/api/v1/processes", {"type": "purchase"}).json()["items"]] == [
        process.pk
    ]
    assert http.get("/api/v1/processes", {"type": "order"}).json()["items"] == []
    assert http.get("/api/v1/processes", {"status": "DONE"}).json()["items"] == []
    open_tasks = http.get("/api/v1/tasks", {"process": process.pk, "status": "NEW"}).json()["items"]
    assert [t["step"] for t in open_tasks] == ["approve"]
    assert_problem(http.get("/api/v1/processes", {"type": "nope"}), 422, "validation")


@pytest.mark.parametrize("limit", [0, 101, -1, "x"])
def test_limit_bounds(reader, limit):
    _client, token = reader

    assert_problem(bearer(token).get("/api/v1/processes", {"limit": limit}), 422, "validation")


def test_limit_100_is_allowed(reader):
    _client, token = reader

    assert bearer(token).get("/api/v1/processes", {"limit": 100}).status_code == 200


def test_a_tampered_cursor_is_a_422_problem(reader, submit_request):
    for n in range(3):
        submit_request(title=f"Request {n}")
    _client, token = reader
    http = bearer(token)
    cursor = http.get("/api/v1/processes", {"limit": 1}).json()["next"]

    for bad in (cursor[:-2] + "xx", "eyJhZnRlciI6MH0", "garbage", cursor.replace(cursor[0], "z", 1)):
        if bad == cursor:
            continue
        assert_problem(http.get("/api/v1/processes", {"cursor": bad}), 422, "validation")


# ---------------------------------------------------------------- schema, docs, logs


def test_the_schema_is_openapi_3_1_and_lists_the_endpoints(db):
    body = Client().get("/api/openapi.json").json()

    assert body["openapi"] == "3.1.0"
    assert body["info"]["title"] == "Approvals Portal API"
    assert {"/api/v1/processes", "/api/v1/processes/{process_id}", "/api/v1/tasks"} <= set(body["paths"])


def test_the_docs_page_loads_its_assets_from_our_static_files(alice):
    http = Client()
    http.force_login(alice)

    response = http.get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    csp = response.get("Content-Security-Policy", "")
    assert "script-src" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert http.get("/static/ninja/swagger-ui-bundle.js").status_code == 200
    assert http.get("/static/ninja/swagger-ui-init.js").status_code == 200


def test_the_docs_page_needs_a_login(db):
    response = Client().get("/api/docs")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_method_an_endpoint_does_not_take_is_a_405_problem(alice):
    """A method no endpoint of the path takes is refused with the methods it does take."""
    http = Client(enforce_csrf_checks=True)
    http.force_login(alice)

    response = http.put("/api/v1/processes", {})
    read_only = http.post("/api/v1/tasks", {})

    assert_problem(response, 405, "method-not-allowed")
    assert sorted(response["Allow"].split(", ")) == ["GET", "POST"]
    assert_problem(read_only, 405, "method-not-allowed")
    assert read_only["Allow"] == "GET"


def test_the_token_never_reaches_the_logs(reader, caplog):
    _client, token = reader

    with caplog.at_level("DEBUG"):
        bearer(token).get("/api/v1/processes")
        bearer(token + "x").get("/api/v1/processes")

    assert token.split("_", 2)[2] not in caplog.text


def test_a_catalog_request_names_its_own_type(reader, alice, maria):
    """One flow runs every type defined in the admin: the type's name comes as `kind`."""
    from decimal import Decimal

    from processes.catalog.services import catalog_request_start
    from tests.processes.catalog.conftest import expense_type_define

    process = catalog_request_start(
        process_type=expense_type_define(maria),
        requester=alice,
        values={"title": "Laptop", "amount": Decimal("900"), "category": "Equipment"},
    )
    _client, token = reader

    body = bearer(token).get(f"/api/v1/processes/{process.pk}").json()

    assert body["type"]["label"] == "catalog"
    assert body["type"]["kind"] == "Expense claim"
    assert [
        item["type"]["label"]
        for item in bearer(token).get("/api/v1/processes", {"type": "catalog"}).json()["items"]
    ] == ["catalog"]


@pytest.mark.parametrize("path", ["/api/v1/processes", "/api/v1/tasks"])
def test_a_page_costs_the_same_queries_however_long(reader, alice, submit_request, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _client, token = reader
    as_alice = Client()
    as_alice.force_login(alice)
    submit_request(title="First")
    bearer(token).get(path)  # the token's first use writes last_used_at; the next ones do not
    counts = []
    for more in (0, 6):
        for n in range(more):
            submit_request(title=f"More {n}")
        for http in (bearer(token), as_alice):
            with CaptureQueriesContext(connection) as queries:
                assert http.get(path, {"limit": 100}).status_code == 200
            counts.append(len(queries))

    assert counts[:2] == counts[2:]
