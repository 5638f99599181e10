"""Two operators claim the same task at the same moment, on PostgreSQL with two real connections:
exactly one wins, the other is told who did, and nothing answers with a 500."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from processes.services import task_claim
from processes.tasklist.exceptions import TaskUnavailable
from processes.tasklist.models import TaskRow
from tests.conftest import task_of

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _in_thread(target, *args):
    result: dict = {}

    def run():
        try:
            result["value"] = target(*args)
        except Exception as exc:  # reported to the test, not lost in the thread
            result["error"] = exc
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_the_second_claimer_waits_for_the_first_and_is_told_who_won(
    purchase_policy, submit_request, olivia, oscar
):
    assert connection.vendor == "postgresql"
    task = task_of(submit_request(), "approve")
    holding = threading.Event()

    def olivia_claims_and_holds():
        with transaction.atomic():
            task_claim(task=task, user=olivia)
            holding.set()
            time.sleep(0.5)  # the flow lock (SELECT ... FOR UPDATE) is held until commit

    def oscar_claims():
        holding.wait(5)
        with transaction.atomic():
            return task_claim(task=task, user=oscar)

    first, first_result = _in_thread(olivia_claims_and_holds)
    second, second_result = _in_thread(oscar_claims)
    first.join(10)
    second.join(10)

    assert "error" not in first_result
    assert isinstance(second_result.get("error"), TaskUnavailable)
    assert str(second_result["error"]) == f"Task #{task.pk} is already claimed by olivia."
    task.refresh_from_db()
    assert task.owner == olivia
    assert TaskRow.objects.get(pk=task.pk).owner_id == olivia.pk


def test_simultaneous_claims_over_http_have_exactly_one_winner_each(
    purchase_policy, submit_request, olivia, oscar
):
    tasks = [task_of(submit_request(title=f"Desk {n}"), "approve") for n in range(8)]
    start = threading.Barrier(2)

    def claim_all(user):
        client = Client()
        client.force_login(user)
        outcomes = []
        for task in tasks:
            start.wait(5)
            response = client.post(f"/tasks/{task.pk}/claim/", {"next": "/tasks/queue/"}, follow=True)
            page = response.content.decode()
            outcomes.append((response.status_code, "is yours now" in page, "already claimed by" in page))
        return outcomes

    a, a_result = _in_thread(claim_all, olivia)
    b, b_result = _in_thread(claim_all, oscar)
    a.join(60)
    b.join(60)

    assert "error" not in a_result
    assert "error" not in b_result
    for task, mine, theirs in zip(tasks, a_result["value"], b_result["value"], strict=True):
        assert mine[0] == theirs[0] == 200
        assert (mine[1], theirs[1]) in ((True, False), (False, True)), task.pk  # exactly one winner
        assert mine[2] is not mine[1]  # the loser reads who holds it
        assert theirs[2] is not theirs[1]
        task.refresh_from_db()
        winner = olivia if mine[1] else oscar
        assert task.owner == winner
        assert TaskRow.objects.get(pk=task.pk).owner_id == winner.pk


def test_a_lock_held_too_long_is_a_busy_page_not_a_500(
    client, purchase_policy, submit_request, olivia, oscar
):
    """The flow lock waits at most its timeout; then FlowLockFailed is the portal's 409 busy page."""
    from unittest import mock

    from processes import locks
    from processes.purchase.flows import PurchaseFlow

    task = task_of(submit_request(), "approve")
    holding, release = threading.Event(), threading.Event()

    def olivia_holds_the_lock():
        with transaction.atomic():
            task_claim(task=task, user=olivia)
            holding.set()
            release.wait(10)

    thread, _ = _in_thread(olivia_holds_the_lock)
    holding.wait(5)
    client.force_login(oscar)
    try:
        with mock.patch.object(PurchaseFlow, "lock_impl", locks.SelectForUpdateLock(timeout=0.3)):
            response = client.post(f"/tasks/{task.pk}/claim/", {"next": "/tasks/queue/"}, follow=True)
    finally:
        release.set()
        thread.join(10)

    assert response.status_code == 200
    assert "Someone else is acting on this task right now" in response.content.decode()
    task.refresh_from_db()
    assert task.owner == olivia
