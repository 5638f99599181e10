"""The error page that needs no database (portal/views.py `server_error`, Django's handler500):
503 with Retry-After when the database is what failed, 500 otherwise, a problem document under
/api/. The outage is real: the connection is closed and its settings point where nothing
answers, so the driver itself refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import get_resolver

from portal.cluster import free_port
from portal.views import DATABASE_RETRY_AFTER_SECONDS, server_error
from processes.api.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE
from processes.api.services import api_client_create

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_gone() -> Iterator[None]:
    """Until the block ends, every new connection of this process fails: PostgreSQL's settings
    name a port nothing listens on, SQLite's a file in a directory that does not exist."""
    assert get_resolver().url_patterns  # loaded while the database still answers
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        settings_dict["NAME"] = "/nonexistent/portal.sqlite3"
    try:
        yield
    finally:
        connection.close()
        settings_dict.clear()
        settings_dict.update(saved)


def test_a_page_while_the_database_is_gone_is_a_503_to_retry(olivia):
    client = Client(raise_request_exception=False)
    client.force_login(olivia)

    with database_gone():
        response = client.get("/tasks/inbox/?page=2")

    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    body = response.content.decode()
    assert "Temporarily unavailable" in body
    assert "Nothing was changed" in body
    assert 'href="/tasks/inbox/?page=2"' in body  # try the same page again
    assert client.get("/tasks/inbox/").status_code == 200  # back once it answers


def test_an_api_call_while_the_database_is_gone_is_a_503_problem():
    _client, token = api_client_create(name="shop", scopes=["processes:read"])
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token}")

    with database_gone():
        response = client.get("/api/v1/processes/")

    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    problem = json.loads(response.content)
    assert (problem["type"], problem["status"]) == (PROBLEM_BASE + "unavailable", 503)


def _handled(error: Exception, path: str, method: str = "get"):
    """server_error as Django calls it: inside the handling of `error`."""
    request = getattr(RequestFactory(), method)("/")
    request.path = path  # as the request line had it: the factory would read "//host/x" as a URL
    try:
        raise error
    except Exception:
        return server_error(request)


def test_any_other_error_is_a_500_without_retry_after():
    response = _handled(ValueError("boom"), "/tasks/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "boom" not in body  # nothing of the error reaches the page

    problem = _handled(ValueError("boom"), "/api/v1/tasks/")
    assert problem.status_code == 500
    assert json.loads(problem.content)["type"] == PROBLEM_BASE + "server-error"


def test_the_retry_link_stays_on_this_site_and_a_refused_post_goes_home():
    from django.db import OperationalError

    response = _handled(OperationalError("gone"), "//evil.example/x")
    assert 'href="/%2Fevil.example/x"' in response.content.decode()

    response = _handled(OperationalError("gone"), "/tasks/1/claim/", method="post")
    assert 'href="/"' in response.content.decode()
