"""The operator's task list: rows kept in sync, pages per role, filters, actions and permissions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.urls import get_resolver
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent, Notification, NotificationKind
from processes.nodes import celery_job
from processes.orders.models import OrderPolicy
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim, task_routing_changed
from processes.tasklist.models import Priority, TaskRow
from tests.conftest import fraud_review_of, task_of

pytestmark = pytest.mark.django_db

INBOX, QUEUE, ARCHIVE, TEAM = "/tasks/inbox/", "/tasks/queue/", "/tasks/archive/", "/tasks/team/"


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns


@pytest.fixture(autouse=True)
def _no_broker():
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture
def fiona(roles, django_user_model):
    user = django_user_model.objects.create_user("fiona", password="x")
    user.groups.add(roles["fraud"])
    return user


@pytest.fixture
def fraud_review(place_order):
    """An order suspected of fraud, waiting in the fraud group's queue; returns its review task."""
    return fraud_review_of(place_order(email="someone@mailinator.com"))


def _fraud_review_sla_set(sla: timedelta) -> None:
    policy = OrderPolicy.current()
    policy.fraud_review_sla = sla
    policy.full_clean()
    policy.save()


def _row(task) -> TaskRow:
    return TaskRow.objects.get(pk=task.pk)


def _ids(response) -> list[int]:
    return [item["row"].task_id for item in response.context["rows"]]


# ---------------------------------------------------------------- rows in sync


def test_a_submitted_request_gets_a_queue_row_with_its_stage_due_time_and_priority(
    purchase_policy, submit_request
):
    process = submit_request(title="Standing desk", amount="640.00", priority=Priority.URGENT)
    task = task_of(process, "approve")

    row = _row(task)
    assert (row.status, row.owner_id, row.node) == ("NEW", None, "approve")
    assert (row.subject, row.requester, row.amount, row.currency) == (
        "Standing desk",
        "alice",
        Decimal("640.00"),
        "EUR",
    )
    assert row.stage_name == "Team approval"
    assert row.owner_permission == task.owner_permission
    assert row.due_at == task.created + timedelta(hours=4)  # the stage's SLA, via stage_due_at
    assert row.priority == Priority.URGENT
    assert row.search == "standing desk alice"
    assert row.process_id == process.pk
    assert row.created == task.created


def test_claim_decide_and_the_next_stage_follow_in_the_rows(purchase_policy, submit_request, olivia):
    process = submit_request(amount="2500.00")
    first = task_of(process, "approve")

    task_claim(task=first, user=olivia)
    assert (_row(first).status, _row(first).owner_id) == ("ASSIGNED", olivia.pk)

    purchase_task_decide(task=first, user=olivia, approved=True)
    done = _row(first)
    assert done.status == "DONE"
    assert done.finished is not None
    assert done.owner_id == olivia.pk
    finance = task_of(process, "approve")
    assert finance.pk != first.pk
    assert (_row(finance).stage_name, _row(finance).status) == ("Finance review", "NEW")
    assert _row(finance).due_at == finance.created + timedelta(hours=8)


def test_a_rejection_gives_the_requester_a_revise_row_in_their_inbox(
    purchase_policy, submit_request, olivia, alice
):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)
    purchase_task_decide(task=task, user=olivia, approved=False, comment="Too dear.")

    row = _row(task_of(process, "revise"))
    assert (row.status, row.owner_id, row.due_at) == ("ASSIGNED", alice.pk, None)
    assert row.stage_name == "Revise or withdraw the request"


def test_an_order_fraud_review_is_a_high_priority_row(fraud_review):
    row = _row(fraud_review)
    assert row.priority == Priority.HIGH
    assert row.owner_permission == "orders.review_fraud"
    assert row.subject.startswith("ORD-")
    assert row.requester == "Ada Lovelace"


def test_a_fraud_review_row_is_due_at_its_creation_plus_the_sla_pinned_on_its_order(fraud_review):
    assert _row(fraud_review).due_at == fraud_review.created + timedelta(hours=4)  # the default SLA


def test_routing_changed_outside_a_transition_refreshes_the_row(purchase_policy, submit_request, roles):
    task = task_of(submit_request(), "approve")
    Task.objects.filter(pk=task.pk).update(owner_permission="orders.review_fraud")
    task.refresh_from_db()

    task_routing_changed(task=task)

    assert _row(task).owner_permission == "orders.review_fraud"


def test_the_migration_backfills_rows_of_existing_tasks(purchase_policy, submit_request, olivia):
    from importlib import import_module

    from django.apps import apps as live_apps

    class apps:
        moved = {"PurchaseProcess": "purchase", "OrderProcess": "orders"}

        @classmethod
        def get_model(cls, app_label, name):
            return live_apps.get_model(cls.moved.get(name, app_label), name)

    process = submit_request(amount="2500.00")
    first = task_of(process, "approve")
    task_claim(task=first, user=olivia)
    purchase_task_decide(task=first, user=olivia, approved=True)
    expected = {row.pk: row for row in TaskRow.objects.all()}
    TaskRow.objects.all().delete()

    import_module("processes.migrations.0010_tasklist").rows_backfill(apps, None)

    fields = ["status", "owner_id", "subject", "requester", "amount", "stage_name", "due_at", "finished"]
    rebuilt = {row.pk: row for row in TaskRow.objects.all()}
    assert rebuilt.keys() == expected.keys()
    for pk, row in rebuilt.items():
        assert [getattr(row, f) for f in fields] == [getattr(expected[pk], f) for f in fields]


# ---------------------------------------------------------------- pages per role


def test_each_role_sees_only_its_groups_queue(
    client, purchase_policy, submit_request, olivia, frank, alice, maria, fiona, fraud_review
):
    approval = task_of(submit_request(), "approve")
    expected = {olivia: [approval.pk], frank: [], alice: [], maria: [], fiona: [fraud_review.pk]}
    for user, ids in expected.items():
        client.force_login(user)
        response = client.get(QUEUE)
        assert response.status_code == 200, user
        assert _ids(response) == ids, user.username


def test_the_inbox_and_archive_show_only_my_tasks(client, purchase_policy, submit_request, olivia, oscar):
    mine, theirs, done = (task_of(submit_request(title=t), "approve") for t in ("Mine", "Theirs", "Done"))
    task_claim(task=mine, user=olivia)
    task_claim(task=theirs, user=oscar)
    task_claim(task=done, user=olivia)
    purchase_task_decide(task=done, user=olivia, approved=True)

    client.force_login(olivia)
    assert _ids(client.get(INBOX)) == [mine.pk]
    assert _ids(client.get(ARCHIVE)) == [done.pk]
    client.force_login(oscar)
    assert _ids(client.get(INBOX)) == [theirs.pk]
    assert _ids(client.get(ARCHIVE)) == []


def test_managers_see_their_teams_open_tasks_and_nobody_else_does(
    client, purchase_policy, submit_request, olivia, maria, alice, frank, fiona, fraud_review
):
    queued = task_of(submit_request(title="Queued"), "approve")
    held = task_of(submit_request(title="Held"), "approve")
    task_claim(task=held, user=olivia)

    client.force_login(maria)
    response = client.get(TEAM + "?sort=age")
    assert _ids(response) == [fraud_review.pk, queued.pk, held.pk]
    assert "olivia" in response.content.decode()
    for user in (olivia, alice, frank, fiona):
        client.force_login(user)
        assert client.get(TEAM).status_code == 403, user.username


def test_the_portal_index_lands_an_operator_on_their_task_list(client, olivia):
    client.force_login(olivia)
    assert client.get("/")["Location"] == "/tasks/"
    page = client.get("/", follow=True)
    assert page.request["PATH_INFO"] == INBOX
    for path in (INBOX, QUEUE, ARCHIVE):  # the menu links to each page (team: managers only)
        assert f'href="{path}"' in page.content.decode()
    assert f'href="{TEAM}"' not in page.content.decode()


def test_rows_link_to_viewflows_task_page(client, purchase_policy, submit_request, olivia):
    task = task_of(submit_request(), "approve")
    client.force_login(olivia)

    item = client.get(QUEUE).context["rows"][0]

    assert item["url"] == f"/purchase/{task.process_id}/approve/{task.pk}/"
    assert client.get(item["url"]).status_code in (200, 302)


# ---------------------------------------------------------------- filters and sorting


@pytest.fixture
def queue_of_four(purchase_policy, submit_request, roles):
    """Four requests in the approvers' queue with different amounts, priorities and ages."""
    tasks = {}
    for title, amount, priority in [
        ("Laptop", "1800.00", Priority.NORMAL),
        ("Chair", "190.00", Priority.URGENT),
        ("Monitor", "320.00", Priority.LOW),
        ("Desk lamp", "40.00", Priority.HIGH),
    ]:
        tasks[title] = task_of(submit_request(title=title, amount=amount, priority=priority), "approve")
    # The monitor waited longest: it is overdue.
    TaskRow.objects.filter(pk=tasks["Monitor"].pk).update(due_at=timezone.now() - timedelta(hours=1))
    return tasks


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Monitor", "Laptop", "Chair", "Desk lamp"]),  # due time: the overdue one first
        ("?sort=priority", ["Chair", "Desk lamp", "Laptop", "Monitor"]),
        ("?sort=age", ["Laptop", "Chair", "Monitor", "Desk lamp"]),
        ("?sort=-age", ["Desk lamp", "Monitor", "Chair", "Laptop"]),
        ("?overdue=on", ["Monitor"]),
        ("?amount_min=100&amount_max=400&sort=age", ["Chair", "Monitor"]),
        ("?q=LAMP", ["Desk lamp"]),
        ("?q=alice&sort=age", ["Laptop", "Chair", "Monitor", "Desk lamp"]),
        ("?q=nobody", []),
        ("?stage=Team+approval&sort=age", ["Laptop", "Chair", "Monitor", "Desk lamp"]),
        ("?stage=Finance+review", []),
        ("?flow=purchase/flows.PurchaseFlow&sort=age", ["Laptop", "Chair", "Monitor", "Desk lamp"]),
    ],
)
def test_queue_filters_and_sorts_from_the_url(client, olivia, queue_of_four, query, expected):
    client.force_login(olivia)

    response = client.get(QUEUE + query)

    assert response.status_code == 200
    assert [item["row"].subject for item in response.context["rows"]] == expected


def test_a_fraud_review_past_its_due_time_is_overdue_in_the_fraud_queue(client, fiona, fraud_review):
    due = fraud_review.created + timedelta(hours=4)
    client.force_login(fiona)

    with time_machine.travel(due, tick=False):  # due now, not yet overdue
        on_time = client.get(QUEUE + "?overdue=on")
        listed = client.get(QUEUE)
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        late = client.get(QUEUE + "?overdue=on")

    assert _ids(on_time) == []
    assert [(item["row"].task_id, item["overdue"]) for item in listed.context["rows"]] == [
        (fraud_review.pk, False)
    ]
    assert [(item["row"].task_id, item["overdue"]) for item in late.context["rows"]] == [
        (fraud_review.pk, True)
    ]
    label = '<strong class="portal-overdue__label">Overdue</strong>'
    assert (label in listed.content.decode(), label in late.content.decode()) == (False, True)


def test_the_due_sort_places_fraud_reviews_among_approvals_by_their_due_times(
    client, purchase_policy, submit_request, place_order, maria
):
    _fraud_review_sla_set(timedelta(hours=6))
    late_review = fraud_review_of(place_order(email="first@mailinator.com"))  # the oldest, due in 6 hours
    approval = task_of(submit_request(), "approve")  # Team approval: due in 4 hours
    _fraud_review_sla_set(timedelta(hours=1))
    early_review = fraud_review_of(place_order(email="last@mailinator.com"))  # the newest, due in 1 hour
    client.force_login(maria)

    assert _ids(client.get(TEAM + "?sort=due")) == [early_review.pk, approval.pk, late_review.pk]
    assert _ids(client.get(TEAM + "?sort=age")) == [late_review.pk, approval.pk, early_review.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?amount_min=abc", "amount_min"),
        ("?amount_min=500&amount_max=100", "amount_max"),
        ("?sort=drop+table", "sort"),
        ("?flow=nope", "flow"),
        ("?flow=orders/flows.OrderFlow", "flow"),  # not a process type olivia may see
        ("?amount_min=-1", "amount_min"),
    ],
)
def test_bad_filters_are_shown_on_the_form_never_a_500(client, olivia, queue_of_four, query, field):
    client.force_login(olivia)

    response = client.get(QUEUE + query)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert 'class="portal-field__error"' in response.content.decode()
    assert len(response.context["rows"]) == 4  # unfiltered, rather than nothing


def test_the_queue_paginates(client, olivia, purchase_policy, submit_request):
    for n in range(27):
        submit_request(title=f"Item {n}")
    client.force_login(olivia)

    first = client.get(QUEUE + "?sort=age")
    second = client.get(QUEUE + "?sort=age&page=2")
    beyond = client.get(QUEUE + "?sort=age&page=99")

    assert len(first.context["rows"]) == 25
    assert len(second.context["rows"]) == 2
    assert "sort=age&amp;page=2" in first.content.decode()
    assert beyond.status_code == 200
    assert len(beyond.context["rows"]) == 2


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize("path", [INBOX, QUEUE + "?sort=priority&q=a&amount_min=1", ARCHIVE, TEAM])
def test_each_page_runs_the_same_number_of_queries_for_3_and_for_30_rows(
    client, django_assert_num_queries, purchase_policy, submit_request, olivia, maria, path
):
    def load(n: int) -> None:
        for index in range(n):
            task = task_of(submit_request(title=f"Thing {index}"), "approve")
            if path == INBOX:
                task_claim(task=task, user=olivia)
            elif path == ARCHIVE:
                task_claim(task=task, user=olivia)
                purchase_task_decide(task=task, user=olivia, approved=True)

    user = maria if path == TEAM else olivia
    counts = []
    for n in (3, 27):
        load(n)
        client.force_login(user)
        client.get(path)  # warm: the session and the caches
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200
        assert len(response.context["rows"]) == min(25, 3 if n == 3 else 30)
        counts.append(len(captured))
    assert counts[0] == counts[1]
    with django_assert_num_queries(counts[0]):
        client.get(path)


# ---------------------------------------------------------------- actions


def test_claim_from_the_queue_moves_the_task_to_my_inbox(client, purchase_policy, submit_request, olivia):
    task = task_of(submit_request(), "approve")
    client.force_login(olivia)

    response = client.post(f"/tasks/{task.pk}/claim/", {"next": QUEUE + "?sort=age"})

    assert response.status_code == 302
    assert response["Location"] == QUEUE + "?sort=age"
    assert _ids(client.get(INBOX)) == [task.pk]
    assert _ids(client.get(QUEUE)) == []
    assert AuditEvent.objects.filter(task=task, action="task.assigned", actor=olivia).exists()


def test_actions_are_post_only_and_need_the_csrf_token(purchase_policy, submit_request, olivia):
    from django.test import Client

    task = task_of(submit_request(), "approve")
    client = Client(enforce_csrf_checks=True)
    client.force_login(olivia)

    assert client.get(f"/tasks/{task.pk}/claim/").status_code == 405
    assert client.post(f"/tasks/{task.pk}/claim/").status_code == 403
    assert _row(task).status == "NEW"


def test_claiming_a_task_someone_else_holds_says_who(client, purchase_policy, submit_request, olivia, oscar):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(oscar)

    response = client.post(f"/tasks/{task.pk}/claim/", {"next": QUEUE}, follow=True)

    assert response.status_code == 200
    assert f"Task #{task.pk} is already claimed by olivia." in response.content.decode()
    assert _row(task).owner_id == olivia.pk


def test_nobody_acts_on_tasks_outside_their_groups(
    client, purchase_policy, submit_request, olivia, frank, alice, fiona, fraud_review
):
    approval = task_of(submit_request(), "approve")
    cases = [(frank, approval), (alice, approval), (fiona, approval), (olivia, fraud_review)]
    for user, task in cases:
        client.force_login(user)
        for action in ("claim", "unclaim", "delegate", "reassign"):
            response = client.post(f"/tasks/{task.pk}/{action}/")
            assert response.status_code == 404, (user.username, action)
        assert client.get(f"/tasks/{task.pk}/delegate/").status_code == 404
    assert _row(approval).status == "NEW"
    assert _row(fraud_review).status == "NEW"


def test_bulk_claim_takes_the_selected_tasks_and_reports_the_ones_gone(
    client, purchase_policy, submit_request, olivia, oscar
):
    a, b, c = (task_of(submit_request(title=t), "approve") for t in "ABC")
    task_claim(task=c, user=oscar)
    client.force_login(olivia)

    response = client.post("/tasks/claim/", {"task": [a.pk, b.pk, c.pk], "next": QUEUE}, follow=True)

    page = response.content.decode()
    assert f"Claimed 2 tasks: #{a.pk}, #{b.pk}." in page
    assert f"Task #{c.pk} is already claimed by oscar." in page
    assert sorted(_ids(client.get(INBOX))) == [a.pk, b.pk]


def test_unclaim_puts_the_task_back_in_the_queue(client, purchase_policy, submit_request, olivia):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(olivia)

    client.post(f"/tasks/{task.pk}/unclaim/")

    assert _row(task).status == "NEW"
    assert _ids(client.get(QUEUE)) == [task.pk]


def test_delegate_offers_only_colleagues_with_the_same_right(
    client, purchase_policy, submit_request, olivia, oscar, frank, maria
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(olivia)

    form = client.get(f"/tasks/{task.pk}/delegate/").context["form"]
    assert list(form.fields["to_user"].queryset) == [oscar]

    refused = client.post(f"/tasks/{task.pk}/delegate/", {"to_user": frank.pk})
    assert refused.status_code == 422
    assert "to_user" in refused.context["form"].errors

    client.post(f"/tasks/{task.pk}/delegate/", {"to_user": oscar.pk})
    assert _row(task).owner_id == oscar.pk
    delegated = AuditEvent.objects.get(task=task, action="task.reassigned", actor=olivia)
    assert delegated.details["delegated"] is True
    assert delegated.details["owner"] == "oscar"
    assert Notification.objects.filter(user=oscar, kind=NotificationKind.TASK_DELEGATED).exists()


def test_only_the_holder_delegates(client, purchase_policy, submit_request, olivia, oscar):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(oscar)

    assert client.get(f"/tasks/{task.pk}/delegate/").status_code == 403
    assert client.post(f"/tasks/{task.pk}/delegate/", {"to_user": oscar.pk}).status_code == 403
    assert _row(task).owner_id == olivia.pk


def test_a_manager_reassigns_queued_and_held_tasks(
    client, purchase_policy, submit_request, olivia, oscar, maria
):
    queued = task_of(submit_request(title="Queued"), "approve")
    held = task_of(submit_request(title="Held"), "approve")
    task_claim(task=held, user=olivia)
    client.force_login(maria)

    assert list(client.get(f"/tasks/{held.pk}/reassign/").context["form"].fields["to_user"].queryset) == [
        olivia,
        oscar,
    ]
    client.post(f"/tasks/{queued.pk}/reassign/", {"to_user": olivia.pk})
    client.post(f"/tasks/{held.pk}/reassign/", {"to_user": oscar.pk})

    assert (_row(queued).status, _row(queued).owner_id) == ("ASSIGNED", olivia.pk)
    assert _row(held).owner_id == oscar.pk
    assert AuditEvent.objects.filter(task=held, action="task.reassigned", actor=maria).exists()
    assert Notification.objects.filter(user=olivia, kind=NotificationKind.TASK_TAKEN).exists()


def test_operators_may_not_reassign(client, purchase_policy, submit_request, olivia, oscar):
    task = task_of(submit_request(), "approve")
    client.force_login(olivia)

    assert client.get(f"/tasks/{task.pk}/reassign/").status_code == 403
    assert client.post(f"/tasks/{task.pk}/reassign/", {"to_user": oscar.pk}).status_code == 403


def test_deciding_a_task_that_was_reassigned_meanwhile_says_so(
    client, purchase_policy, submit_request, olivia, oscar, maria
):
    from processes.services import task_reassign

    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(olivia)
    url = f"/purchase/{task.process_id}/approve/{task.pk}/execute/"
    assert client.get(url).status_code == 200
    task_reassign(task=task, user=maria, to_user=oscar)

    response = client.post(url, {"decision": "approve", "comment": ""})

    assert response.status_code == 409
    assert f"Task #{task.pk} is already claimed by oscar." in response.content.decode()
    task.refresh_from_db()
    assert task.status == STATUS.ASSIGNED
    assert task.owner == oscar


def test_a_stranger_posting_to_a_task_page_still_gets_a_403(
    client, purchase_policy, submit_request, olivia, frank
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(frank)

    response = client.post(f"/purchase/{task.process_id}/approve/{task.pk}/execute/", {"decision": "approve"})

    assert response.status_code == 403
    assert "olivia" not in response.content.decode()


def test_a_long_list_counts_up_to_the_cap_and_says_so(client, olivia, purchase_policy, submit_request):
    for n in range(5):
        submit_request(title=f"Item {n}")
    client.force_login(olivia)

    with mock.patch("processes.tasklist.views.COUNT_CAP", 3):
        response = client.get(QUEUE)

    assert "More than 3 tasks" in response.content.decode()
    assert len(response.context["rows"]) == 3


def test_the_task_list_offers_the_processes_the_user_may_start(client, alice, olivia):
    client.force_login(alice)
    alices = client.get("/tasks/inbox/").content.decode()
    client.force_login(olivia)
    olivias = client.get("/tasks/inbox/").content.decode()

    assert 'href="/purchase/start/"' in alices
    assert "New purchase request" in alices
    assert 'href="/purchase/start/"' not in olivias


def test_a_requesters_revise_task_is_never_released_or_handed_over(
    client, submit_request, alice, olivia, oscar
):
    from django.core.exceptions import PermissionDenied

    from processes.purchase.services import purchase_task_decide
    from processes.services import task_claim, task_delegate, task_unclaim

    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Second quote, please.")
    revise = task_of(process, "revise")

    client.force_login(alice)
    page = client.get("/tasks/inbox/").content.decode()

    assert f"/tasks/{revise.pk}/unclaim/" not in page
    assert "Yours alone" in page
    with pytest.raises(PermissionDenied):
        task_unclaim(task=revise, user=alice)
    with pytest.raises(PermissionDenied):
        task_delegate(task=revise, user=alice, to_user=oscar)
    revise.refresh_from_db()
    assert (revise.status, revise.owner) == ("ASSIGNED", alice)


def test_the_hand_over_pages_refuse_a_revise_task_to_its_owner_and_to_managers(
    client, submit_request, alice, olivia, oscar, maria
):
    """The gate never hands a personal task over: its pages do not offer it (403), whoever asks."""
    from processes.purchase.services import purchase_task_decide
    from processes.services import task_claim

    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Second quote, please.")
    revise = task_of(process, "revise")

    client.force_login(alice)
    assert client.get(f"/tasks/{revise.pk}/delegate/").status_code == 403
    assert client.post(f"/tasks/{revise.pk}/delegate/", {"to_user": oscar.pk}).status_code == 403
    client.force_login(maria)
    assert client.get(f"/tasks/{revise.pk}/reassign/").status_code == 403
    assert client.post(f"/tasks/{revise.pk}/reassign/", {"to_user": oscar.pk}).status_code == 403
    revise.refresh_from_db()
    assert (revise.status, revise.owner) == ("ASSIGNED", alice)


def test_a_manager_opens_the_cancel_page_of_a_request_waiting_on_a_timer(
    client, roles, submit_request, maria
):
    """The approval's reminder timer is a step without a page: the page names it, no 500."""
    from processes.policies.services import policy_create
    from processes.purchase.flows import PurchaseFlow

    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "reminder_before": timedelta(hours=1),
            }
        ],
    )
    process = submit_request()
    waiting = process.task_set.exclude(status="DONE")
    assert {task.flow_task.name for task in waiting} == {"approve", "approve__timeout"}

    client.force_login(maria)
    response = client.get(PurchaseFlow.instance.reverse("process_cancel", args=[process.pk]))

    assert response.status_code == 200
    assert f"/purchase/{process.pk}/approve/" in response.content.decode()


# ---------------------------------------------------------------- rendered rows (rendering.py)


def test_row_values_are_escaped(client, purchase_policy, submit_request, olivia):
    submit_request(title='<script>alert("x")</script> & co')
    client.force_login(olivia)

    page = client.get(QUEUE).content.decode()

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page


def test_each_page_renders_its_own_row_actions(client, purchase_policy, submit_request, olivia, maria):
    queued = task_of(submit_request(title="Queued chair"), "approve")
    held = task_of(submit_request(title="Held lamp", amount="1800.00"), "approve")
    task_claim(task=held, user=olivia)
    TaskRow.objects.filter(pk=queued.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    client.force_login(olivia)

    queue = client.get(QUEUE).content.decode()
    inbox = client.get(INBOX).content.decode()

    assert f'<tr id="task-{queued.pk}" class="portal-overdue">' in queue
    assert f'<input type="checkbox" name="task" value="{queued.pk}" form="row-actions"' in queue
    assert f'formaction="/tasks/{queued.pk}/claim/"' in queue
    assert '<strong class="portal-overdue__label">Overdue</strong>' in queue
    assert "€1,800.00" in inbox
    assert f'formaction="/tasks/{held.pk}/unclaim/"' in inbox
    assert f'href="/tasks/{held.pk}/delegate/?next=%2Ftasks%2Finbox%2F"' in inbox
    assert 'name="task"' not in inbox
    client.force_login(maria)
    team = client.get(TEAM).content.decode()
    assert f'href="/tasks/{held.pk}/reassign/?next=%2Ftasks%2Fteam%2F"' in team
    assert "<td>olivia</td>" in team
    assert "<em>queue</em>" in team


def test_the_filter_controls_keep_the_query_and_say_what_is_wrong(client, olivia, purchase_policy):
    client.force_login(olivia)

    page = client.get(
        QUEUE + "?q=%3Cb%3E&stage=Team+approval&sort=priority&amount_max=x&overdue=on"
    ).content.decode()

    assert '<input type="text" name="q" value="&lt;b&gt;" maxlength="100" id="id_q">' in page
    assert '<option value="Team approval" selected>Team approval</option>' in page
    assert '<option value="priority" selected>Priority</option>' in page
    assert '<option value="" selected>All</option>' in page  # the process filter, not set
    assert (
        '<input type="number" name="amount_max" value="x" min="0" step="0.01" id="id_amount_max" '
        'aria-invalid="true" aria-describedby="id_amount_max_error">'
        '<small class="portal-field__error" id="id_amount_max_error">Enter a number.</small>'
    ) in page
    assert '<input type="checkbox" name="overdue" id="id_overdue" checked> Overdue only' in page


@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)", "https://evil.example/", "//evil.example/", "/\\evil.example/"]
)
def test_hand_over_pages_never_link_or_redirect_to_a_foreign_next(
    client, purchase_policy, submit_request, olivia, oscar, bad
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(olivia)

    page = client.get(f"/tasks/{task.pk}/delegate/", {"next": bad})
    assert page.context["next"] == "/tasks/"
    assert "evil" not in page.content.decode()
    assert "javascript" not in page.content.decode()

    done = client.post(f"/tasks/{task.pk}/delegate/", {"to_user": oscar.pk, "next": bad})
    assert done.status_code == 302
    assert done["Location"] == "/tasks/"


def test_hand_over_pages_keep_a_local_next(client, purchase_policy, submit_request, maria, oscar):
    task = task_of(submit_request(), "approve")
    client.force_login(maria)

    page = client.get(f"/tasks/{task.pk}/reassign/", {"next": "/tasks/team/?page=2"})
    assert 'href="/tasks/team/?page=2"' in page.content.decode()

    done = client.post(f"/tasks/{task.pk}/reassign/", {"to_user": oscar.pk, "next": "/tasks/team/?page=2"})
    assert done["Location"] == "/tasks/team/?page=2"


def test_a_claim_from_the_list_reads_its_task_only_under_the_flow_lock(
    purchase_policy, submit_request, olivia
):
    """The task list's Claim button: the list row says whether olivia may reach the task and
    names its process and step; the task itself is read once, in the lock's round trip
    (processes/tasklist/views.py `task_to_lock`), and she holds it after."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    task = task_of(submit_request(), "approve")
    client = Client()
    client.force_login(olivia)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(reverse("tasks:claim", args=[task.pk]))

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.owner == olivia
    # The flow lock: the first statement on the process's own table (FOR UPDATE on PostgreSQL).
    lock = next(
        index for index, query in enumerate(captured) if '"processes_purchaseprocess"' in query["sql"]
    )
    before = [query["sql"] for query in captured[:lock]]
    assert not [sql for sql in before if 'FROM "viewflow_task"' in sql]
