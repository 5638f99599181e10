"""Saved filters (issue 18): save, rename, share read-only with a group, pin with a live count in
the drawer and on the lists, each user their own pins."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver

from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.tasklist import saved_selectors, selectors
from processes.tasklist.models import SavedFilter, SavedFilterPin, TaskRow
from processes.tasklist.saved_services import (
    saved_filter_create,
    saved_filter_delete,
    saved_filter_pin,
    saved_filter_rename,
)
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

QUEUE, INBOX, CREATE = "/tasks/queue/", "/tasks/inbox/", "/tasks/filters/"


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns


@pytest.fixture(autouse=True)
def _no_broker():
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture
def reviewers(olivia, frank):
    """A group olivia (approver) and frank (finance) share: the same filter shows each their own rows."""
    group = Group.objects.create(name="reviewers")
    group.user_set.add(olivia, frank)
    return group


@pytest.fixture
def two_queued(purchase_policy, submit_request):
    """Two requests in the approvers' queue (below finance's threshold: none in finance's)."""
    return [submit_request(title="Chair", amount="190.00"), submit_request(title="Lamp", amount="40.00")]


# ---------------------------------------------------------------- services and selectors


def test_saving_normalises_the_query_through_the_list_form(olivia):
    saved = saved_filter_create(
        owner=olivia, name="Cheap", page="queue", query="?page=3&sort=age&amount_max=100&bogus=1&q=+lamp+"
    )

    assert saved.query == "q=lamp&amount_max=100&sort=age"
    assert AuditEvent.objects.filter(action="filter.saved", actor=olivia).exists()


@pytest.mark.parametrize(
    "query", ["amount_min=abc", "amount_min=500&amount_max=100", "sort=sideways", "", "page=2&bogus=1"]
)
def test_an_invalid_or_empty_query_is_refused(olivia, query):
    with pytest.raises(ValidationError):
        saved_filter_create(owner=olivia, name="Bad", page="queue", query=query)

    assert not SavedFilter.objects.exists()


def test_a_name_is_unique_per_owner(olivia, oscar):
    saved_filter_create(owner=olivia, name="Mine", page="queue", query="sort=age")
    saved_filter_create(owner=oscar, name="Mine", page="queue", query="sort=age")  # another owner: fine

    with pytest.raises(ValidationError) as refused:
        saved_filter_create(owner=olivia, name="Mine", page="inbox", query="sort=age")

    assert "name" in refused.value.message_dict


def test_sharing_only_with_one_of_my_groups(olivia, roles):
    with pytest.raises(ValidationError) as refused:
        saved_filter_create(
            owner=olivia, name="X", page="queue", query="sort=age", shared_with=roles["finance"]
        )

    assert "shared_with" in refused.value.message_dict
    shared = saved_filter_create(
        owner=olivia, name="X", page="queue", query="sort=age", shared_with=roles["approvers"]
    )
    assert shared.shared_with == roles["approvers"]


def test_a_user_sees_their_own_and_their_groups_shared_filters_only(olivia, oscar, alice, roles):
    own = saved_filter_create(owner=oscar, name="Oscar's", page="queue", query="sort=age")
    shared = saved_filter_create(
        owner=olivia, name="Team", page="queue", query="sort=age", shared_with=roles["approvers"]
    )
    saved_filter_create(owner=olivia, name="Private", page="queue", query="sort=-age")

    assert list(saved_selectors.saved_filters_visible(oscar)) == [own, shared]
    assert list(saved_selectors.saved_filters_visible(alice)) == []
    # the list pages' read (compiled once a connection): the same rows, with their owner and group
    with CaptureQueriesContext(connection) as captured:
        listed = saved_selectors.saved_filters_visible_list(oscar)
        assert [(saved.owner.username, saved.shared_with) for saved in listed] == [
            ("oscar", None),
            ("olivia", roles["approvers"]),
        ]
    assert listed == [own, shared]
    assert len(captured) == 1
    assert saved_selectors.saved_filters_visible_list(alice) == []


def test_a_shared_filter_is_read_only_for_the_others_who_pin_it_for_themselves(olivia, oscar, alice, roles):
    shared = saved_filter_create(
        owner=olivia, name="Team", page="queue", query="sort=age", shared_with=roles["approvers"]
    )

    with pytest.raises(PermissionDenied):
        saved_filter_delete(saved=shared, user=oscar)
    with pytest.raises(PermissionDenied):
        saved_filter_rename(saved=shared, user=oscar, name="Mine now")
    with pytest.raises(PermissionDenied):
        saved_filter_pin(saved=shared, user=alice, pinned=True)  # not in the group
    saved_filter_pin(saved=shared, user=oscar, pinned=True)
    saved_filter_pin(saved=shared, user=oscar, pinned=True)  # twice: still one pin

    def pinned(user) -> list[bool]:
        flags = [saved.pinned for saved in saved_selectors.saved_filters_visible(user)]
        assert [saved.pinned for saved in saved_selectors.saved_filters_visible_list(user)] == flags
        return flags

    assert pinned(oscar) == [True]
    assert pinned(olivia) == [False]  # oscar's pin is his, not the owner's
    saved_filter_pin(saved=shared, user=olivia, pinned=True)
    saved_filter_pin(saved=shared, user=oscar, pinned=False)
    assert pinned(oscar) == [False]
    assert pinned(olivia) == [True]
    assert SavedFilterPin.objects.count() == 1


def test_the_owner_renames_to_a_free_valid_name_and_it_is_audited(olivia):
    saved = saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100")
    saved_filter_create(owner=olivia, name="Late", page="queue", query="sort=age")

    with pytest.raises(ValidationError) as taken:
        saved_filter_rename(saved=saved, user=olivia, name=" Late ")
    assert taken.value.message_dict == {"name": ["You already have a filter with this name."]}
    with pytest.raises(ValidationError):
        saved_filter_rename(saved=saved, user=olivia, name="   ")
    with pytest.raises(ValidationError):
        saved_filter_rename(saved=saved, user=olivia, name="x" * 61)
    saved_filter_rename(saved=saved, user=olivia, name="  Under 100  ")

    saved.refresh_from_db()
    assert saved.name == "Under 100"
    event = AuditEvent.objects.get(action="filter.renamed")
    assert event.details == {"filter": saved.pk, "from": "Cheap", "to": "Under 100"}


def test_a_shared_filter_counts_only_what_each_viewer_may_see(olivia, frank, reviewers, two_queued):
    shared = saved_filter_create(
        owner=olivia, name="Cheap", page="queue", query="amount_max=500", shared_with=reviewers
    )
    stages = ["Team approval", "Finance review"]

    assert saved_selectors.saved_filter_count(olivia, shared, stages=stages) == 2
    assert saved_selectors.saved_filter_count(frank, shared, stages=stages) == 0


def test_a_count_is_capped():
    assert saved_selectors.PinnedCount(SavedFilter(), 100).label == "99+"
    assert saved_selectors.PinnedCount(SavedFilter(), 99).label == "99"
    assert saved_selectors.PinnedCount(SavedFilter(), None).label == "?"


def _archived_copies(task, owner, copies: int) -> None:
    """`copies` finished rows copied from `task`'s: half of them `owner`'s, the rest nine other
    users' (ids nobody has; the row's owner has no foreign key), one in a hundred an "order".
    PostgreSQL's SQL."""
    _row_copies(task, owner, copies, "DONE")


def _row_copies(task, owner, copies: int, status: str) -> None:
    """`copies` rows copied from `task`'s, in `status`: DONE (finished, as `_archived_copies`),
    ASSIGNED (half of them `owner`'s, as there) or NEW (queued), each due a minute later than the
    last. PostgreSQL's SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """WITH tasks AS (
                   INSERT INTO viewflow_task (flow_task, flow_task_type, status, created, finished, token,
                       owner_permission, process_id, data)
                   SELECT flow_task, flow_task_type, %(status)s, created,
                       CASE WHEN %(status)s = 'DONE' THEN now() END, token, owner_permission, process_id, data
                   FROM viewflow_task, generate_series(1, %(copies)s) WHERE id = %(task)s
                   RETURNING id)
               INSERT INTO processes_taskrow (task_id, flow_class, process_id, node, subject, requester,
                   amount, currency, stage_name, kind, owner_permission, owner_id, status, priority, due_at,
                   created, finished, search)
               SELECT tasks.id, r.flow_class, r.process_id, r.node, r.subject, r.requester, r.amount,
                   r.currency, r.stage_name, r.kind, r.owner_permission,
                   CASE WHEN %(status)s = 'NEW' THEN NULL
                        WHEN tasks.id %% 2 = 0 THEN %(owner)s ELSE 100000 + tasks.id %% 9 END,
                   %(status)s, r.priority, now() + make_interval(mins => tasks.id::int), r.created,
                   CASE WHEN %(status)s = 'DONE' THEN now() - make_interval(secs => tasks.id) END,
                   CASE WHEN tasks.id %% 100 = 0 THEN 'purchase order ' ELSE 'laptop ' END || tasks.id || ' alice'
               FROM tasks, processes_taskrow r WHERE r.task_id = %(task)s""",
            {"task": task.pk, "copies": copies, "owner": owner.pk, "status": status},
        )
        # as autovacuum would have: the statistics, and the GIN index's pending list merged
        cursor.execute("ANALYZE processes_taskrow")
        cursor.execute("SELECT gin_clean_pending_list('taskrow_archive_search'::regclass)")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
@pytest.mark.parametrize(
    ("status", "page", "query", "index"),
    [
        ("NEW", "queue", "", "taskrow_new_due_cov"),
        (
            "NEW",
            "queue",
            "sort=priority&amount_min=100&amount_max=4000&stage=Team+approval",
            "taskrow_new_priority_cov",
        ),
        ("NEW", "queue", "sort=-age", "taskrow_new_created_cov"),
        ("ASSIGNED", "inbox", "", "taskrow_inbox_cov"),
        ("DONE", "archive", "", "taskrow_archive_cov"),
    ],
)
@pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction
def test_a_list_counts_its_rows_from_its_sort_index_alone(olivia, two_queued, status, page, query, index):
    """A page's capped count (views.py `CappedPaginator`) reads the list's sort index in order, and
    nothing else: the index holds the filtered columns (migration 0035)."""
    import re

    from django.http import QueryDict

    from processes.tasklist.forms import TaskFilterForm
    from processes.tasklist.views import COUNT_CAP

    _row_copies(task_of(two_queued[0], "approve"), olivia, 5_000, status)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM processes_taskrow")  # as autovacuum would have: the visibility map
    form = TaskFilterForm(
        QueryDict(query), flows=selectors.flows_listed_for(olivia), stages=selectors.stage_names()
    )
    assert form.is_valid(), form.errors
    rows = selectors.task_rows_filter(
        saved_selectors.LIST_ROWS[page](olivia), form.spec("finished" if page == "archive" else "due")
    )
    with CaptureQueriesContext(connection) as captured:
        count = rows[: COUNT_CAP + 1].count()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert count == COUNT_CAP + 1
    assert re.search(rf"Index Only Scan (Backward )?using {index} on processes_taskrow", plan), plan
    assert "Heap" not in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_archive_search_index_says_what_the_archive_asks(olivia):
    """PostgreSQL uses the partial index taskrow_archive_search (migration 0033) only if its
    predicate is the archive's filter, and it serves the owner and the search together."""
    import importlib

    sql = importlib.import_module("processes.migrations.0033_taskrow_archive_search").ARCHIVE_SEARCH
    query = str(
        selectors.task_rows_filter(selectors.task_rows_archive(olivia), selectors.TaskFilter(q="order")).query
    )

    assert "USING gin (owner_id, search gin_trgm_ops) WHERE finished IS NOT NULL" in sql
    assert '"processes_taskrow"."finished" IS NOT NULL' in query
    assert f'"processes_taskrow"."owner_id" = {olivia.pk}' in query
    assert '"processes_taskrow"."search" LIKE %order%' in query.replace("::text", "")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_a_pinned_archive_search_reads_the_owners_matches_not_their_whole_archive(olivia, two_queued):
    """The pinned count of an archive search (the "Orders" pin of bench/tasklist.py) reads
    taskrow_archive_search: the owner's rows that hold the term, not every row they finished."""
    _archived_copies(task_of(two_queued[0], "approve"), olivia, 20_000)
    saved = saved_filter_create(owner=olivia, name="Orders", page="archive", query="q=order")
    stages = selectors.stage_names()

    with CaptureQueriesContext(connection) as captured:
        count = saved_selectors.saved_filter_count(olivia, saved, stages=stages)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    archive = TaskRow.objects.filter(owner=olivia, finished__isnull=False).values_list("search", flat=True)
    matches = sum("order" in search for search in archive)
    assert matches == 200  # one copy in 100, all olivia's
    assert count == min(matches, saved_selectors.COUNT_CAP + 1)  # read up to the cap: "99+"
    assert "Bitmap Index Scan on taskrow_archive_search" in plan, plan


# ---------------------------------------------------------------- views


def test_save_the_current_filters_from_the_list(client, olivia, two_queued, roles):
    client.force_login(olivia)
    page = client.get(QUEUE + "?amount_max=100&sort=age").content.decode()
    assert 'name="query" value="amount_max=100&amp;sort=age"' in page

    response = client.post(
        CREATE,
        {
            "name": "Small",
            "page": "queue",
            "query": "amount_max=100&sort=age",
            "shared_with": roles["approvers"].pk,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == QUEUE + "?amount_max=100&sort=age"
    listed = client.get(QUEUE).content.decode()
    assert "Small" in listed
    assert "shared with approvers" in listed


def test_a_refused_save_shows_the_list_with_the_errors(client, olivia, two_queued, roles):
    client.force_login(olivia)

    response = client.post(
        CREATE, {"name": "", "page": "queue", "query": "amount_max=100", "shared_with": roles["finance"].pk}
    )

    assert response.status_code == 422
    assert set(response.context["save_form"].errors) == {"name", "shared_with"}
    # the controls keep what was sent (written in Python: processes/tasklist/rendering.py)
    page = response.content.decode()
    assert 'name="query" value="amount_max=100"' in page
    assert f'<option value="{roles["approvers"].pk}">approvers</option>' in page
    assert (
        '<input type="text" name="name" maxlength="60" id="id_name" required aria-invalid="true" '
        'aria-describedby="id_name_error">'
    ) in page
    assert 'id="id_name_error" role="alert">This field is required.' in page  # what it names
    assert len(response.context["rows"]) == 1  # the list, filtered as it was
    assert 'action="/tasks/queue/"' in response.content.decode()
    bad_query = client.post(CREATE, {"name": "X", "page": "queue", "query": "amount_min=abc"})
    assert bad_query.status_code == 422
    assert bad_query.context["save_form"].non_field_errors()
    assert not SavedFilter.objects.exists()


def test_others_see_a_shared_filter_read_only_and_cannot_change_it(client, olivia, oscar, alice, roles):
    shared = saved_filter_create(
        owner=olivia, name="Team", page="queue", query="sort=age", shared_with=roles["approvers"]
    )
    private = saved_filter_create(owner=olivia, name="Private", page="queue", query="sort=-age")
    client.force_login(oscar)

    page = client.get(QUEUE).content.decode()

    assert "Team" in page
    assert "read-only" in page
    assert "Private" not in page
    assert client.post(f"/tasks/filters/{shared.pk}/delete/").status_code == 403
    assert client.post(f"/tasks/filters/{shared.pk}/rename/", {"name": "Ours"}).status_code == 403
    assert client.post(f"/tasks/filters/{private.pk}/delete/").status_code == 404
    assert client.post(f"/tasks/filters/{private.pk}/pin/", {"pinned": "1"}).status_code == 404
    assert client.post(f"/tasks/filters/{shared.pk}/pin/", {"pinned": "1"}).status_code == 302  # his own pin
    client.force_login(alice)
    assert client.post(f"/tasks/filters/{shared.pk}/delete/").status_code == 404
    assert client.post(f"/tasks/filters/{shared.pk}/pin/", {"pinned": "1"}).status_code == 404
    assert SavedFilter.objects.count() == 2
    assert list(SavedFilterPin.objects.values_list("user__username", flat=True)) == ["oscar"]
    assert SavedFilter.objects.get(pk=shared.pk).name == "Team"


def test_the_owner_pins_and_deletes(client, olivia, two_queued):
    saved = saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100")
    client.force_login(olivia)

    pinned = client.post(f"/tasks/filters/{saved.pk}/pin/", {"pinned": "1", "next": INBOX})
    page = client.get(INBOX).content.decode()

    assert pinned.status_code == 302
    assert pinned["Location"] == INBOX
    assert "<!--live:pinned-->" in page
    # another list's pin names its list
    assert (
        'Cheap <span class="portal-pinned__list">Queue</span> <span class="portal-pinned__count">1</span>'
        in page
    )
    assert client.post(f"/tasks/filters/{saved.pk}/delete/").status_code == 302
    assert not SavedFilter.objects.exists()


def test_pinned_filters_cost_one_count_query_each(client, olivia, two_queued):
    client.force_login(olivia)
    client.get(QUEUE)  # warm: the session and the caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(QUEUE).status_code == 200
        return len(captured)

    saved_filter_create(owner=olivia, name="F0", page="queue", query="sort=age")
    one = queries()
    for name in ("F1", "F2", "F3"):
        saved_filter_create(owner=olivia, name=name, page="inbox", query="sort=age")
    unpinned = queries()
    for saved in SavedFilter.objects.all():
        saved_filter_pin(saved=saved, user=olivia, pinned=True)
    four = queries()

    assert unpinned == one  # more saved filters: no more queries
    assert four == one + 1  # four pinned: one statement counts them all


def test_pinned_filters_show_in_the_drawer_with_their_counts_on_every_page(client, olivia, two_queued):
    saved = saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100")
    saved_filter_pin(saved=saved, user=olivia, pinned=True)
    client.force_login(olivia)
    url = "/tasks/queue/?amount_max=100"

    for page in ("/notifications/", INBOX, f"/purchase/{two_queued[0].pk}/"):
        html = client.get(page).content.decode()
        assert "portal-drawer-pin" in html, page
        assert f'data-live-count="{url}">1</span>' in html, page
    counts = client.get("/notifications/counts/").json()["counts"]
    assert counts[url] == "1"  # live.js refreshes the drawer's pin with the Inbox and Queue counters


def test_the_list_page_counts_its_pins_once_for_the_chips_and_the_drawer(client, olivia, two_queued):
    for name in ("A", "B"):
        saved_filter_pin(
            saved=saved_filter_create(owner=olivia, name=name, page="queue", query=f"q={name}"),
            user=olivia,
            pinned=True,
        )
    client.force_login(olivia)
    client.get(QUEUE)

    with CaptureQueriesContext(connection) as captured:
        html = client.get(QUEUE).content.decode()

    counts = [
        q for q in captured.captured_queries if "COUNT(*)" in q["sql"] and "processes_taskrow" in q["sql"]
    ]
    assert html.count("portal-drawer-pin") == 2
    cap = f"LIMIT {saved_selectors.COUNT_CAP + 1})"  # the page's own count reads up to 1,001
    pinned = [q["sql"] for q in counts if cap in q["sql"]]
    assert len(pinned) == 1  # one statement for both pins
    assert pinned[0].count(cap) == 2


def test_one_statement_counts_every_pin_as_each_would_alone(olivia, two_queued):
    """The batched counts are the single counts: a filter per list, one that no longer validates
    (None, shown "?") and one past the cap."""
    stages = selectors.stage_names()
    filters = [
        saved_filter_create(owner=olivia, name="All", page="queue", query="amount_max=100000"),
        saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100"),
        saved_filter_create(owner=olivia, name="Mine", page="inbox", query="amount_min=1"),
        saved_filter_create(owner=olivia, name="Done", page="archive", query="q=laptop"),
    ]
    gone = saved_filter_create(owner=olivia, name="Gone", page="queue", query="amount_max=5")
    SavedFilter.objects.filter(pk=gone.pk).update(query="stage=No+such+stage")
    filters.insert(2, SavedFilter.objects.get(pk=gone.pk))

    alone = [saved_selectors.saved_filter_count(olivia, saved, stages=stages) for saved in filters]
    with CaptureQueriesContext(connection) as captured:
        batched = saved_selectors.pinned_count_values(olivia, filters, stages=stages)

    assert batched == alone
    assert alone[2] is None
    assert (alone[0], alone[1]) == (2, 1)
    assert len([q for q in captured.captured_queries if "COUNT(*)" in q["sql"]]) == 1
    with mock.patch.object(saved_selectors, "COUNT_CAP", 0):  # reads at most one row past the cap
        assert saved_selectors.pinned_count_values(olivia, filters[:1], stages=stages) == [1]


def test_a_kept_count_statement_follows_the_clock_the_rights_and_the_filter(olivia, two_queued, roles):
    """The pins' statement is compiled once a connection for what its SQL follows from, and
    bound to the current time: an "overdue" count moves with the clock, a lost right or a changed
    query gives a new statement."""
    from datetime import timedelta

    import time_machine
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    kept = connection.__dict__.setdefault("_portal_pinned_count_statements", {})
    kept.clear()
    stages = selectors.stage_names()
    late = saved_filter_create(owner=olivia, name="Late", page="queue", query="overdue=on")
    cheap = saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100")
    both = [late, cheap]

    assert saved_selectors.pinned_count_values(olivia, both, stages=stages) == [0, 1]
    assert saved_selectors.pinned_count_values(olivia, both, stages=stages) == [0, 1]
    assert len(kept) == 1
    due = max(row.due_at for row in TaskRow.objects.filter(status="NEW"))
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        assert timezone.now() > due
        assert saved_selectors.pinned_count_values(olivia, both, stages=stages) == [2, 1]
    assert len(kept) == 1  # the same statement, bound to another time

    roles["approvers"].user_set.remove(olivia)
    outsider = get_user_model().objects.get(pk=olivia.pk)  # her rights read afresh
    assert saved_selectors.pinned_count_values(outsider, both, stages=stages) == [0, 0]
    SavedFilter.objects.filter(pk=cheap.pk).update(query="amount_max=50")
    moved = [late, SavedFilter.objects.get(pk=cheap.pk)]
    roles["approvers"].user_set.add(olivia)
    assert saved_selectors.pinned_count_values(olivia, moved, stages=stages) == [0, 1]
    assert saved_selectors.pinned_count_values(olivia, moved, stages=["Finance review"]) == [0, 1]
    assert len(kept) == 4


def test_a_pin_of_a_user_who_lost_every_right_counts_nothing_and_breaks_no_page(client, olivia, roles):
    """The drawer counts the pins on every page; a queue filter of a user without any permission
    has nothing to count (its SQL cannot be written: Django's EmptyResultSet), not a 500."""
    from django.contrib.auth import get_user_model

    saved = saved_filter_create(owner=olivia, name="Queued", page="queue", query="sort=age")
    saved_filter_pin(saved=saved, user=olivia, pinned=True)
    for group in list(olivia.groups.all()):
        group.user_set.remove(olivia)
    client.force_login(get_user_model().objects.get(pk=olivia.pk))

    page = client.get("/notifications/")

    assert page.status_code == 200
    assert saved_selectors.pinned_counts_by_url(get_user_model().objects.get(pk=olivia.pk)) == {
        saved_selectors.saved_filter_url(saved): "0"
    }


def test_a_rename_from_the_list_page_says_what_happened(client, olivia, two_queued):
    saved = saved_filter_create(owner=olivia, name="Cheap", page="queue", query="amount_max=100")
    saved_filter_create(owner=olivia, name="Late", page="queue", query="sort=age")
    client.force_login(olivia)

    refused = client.post(f"/tasks/filters/{saved.pk}/rename/", {"name": "Late", "next": QUEUE}, follow=True)
    assert "not renamed: You already have a filter with this name." in refused.content.decode()
    renamed = client.post(f"/tasks/filters/{saved.pk}/rename/", {"name": "Small", "next": QUEUE}, follow=True)
    assert "Filter renamed to “Small”." in renamed.content.decode()
    assert SavedFilter.objects.get(pk=saved.pk).name == "Small"
