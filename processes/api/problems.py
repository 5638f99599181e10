"""RFC 9457 problem details: every API error, one stable `type` URI per failure."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

PROBLEM_BASE = "https://approvals-portal.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

#: status -> (type slug, title) for the failures the API answers.
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("not-authenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    422: ("validation", "Invalid request"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    429: ("throttled", "Too many requests"),
    500: ("server-error", "Internal server error"),
    503: ("unavailable", "Service temporarily unavailable"),
}

#: Failures that share a status with others get their own type: slug -> (status, title).
TYPED_PROBLEMS: dict[str, tuple[int, str]] = {
    "idempotency-key-invalid": (400, "Invalid Idempotency-Key"),
    "idempotency-key-reused": (422, "Idempotency-Key reused with another request"),
    "idempotency-key-in-flight": (409, "A request with this Idempotency-Key is in progress"),
    "task-already-decided": (409, "Task already decided"),
    "task-unavailable": (409, "Task not available"),
    "no-acting-user": (403, "The client acts as nobody"),
    "process-type-unknown": (422, "Unknown process type"),
    "permission-denied": (403, "Not allowed by the authorization gate"),
    "auth-throttled": (429, "Too many refused tokens from this address"),
    # POST /api/v1/messages/ (processes/api/messages.py): why a callback was refused.
    "signature-missing": (400, "The message is not signed"),
    "signature-bad-timestamp": (400, "The message's timestamp is not valid"),
    "signature-stale": (401, "The message's timestamp is too far from the server's clock"),
    "signature-invalid": (401, "The message's signature does not match"),
    "message-replayed": (409, "This message was received before"),
    "message-unknown": (422, "No process waits for messages of this name"),
}


class Problem(Exception):
    """Raise from an endpoint to answer with a problem: `status`, a `detail` for people, and
    optional `errors` (a list of {loc, msg}) for validation failures."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        if slug is not None and TYPED_PROBLEMS[slug][0] != status:
            raise ValueError(f"the problem {slug} is a {TYPED_PROBLEMS[slug][0]}, not a {status}")
        self.status = status
        self.detail = detail
        self.errors = errors
        self.slug = slug
        self.headers = headers or {}


def problem_response(
    request: HttpRequest,
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    if slug is not None:
        title = TYPED_PROBLEMS[slug][1]
    else:
        slug, title = PROBLEMS.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def problem_of(request: HttpRequest, exc: Problem) -> HttpResponse:
    return problem_response(request, exc.status, exc.detail, exc.errors, slug=exc.slug, headers=exc.headers)


class ProblemApi(NinjaAPI):
    """A NinjaAPI whose schema says what it sends: every error response (4xx, 5xx) is
    `application/problem+json`, not the `application/json` that ninja writes for every status."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status)[:1] in "45" and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        return schema
