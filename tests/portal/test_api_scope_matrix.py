"""The API's scope matrix: every operation of the OpenAPI schema, the one scope a client needs
for it, and what a client holding each other scope, or no token at all, gets. The people's side
of the same routes (sessions, per role) is in authorization_matrix.csv; this is the systems' side.

An operation missing from SCOPES fails here, as a route missing from the authorization matrix
does, and so does a row naming no operation."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver

from processes.api.api import api
from processes.api.models import Scope
from processes.api.services import api_client_create
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

#: (method, path template) -> the scope a client's token needs.
SCOPES = {
    ("GET", "/api/v1/processes"): Scope.PROCESSES_READ,
    ("POST", "/api/v1/processes"): Scope.PROCESSES_START,
    ("GET", "/api/v1/processes/{process_id}"): Scope.PROCESSES_READ,
    ("GET", "/api/v1/tasks"): Scope.PROCESSES_READ,
    ("GET", "/api/v1/process-types"): Scope.PROCESSES_START,
    ("POST", "/api/v1/tasks/{task_id}/claim"): Scope.TASKS_ACT,
    ("POST", "/api/v1/tasks/{task_id}/release"): Scope.TASKS_ACT,
    ("POST", "/api/v1/tasks/{task_id}/decide"): Scope.TASKS_ACT,
    ("POST", "/api/v1/messages/"): Scope.WEBHOOKS_RECEIVE,
}


def schema_operations() -> set[tuple[str, str]]:
    paths = api.get_openapi_schema(path_prefix="/api")["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_operation_has_a_row_and_every_row_an_operation():
    operations = schema_operations()
    assert operations - set(SCOPES) == set(), "operations without a row in SCOPES"
    assert set(SCOPES) - operations == set(), "rows of SCOPES that name no operation"


def _problem_type(response) -> str:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()["type"].rsplit("/", 1)[-1]


def test_each_scope_opens_its_operations_and_no_other(submit_request, purchase_policy):
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    process = submit_request()
    ids = {"process_id": process.pk, "task_id": task_of(process, "approve").pk}
    tokens = {scope: api_client_create(name=scope, scopes=[scope])[1] for scope in Scope.values}
    for (method, template), needed in SCOPES.items():
        path = template.format(**ids)
        anonymous = Client().generic(method, path, b"{}", content_type="application/json")
        assert (anonymous.status_code, _problem_type(anonymous)) == (401, "not-authenticated"), path
        for scope, token in tokens.items():
            response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").generic(
                method, path, b"{}", content_type="application/json"
            )
            refused = response.status_code == 403 and _problem_type(response) == "forbidden"
            assert refused is (scope != needed), (
                method,
                template,
                scope,
                response.status_code,
                response.content,
            )
