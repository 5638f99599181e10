"""What the API reads: processes and tasks a caller may see, one cursor page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

from processes.api.models import ApiClient
from processes.api.problems import Problem
from processes.audit import correlation_id_of
from processes.gate import process_visible_to, processes_visible_ids
from processes.registry import registry
from processes.selectors import process_history, process_with_subclass

CURSOR_SALT = "processes.api.cursor"
MAX_LIMIT = 100
#: A person's list is filtered by visibility after the query: one page reads at most this many
#: batches before it answers (perhaps short, with a `next` cursor), so a request's cost is bounded.
MAX_BATCHES = 5
OPEN_STATUSES = (STATUS.NEW, STATUS.ASSIGNED, STATUS.STARTED, STATUS.SCHEDULED, STATUS.ERROR)


def cursor_encode(last_id: int) -> str:
    return signing.dumps({"after": last_id}, salt=CURSOR_SALT, compress=False)


def cursor_decode(cursor: str | None) -> int:
    """The id a cursor continues after; a cursor not made here (tampered, foreign) is a 422."""
    if not cursor:
        return 0
    try:
        data = signing.loads(cursor, salt=CURSOR_SALT)
        after = data["after"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise Problem(422, "The cursor is not valid; use the `next` value of a previous page.") from None
    if not isinstance(after, int) or after < 0:
        raise Problem(422, "The cursor is not valid; use the `next` value of a previous page.")
    return after


def flow_by_label(label: str, loc: str = "query") -> type:
    for flow in registry.flows():
        if flow.instance.flow_label == label:
            return flow
    if loc == "query":  # a filter: an invalid query like any other
        raise Problem(422, f"Unknown process type {label!r}.", [{"loc": ["query", "type"], "msg": "unknown"}])
    raise Problem(
        422,
        f"Unknown process type {label!r}.",
        [{"loc": ["body", "payload", "type"], "msg": "unknown"}],
        slug="process-type-unknown",
    )


def caller_user(caller: Any) -> Any:
    """Whose rights a caller acts with: the person herself, or the active service account an API
    client acts as (None: the client acts as nobody)."""
    if isinstance(caller, ApiClient):
        user = caller.acts_as
        return user if user is not None and user.is_active else None
    return caller


def process_types_for(caller: Any) -> list[dict[str, Any]]:
    """What the caller may start through the API, each type with the JSON Schema of its data."""
    user, system = caller_user(caller), isinstance(caller, ApiClient)
    types = []
    for descriptor in registry:
        label = descriptor.flow.instance.flow_label
        for entry in descriptor.api_start_types(user=user, system=system):
            types.append(
                {"type": label, "kind": entry.kind, "title": str(entry.title), "schema": dict(entry.schema)}
            )
    return types


def process_type(process: Any, kind: str = "") -> dict[str, str]:
    flow = process.flow_class.instance
    return {"label": flow.flow_label, "title": str(registry.for_flow(flow).title), "kind": kind}


@dataclass
class Page:
    items: list[Any]
    next: str | None


def _page(queryset: Any, *, caller: Any, limit: int, after: int, visible_ids: Any) -> Page:
    """Up to `limit` rows of `queryset` after id `after`, in id order, that the caller may see."""
    items: list[Any] = []
    last = after
    batch = limit if isinstance(caller, ApiClient) else max(limit, 50)
    for _ in range(MAX_BATCHES):
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return Page(items, None)
        seen = visible_ids(rows)
        for row in rows:
            last = row.pk
            if row.pk in seen:
                items.append(row)
                if len(items) == limit:
                    more = queryset.filter(pk__gt=last).exists()
                    return Page(items, cursor_encode(last) if more else None)
        if len(rows) < batch:
            return Page(items, None)
    return Page(items, cursor_encode(last))


def processes_page(
    *, caller: Any, limit: int, cursor: str | None, type_label: str | None, status: str | None
) -> Page:
    queryset = Process.objects.all()
    if type_label:
        queryset = queryset.filter(flow_class=flow_by_label(type_label))
    if status:
        queryset = queryset.filter(status=status)

    def visible(rows: list[Any]) -> set[int]:
        if isinstance(caller, ApiClient):
            return {row.pk for row in rows}
        return processes_visible_ids(user=caller, processes=rows)

    return _page(queryset, caller=caller, limit=limit, after=cursor_decode(cursor), visible_ids=visible)


def tasks_page(
    *,
    caller: Any,
    limit: int,
    cursor: str | None,
    status: str | None,
    process_id: int | None,
    type_label: str | None,
) -> Page:
    queryset = Task.objects.select_related("process", "owner")
    if status:
        queryset = queryset.filter(status=status)
    if process_id is not None:
        queryset = queryset.filter(process_id=process_id)
    if type_label:
        queryset = queryset.filter(process__flow_class=flow_by_label(type_label))

    def visible(rows: list[Any]) -> set[int]:
        if isinstance(caller, ApiClient):
            return {row.pk for row in rows}
        processes = {row.process_id: row.process for row in rows}
        ids = processes_visible_ids(user=caller, processes=processes.values())
        return {row.pk for row in rows if row.process_id in ids}

    return _page(queryset, caller=caller, limit=limit, after=cursor_decode(cursor), visible_ids=visible)


def process_for_caller(*, caller: Any, process_id: int) -> Any:
    """The process as its own model, or a 404 problem when it does not exist or the caller may not
    see it (the same answer: existence is not leaked)."""
    process = process_with_subclass(process_id)
    if process is None or not (
        isinstance(caller, ApiClient) or process_visible_to(user=caller, process=process)
    ):
        raise Problem(404, "No such process.")
    return process


def task_data(task: Task) -> dict[str, Any]:
    node = task.flow_task
    return {
        "id": task.pk,
        "process_id": task.process_id,
        "step": getattr(node, "name", ""),
        "step_title": str(getattr(node, "task_title", "") or getattr(node, "name", "")),
        "status": task.status,
        "owner": task.owner.get_username() if task.owner_id and task.owner else None,
        "created": task.created,
        "finished": task.finished,
    }


def process_detail(process: Any) -> dict[str, Any]:
    descriptor = registry.for_process(process)
    tasks = list(Task.objects.filter(process_id=process.pk).select_related("owner").order_by("pk"))
    own = descriptor.type_title(process)  # a catalog type's own name (process_for_caller coerced it)
    return {
        "id": process.pk,
        "type": process_type(process, own if own != descriptor.title else ""),
        "status": process.status,
        "created": process.created,
        "finished": process.finished,
        "correlation_id": correlation_id_of(process),
        "summary": descriptor.summary(process),
        "tasks": [task_data(task) for task in tasks if task.status in OPEN_STATUSES],
        "history": [
            {key: value if key == "at" else str(value or "") for key, value in row.items()}
            for row in process_history(process)
        ],
    }


def process_item(process: Any) -> dict[str, Any]:
    return {
        "id": process.pk,
        "type": process_type(process),
        "status": process.status,
        "created": process.created,
        "finished": process.finished,
    }
