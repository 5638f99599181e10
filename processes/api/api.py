"""The JSON API (design.md 4.8): `/api/v1/…`, its OpenAPI 3.1 schema and docs.

Every endpoint takes a client's bearer token (with the endpoint's scope) or a person's session
(CSRF on unsafe methods, her own visibility). Every error is a problem (processes/api/problems.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from processes.api import messages, selectors
from processes.api.auth import auth_for
from processes.api.models import Scope
from processes.api.problems import Problem, ProblemApi, problem_response

# ---------------------------------------------------------------- schemas

#: The largest id a row can have (a bigint): a bigger one is a 422, not a database error.
MAX_ID = 2**63 - 1


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str = ""


class ProcessTypeOut(Schema):
    label: str = Field(description="The flow's label (`purchase`, `order`, `catalog`)")
    title: str
    kind: str = Field("", description="The type's own name when one flow runs several (the catalog)")


class TaskOut(Schema):
    id: int
    process_id: int
    step: str
    step_title: str
    status: str
    owner: str | None
    created: datetime
    finished: datetime | None


class HistoryOut(Schema):
    at: datetime
    who: str
    what: str
    step: str
    detail: str
    comment: str


class ProcessItemOut(Schema):
    id: int
    type: ProcessTypeOut
    status: str
    created: datetime
    finished: datetime | None


class ProcessOut(ProcessItemOut):
    correlation_id: str
    summary: str
    tasks: list[TaskOut]
    history: list[HistoryOut]


class ProcessPage(Schema):
    items: list[ProcessItemOut]
    next: str | None = Field(description="The cursor of the next page; null on the last page")


class TaskPage(Schema):
    items: list[TaskOut]
    next: str | None = Field(description="The cursor of the next page; null on the last page")


class PageQuery(Schema):
    cursor: str | None = Field(None, description="`next` of the previous page")
    limit: int = Field(50, ge=1, le=selectors.MAX_LIMIT)


#: A status filter: viewflow's statuses are upper-case words (NEW, DONE, ...). Anything else is
#: a 422, not a query (PostgreSQL refuses a NUL byte in a text parameter with an error).
STATUS_FILTER = Field(None, pattern=r"^[A-Za-z_]{1,50}$", description="A status, e.g. NEW or DONE")


class ProcessFilters(PageQuery):
    type: str | None = Field(None, description="A process type's label")
    status: str | None = STATUS_FILTER


class TaskFilters(PageQuery):
    status: str | None = STATUS_FILTER
    process: int | None = Field(None, ge=1, le=MAX_ID, description="A process's id")
    type: str | None = Field(None, description="A process type's label")


ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404, 422): ProblemOut}

# ---------------------------------------------------------------- endpoints

v1 = Router(tags=["processes"])
read = auth_for(Scope.PROCESSES_READ)


@v1.get("/processes", response={200: ProcessPage, **ERRORS}, auth=read, url_name="process_list")
def process_list(request: HttpRequest, filters: Query[ProcessFilters]) -> dict[str, Any]:
    """Processes the caller may see, oldest first, one cursor page at a time. A client with
    `processes:read` sees every process; a person sees what the portal shows her."""
    page = selectors.processes_page(
        caller=request.auth,  # type: ignore[attr-defined]
        limit=filters.limit,
        cursor=filters.cursor,
        type_label=filters.type,
        status=filters.status,
    )
    return {"items": [selectors.process_item(p) for p in page.items], "next": page.next}


@v1.get("/processes/{process_id}", response={200: ProcessOut, **ERRORS}, auth=read, url_name="process_detail")
def process_detail(request: HttpRequest, process_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    """One process: its state, open tasks, history and correlation id."""
    process = selectors.process_for_caller(caller=request.auth, process_id=process_id)  # type: ignore[attr-defined]
    return selectors.process_detail(process)


@v1.get("/tasks", response={200: TaskPage, **ERRORS}, auth=read, url_name="task_list")
def task_list(request: HttpRequest, filters: Query[TaskFilters]) -> dict[str, Any]:
    """Tasks of the processes the caller may see, oldest first, one cursor page at a time."""
    page = selectors.tasks_page(
        caller=request.auth,  # type: ignore[attr-defined]
        limit=filters.limit,
        cursor=filters.cursor,
        status=filters.status,
        process_id=filters.process,
        type_label=filters.type,
    )
    return {"items": [selectors.task_data(t) for t in page.items], "next": page.next}


# ---------------------------------------------------------------- the API

api = ProblemApi(
    title="Approvals Portal API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    description="Processes and tasks for systems (bearer tokens of API clients) and people (session).",
)
api.add_router("/v1/", v1)
api.add_router("/v1/", messages.router)  # POST /api/v1/messages/ (processes/api/messages.py)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return problem_response(request, exc.status, exc.detail, exc.errors, slug=exc.slug)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(request, 401, "Send a valid API token (Authorization: Bearer …) or log in.")


@api.exception_handler(AuthorizationError)
def _forbidden(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return problem_response(request, 403, "You may not do this.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem_response(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, "Not found.")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors]
    return problem_response(request, 422, "The request is not valid.", errors)


def api_urls() -> tuple[list[Any], str, str]:
    """The API's URL patterns for `portal/urls.py`. The endpoints and the schema are not behind
    LoginRequiredMiddleware (they answer 401 problems themselves, and a client has no session);
    the interactive docs are, for people."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if not isinstance(pattern, URLPattern):
            continue
        if pattern.name == "api-root":  # ninja's root only raises Http404 (it names the docs' URL)
            pattern.callback = unknown_path
        elif pattern.name != "openapi-view" and pattern.callback is not None:
            pattern.callback = login_not_required(_not_allowed_as_problem(pattern.callback))
    return [*patterns, path("<path:rest>", unknown_path, name="unknown")], app_name, namespace


@login_not_required
@csrf_exempt
def unknown_path(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/: a 404 problem, like every other API error."""
    return problem_response(request, 404, "No such endpoint; see /api/openapi.json.")


def _not_allowed_as_problem(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """ninja answers a method a path does not take with Django's plain 405: make it a problem."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and response.get("Content-Type", "").startswith("text/html"):
            allow = response.get("Allow", "")
            response = problem_response(request, 405, f"This path takes {allow or 'other methods'}.")
            response["Allow"] = allow
        return response

    return wrapped
