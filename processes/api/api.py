"""The JSON API (design.md 4.8): `/api/v1/…`, its OpenAPI 3.1 schema and docs.

Every endpoint takes a client's bearer token (with the endpoint's scope) or a person's session
(CSRF on unsafe methods, her own visibility). Every error is a problem (processes/api/problems.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Any, Literal

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from ninja import Body, Field, Header, Path, Query, Router, Schema
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from viewflow.workflow.exceptions import FlowLockFailed

from processes.api import messages, selectors, services
from processes.api.auth import auth_for
from processes.api.idempotency import idempotent_with
from processes.api.models import Scope
from processes.api.problems import Problem, ProblemApi, problem_of, problem_response
from processes.api.throttle import CallerRateThrottle
from processes.selectors import process_with_subclass

# ---------------------------------------------------------------- schemas

#: The largest id a row can have (a bigint): a bigger one is a 422, not a database error.
MAX_ID = 2**63 - 1


class ProblemErrorOut(Schema):
    loc: list[str | int]
    msg: str


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str = ""
    errors: list[ProblemErrorOut] | None = Field(
        None, description="Per field (validation) or the gate's reason"
    )


#: A database id in a path: a bigger number is a 422, not a database error.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


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


class StartIn(Schema):
    type: str = Field(description="The process type's label (`order`, `purchase`, `catalog`)")
    kind: str = Field(
        "", description="The type's own name when one flow runs several (a catalog type's slug)"
    )
    data: dict[str, Any] = Field(
        description="The start's fields: see the type's `schema` in GET /process-types"
    )


class StartTypeOut(Schema):
    type: str = Field(description="The label to send as `type`")
    kind: str = Field(description="The value to send as `kind`")
    title: str
    data_schema: dict[str, Any] = Field(alias="schema", description="JSON Schema of `data`")


class DecideIn(Schema):
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=4000, description="Required to reject")


ERRORS: dict[int | tuple[int, ...], Any] = {(401, 403, 404, 422, 429): ProblemOut}
#: What every POST may answer besides its success: bad Idempotency-Key (400), key in flight or
#: task conflicts (409), key reused or invalid body (422), body over the cap (413).
WRITE_ERRORS: dict[int | tuple[int, ...], Any] = {(400, 401, 403, 404, 409, 413, 422, 429): ProblemOut}
#: The `Idempotency-Key` header, declared for the schema (processes/api/idempotency.py reads it).
IdempotencyKey = Annotated[
    str | None,
    Header(
        None,
        alias="Idempotency-Key",
        description='Optional; 1 to 255 printable ASCII characters, as an sf-string (`"abc"`) or bare',
    ),
]
IDEMPOTENCY_DOC = (
    " Send an `Idempotency-Key` header (optional, at most 255 characters) to make a retry safe: "
    "the same key and body replay the first response (`Idempotent-Replayed: true`), another body "
    "is a 422, a retry while the first runs a 409."
)

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


start = auth_for(Scope.PROCESSES_START)
act = auth_for(Scope.TASKS_ACT)


def json_response(request: HttpRequest, status: int, schema: type[Schema], data: Any) -> HttpResponse:
    """A response as ninja renders it, made in the endpoint (the idempotency helper stores it)."""
    body = schema.model_validate(data).model_dump(by_alias=True)
    return api.create_response(request, body, status=status)


def idempotent(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return idempotent_with(lambda request, exc: api.on_exception(request, exc))(view)


@v1.get(
    "/process-types",
    response={200: list[StartTypeOut], **ERRORS},
    auth=start,
    url_name="process_types",
    by_alias=True,
)
def process_types(request: HttpRequest) -> list[dict[str, Any]]:
    """The process types the caller may start, each with the JSON Schema of its `data`. A client
    needs `processes:start` (and a service account, `acts as`, for types that have a requester);
    a person sees what her rights let her start."""
    return selectors.process_types_for(request.auth)  # type: ignore[attr-defined]


@v1.post(
    "/processes",
    response={201: ProcessOut, **WRITE_ERRORS},
    auth=start,
    url_name="process_start",
    description="Start a process of a type the caller may start (GET /process-types), its `data` "
    "validated against the version it pins; 201 with the process and its Location." + IDEMPOTENCY_DOC,
)
@idempotent
def process_start(
    request: HttpRequest, payload: Body[StartIn], idempotency_key: IdempotencyKey = None
) -> HttpResponse:
    process = services.api_process_start(
        caller=request.auth,  # type: ignore[attr-defined]
        type_label=payload.type,
        kind=payload.kind,
        data=payload.data,
    )
    response = json_response(
        request, 201, ProcessOut, selectors.process_detail(process_with_subclass(process.pk))
    )
    response["Location"] = f"/api/v1/processes/{process.pk}"
    return response


@v1.post(
    "/tasks/{task_id}/claim",
    response={200: TaskOut, **WRITE_ERRORS},
    auth=act,
    url_name="task_claim",
    description="Claim a queued task, through the authorization gate." + IDEMPOTENCY_DOC,
)
@idempotent
def task_claim(request: HttpRequest, task_id: Id, idempotency_key: IdempotencyKey = None) -> HttpResponse:
    task = services.api_task_claim(caller=request.auth, task_id=task_id)  # type: ignore[attr-defined]
    return json_response(request, 200, TaskOut, selectors.task_data(task))


@v1.post(
    "/tasks/{task_id}/release",
    response={200: TaskOut, **WRITE_ERRORS},
    auth=act,
    url_name="task_release",
    description="Put a claimed task back in its queue (its holder or a manager)." + IDEMPOTENCY_DOC,
)
@idempotent
def task_release(request: HttpRequest, task_id: Id, idempotency_key: IdempotencyKey = None) -> HttpResponse:
    task = services.api_task_release(caller=request.auth, task_id=task_id)  # type: ignore[attr-defined]
    return json_response(request, 200, TaskOut, selectors.task_data(task))


@v1.post(
    "/tasks/{task_id}/decide",
    response={200: TaskOut, **WRITE_ERRORS},
    auth=act,
    url_name="task_decide",
    description="Approve or reject a task the caller holds (segregation of duties applies). A task "
    "already decided is a 409 `task-already-decided`; with the first decision's Idempotency-Key, "
    "its response again." + IDEMPOTENCY_DOC,
)
@idempotent
def task_decide(
    request: HttpRequest, task_id: Id, payload: Body[DecideIn], idempotency_key: IdempotencyKey = None
) -> HttpResponse:
    task = services.api_task_decide(
        caller=request.auth,  # type: ignore[attr-defined]
        task_id=task_id,
        approved=payload.decision == "approve",
        comment=payload.comment,
    )
    return json_response(request, 200, TaskOut, selectors.task_data(task))


# ---------------------------------------------------------------- the API

api = ProblemApi(
    title="Approvals Portal API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    description="Processes and tasks for systems (bearer tokens of API clients) and people (session).",
    throttle=[CallerRateThrottle()],
)
api.add_router("/v1/", v1)
api.add_router("/v1/", messages.router)  # POST /api/v1/messages/ (processes/api/messages.py)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return problem_of(request, exc)


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    retry = str(getattr(request, "_api_retry_after", 1))
    return problem_response(
        request, 429, f"Too many requests; retry in {retry} s.", headers={"Retry-After": retry}
    )


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem_response(request, 403, str(exc) or "You may not do this.")


@api.exception_handler(FlowLockFailed)
def _busy(request: HttpRequest, exc: FlowLockFailed) -> HttpResponse:
    return problem_response(
        request, 409, "The process is busy with another change; retry.", headers={"Retry-After": "1"}
    )


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
            # Not in ATOMIC_REQUESTS: a POST's transactions are its idempotency helper's
            # (processes/api/idempotency.py); reads run in autocommit.
            pattern.callback = transaction.non_atomic_requests(
                login_not_required(_not_allowed_as_problem(pattern.callback))
            )
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
