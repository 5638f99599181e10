"""Read side of saved filters (issue 18): which a user sees, and the live counts of the pinned.

A user sees their own filters and those shared with any of their groups. A count runs the
filter through the list's own selector *as the viewer*, so a shared filter counts only the rows
its viewer may see, and it is capped (one `COUNT(*)` over at most COUNT_CAP + 1 rows) so that a
page's cost does not grow with the history behind a filter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, QueryDict
from django.urls import reverse
from django.utils import timezone
from viewflow.workflow.fields import get_flow_ref

from processes.locks import parameter_of, prepared_read, stand_in
from processes.tasklist import selectors
from processes.tasklist.forms import TaskFilterForm, process_choices
from processes.tasklist.models import SavedFilter, SavedFilterPin, TaskRow
from processes.tasklist.selectors import KIND_SEPARATOR

COUNT_CAP = 99  # shown as "99+" past it: a badge to glance at (the list itself counts to 1,000)

LIST_ROWS: dict[str, Callable[[Any], QuerySet[TaskRow]]] = {
    SavedFilter.Page.INBOX: selectors.task_rows_inbox,
    SavedFilter.Page.QUEUE: selectors.task_rows_queue,
    SavedFilter.Page.ARCHIVE: selectors.task_rows_archive,
}


def saved_filters_visible(user: Any) -> QuerySet[SavedFilter]:
    """`user`'s own filters and those shared with one of their groups (one query), each with
    `pinned`: whether `user` pinned it."""
    return _visible(user.pk)


def saved_filters_visible_list(user: Any) -> list[SavedFilter]:
    """`saved_filters_visible(user)`, read: every list page asks, so its query is compiled once a
    connection and prepared on the server (processes/locks.py `prepared_read`, ADR 0033)."""
    return prepared_read(("tasklist.saved_filters_visible",), _visible, user.pk).run()


def _visible(user_pk: int) -> QuerySet[SavedFilter]:
    return (
        SavedFilter.objects.filter(
            Q(owner_id=user_pk) | Q(shared_with__in=Group.objects.filter(user=user_pk))
        )
        .select_related("owner", "shared_with")
        .annotate(pinned=Exists(SavedFilterPin.objects.filter(saved_filter=OuterRef("pk"), user_id=user_pk)))
    )


def saved_filter_for_change(user: Any, pk: int) -> SavedFilter:
    """The filter `pk` if `user` can see it (else a 404); the services refuse a non-owner (403)."""
    saved = saved_filters_visible(user).filter(pk=pk).first()
    if saved is None:
        raise Http404("No such saved filter")
    return saved


@dataclass(frozen=True)
class PinnedCount:
    saved: SavedFilter
    count: int | None  # None: the filter no longer validates (a stage or process type gone)

    @property
    def label(self) -> str:
        if self.count is None:
            return "?"
        return f"{COUNT_CAP}+" if self.count > COUNT_CAP else str(self.count)


def _saved_filter_rows(
    user: Any,
    saved: SavedFilter,
    *,
    flows: list[type],
    processes: list[tuple[str, str]],
    stages: list[str],
    now: datetime | None = None,
) -> QuerySet[TaskRow] | None:
    """The rows of its list that `saved` shows `user` (None: the filter no longer validates).
    `flows`: selectors.flows_listed_for(user); `processes`: the process filter's choices of them;
    `now`: the time "overdue" is measured at (default: now)."""
    form = TaskFilterForm(QueryDict(saved.query), flows=flows, processes=processes, stages=stages)
    if not form.is_valid():
        return None
    return selectors.task_rows_filter(LIST_ROWS[saved.page](user), form.spec(), now=now)


def capped_counts_sql(querysets: list[QuerySet[TaskRow]]) -> tuple[str, list[Any]]:
    """One statement that counts each of `querysets`' rows, capped past COUNT_CAP (each a
    `COUNT(*)` over at most COUNT_CAP + 1 rows): `SELECT (SELECT COUNT(*) ...), (...)`. Each
    count keeps the plan it has alone (its subquery is the SQL Django writes for it)."""
    columns: list[str] = []
    params: list[Any] = []
    for n, rows in enumerate(querysets):
        try:
            sql, row_params = rows.order_by().values("pk")[: COUNT_CAP + 1].query.sql_with_params()
        except EmptyResultSet:  # nothing can match (a queue filter of a user without any right)
            columns.append("0")
            continue
        columns.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted_{n})")  # noqa: S608 - Django-compiled SQL, values as parameters
        params.extend(row_params)
    return "SELECT " + ", ".join(columns), params


def _counts_run(sql: str, params: list[Any]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [int(count) for count in cursor.fetchone()]


def saved_filter_count(user: Any, saved: SavedFilter, *, stages: list[str]) -> int | None:
    """How many rows of its list `saved` shows `user` (capped past COUNT_CAP): one query.
    `stages`: the stage filter's names, read once per page (selectors.stage_names)."""
    return pinned_count_values(user, [saved], stages=stages)[0]


@dataclass(frozen=True)
class _CountStatement:
    """The one statement that counts a page's pinned filters, compiled: its SQL, its parameters
    with a stand-in for the current time at `now_at` (the "overdue" filters'), and which of the
    filters validated (those have a column each, in order)."""

    sql: str
    params: list[Any]
    now_at: list[int]
    valid: list[bool]


COUNT_STATEMENTS_KEPT = 256  # per connection; past it they are compiled afresh


def pinned_count_values(user: Any, filters: list[SavedFilter], *, stages: list[str]) -> list[int | None]:
    """The count of each of `filters` for `user`, in one statement for all (None for a filter that
    no longer validates).

    Every list page counts its user's pins, and validating and compiling each filter cost more
    CPU than the counts (docs/benchmarks.md, 2026-12-07). So the compiled statement is kept on
    the connection (as processes/locks.py `prepared_read` keeps its queries), under everything
    its SQL follows from: the user, their permissions and the process types they see and list
    (the rows each list shows them), the filter's choices (process types, stages) and each
    filter's list and query. Only the time changes between two pages: an "overdue" filter is
    compiled with a stand-in time and bound to the current one. A filter on one of the catalog's
    own fields (`flow=<flow>#<type>` with `field_...`) reads that type's choices and requests as
    it is compiled, so a page with one compiles afresh."""
    if not filters:
        return []
    flows = selectors.flows_listed_for(user)
    processes = process_choices(flows)  # once for all (the process catalog's are a query)
    key = _count_statement_key(user, filters, flows=flows, processes=processes, stages=stages)
    kept = connection.__dict__.setdefault("_portal_pinned_count_statements", {})
    statement = kept.get(key) if key is not None else None
    if statement is None:
        statement = _count_statement(user, filters, flows=flows, processes=processes, stages=stages)
        if key is not None:
            if len(kept) >= COUNT_STATEMENTS_KEPT:
                kept.clear()
            kept[key] = statement
    params = list(statement.params)
    if statement.now_at:
        now = parameter_of(timezone.now())
        for place in statement.now_at:
            params[place] = now
    counted = iter(_counts_run(statement.sql, params) if any(statement.valid) else [])
    return [next(counted) if valid else None for valid in statement.valid]


def _count_statement(
    user: Any,
    filters: list[SavedFilter],
    *,
    flows: list[type],
    processes: list[tuple[str, str]],
    stages: list[str],
) -> _CountStatement:
    now = stand_in(timezone.now(), 0)
    rows = [
        _saved_filter_rows(user, saved, flows=flows, processes=processes, stages=stages, now=now)  # type: ignore[arg-type]  # an aware time
        for saved in filters
    ]
    valid = [each for each in rows if each is not None]
    sql, params = capped_counts_sql(valid) if valid else ("", [])
    now_parameter = parameter_of(now)
    now_at = [place for place, param in enumerate(params) if param == now_parameter]
    return _CountStatement(sql, params, now_at, [each is not None for each in rows])


def _count_statement_key(
    user: Any,
    filters: list[SavedFilter],
    *,
    flows: list[type],
    processes: list[tuple[str, str]],
    stages: list[str],
) -> tuple | None:
    """What the pins' statement follows from (None: a filter reads the database as it compiles)."""
    if any(
        "field_" in saved.query and KIND_SEPARATOR in QueryDict(saved.query).get("flow", "")
        for saved in filters
    ):
        return None
    return (
        COUNT_CAP,
        user.pk,
        user.is_superuser,
        tuple(sorted(user.get_all_permissions())),
        tuple(get_flow_ref(flow) for flow in selectors.flows_visible_to(user)),
        tuple(get_flow_ref(flow) for flow in flows),
        tuple(processes),
        tuple(stages),
        tuple((saved.pk, saved.page, saved.query) for saved in filters),
    )


def pinned_counts(user: Any, filters: list[SavedFilter], *, stages: list[str]) -> list[PinnedCount]:
    """The counts of the filters among `filters` (saved_filters_visible) that `user` pinned, in
    one query for all. A filter unshared since it was pinned is no longer visible, so no longer
    counted."""
    pinned = [saved for saved in filters if getattr(saved, "pinned", False)]  # saved_filters_visible's
    counts = pinned_count_values(user, pinned, stages=stages)
    return [PinnedCount(saved, count) for saved, count in zip(pinned, counts, strict=True)]


def pinned_for(user: Any) -> list[PinnedCount]:
    """`user`'s pinned filters with their counts, for the drawer: one query for the pins, one for
    the stage names when there are any, and one for the counts."""
    filters = list(saved_filters_visible(user).filter(pins__user=user))
    if not filters:
        return []
    return pinned_counts(user, filters, stages=selectors.stage_names())


def pinned_counts_by_url(user: Any) -> dict[str, str]:
    """The drawer's pinned counts keyed by the list URL each opens (live.js refreshes the drawer's
    `data-live-count` elements from these, with the Inbox and Queue counters)."""
    return {saved_filter_url(item.saved): item.label for item in pinned_for(user)}


def saved_filter_url(saved: SavedFilter) -> str:
    """The task list `saved` opens, with its filters."""
    return f"{reverse(f'tasks:{saved.page}:index')}?{saved.query}"
