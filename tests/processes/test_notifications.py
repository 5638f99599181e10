"""The notification outbox: who hears of which change, in the same transaction, woken after commit."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from processes.audit import acting_as
from processes.models import Delivery, Notification, NotificationKind, NotificationPreference
from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.notifications import channels as notification_channels
from processes.notifications.audiences import live_channels_for
from processes.notifications.services import notify_task_reminder
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim, task_unclaim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def kinds(user) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(user=user).order_by("id").values_list("kind", "title"))


def test_a_new_request_notifies_its_queue_and_nobody_else(submit_request, olivia, oscar, frank, maria, alice):
    process = submit_request(title="Standing desk")

    for approver in (olivia, oscar):
        assert kinds(approver) == [
            (NotificationKind.TASK_QUEUED, "New in your queue: Approve purchase request")
        ]
    for outsider in (frank, maria, alice):  # frank and maria may see it, but it is not their queue
        assert kinds(outsider) == []
    row = Notification.objects.get(user=olivia)
    assert row.process_id == process.pk
    assert row.url == f"/purchase/{process.pk}/approve/{task_of(process, 'approve').pk}/"
    assert row.body == "Standing desk (640.00 EUR)"


def test_a_rolled_back_change_writes_no_notification(submit_request, olivia, maria):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    before = Notification.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        with acting_as(maria), approve.activation() as activation:
            activation.unassign()
        assert Notification.objects.count() == before + 1
        raise RuntimeError("boom")

    assert Notification.objects.count() == before


@pytest.fixture
def in_memory_layer(settings):
    """A layer this synchronous test can read from (the Redis layer is bound to one event loop)."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_wake_ups_go_out_only_after_commit(
    submit_request, olivia, django_capture_on_commit_callbacks, in_memory_layer
):
    layer = in_memory_layer
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("perm.purchase.approve_purchase", channel)

    async def receive(timeout: float = 0.1):
        return await asyncio.wait_for(layer.receive(channel), timeout)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit_request()
    with pytest.raises(TimeoutError):  # scheduled for the commit, not sent
        async_to_sync(receive)()

    for callback in callbacks:
        callback()
    assert async_to_sync(receive)() == {"type": "live.wake"}


def test_claiming_your_own_task_is_no_news_but_wakes_queue_and_inbox(
    submit_request, olivia, django_capture_on_commit_callbacks
):
    approve = task_of(submit_request(), "approve")
    before = Notification.objects.count()

    with (
        mock.patch.object(notification_channels, "wake") as wake,
        django_capture_on_commit_callbacks(execute=True),
    ):
        task_claim(task=approve, user=olivia)

    assert Notification.objects.count() == before
    woken = {name for call in wake.call_args_list for name in call.args[0]}
    assert {f"user.{olivia.pk}", "perm.purchase.approve_purchase", f"process.{approve.process_id}"} <= woken


def test_a_manager_reassigning_tells_the_new_and_the_previous_owner(submit_request, olivia, oscar, maria):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    Notification.objects.all().delete()

    with acting_as(maria), approve.activation() as activation:
        activation.reassign(user=oscar)

    assert kinds(oscar) == [(NotificationKind.TASK_ASSIGNED, "maria assigned you: Approve purchase request")]
    assert kinds(olivia) == [
        (NotificationKind.TASK_TAKEN, "maria reassigned your task to oscar: Approve purchase request")
    ]


def test_an_owner_handing_over_is_a_delegation(submit_request, olivia, oscar):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    Notification.objects.all().delete()

    with acting_as(olivia), approve.activation() as activation:
        activation.reassign(user=oscar)

    assert kinds(oscar) == [
        (NotificationKind.TASK_DELEGATED, "olivia delegated to you: Approve purchase request")
    ]
    assert kinds(olivia) == []


def test_a_task_put_back_in_the_queue_by_a_manager_tells_its_owner(submit_request, olivia, maria):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    Notification.objects.all().delete()

    task_unclaim(task=approve, user=maria)

    assert kinds(olivia) == [
        (NotificationKind.TASK_TAKEN, "maria put your task back in the queue: Approve purchase request")
    ]


def _approved(process, approver, comment: str = ""):
    """`process` approved by `approver`, its order job scheduled but not sent; returns the job."""
    approve = task_of(process, "approve")
    task_claim(task=approve, user=approver)
    with mock.patch.object(celery_job, "job_send", return_value=True):
        purchase_task_decide(task=approve, user=approver, approved=True, comment=comment)
    return task_of(process, "create_order")


def test_the_requester_hears_the_approval_and_the_completion(submit_request, olivia, alice):
    job = _approved(submit_request(), olivia, comment="Fine.")

    assert job_execute(job.flow_task.activation_class(job).ref()) == "done"

    assert [kind for kind, _ in kinds(alice)] == [
        NotificationKind.REQUEST_APPROVED,
        NotificationKind.REQUEST_COMPLETED,
    ]
    assert Notification.objects.get(user=alice, kind=NotificationKind.REQUEST_APPROVED).body == "Fine."


def test_the_requester_hears_in_her_process_summary_as_plain_text(submit_request, olivia, alice):
    """The titles say the descriptor's summary of the request as typed (an HTML template would
    escape it, and the page escapes it again); the job's End on the worker takes the requester
    from the request, not from its start task."""
    job = _approved(submit_request(title="Desk & <chair>"), olivia)

    with CaptureQueriesContext(connection) as captured:
        assert job_execute(job.flow_task.activation_class(job).ref()) == "done"

    assert [title for _, title in kinds(alice)] == [
        "olivia approved: Desk & <chair> (640.00 EUR)",
        "Completed: Desk & <chair> (640.00 EUR)",
    ]
    start_task_reads = [
        q["sql"]
        for q in captured.captured_queries
        if "HUMAN_START" in q["sql"] and q["sql"].startswith("SELECT")
    ]
    assert start_task_reads == []


def test_a_rejection_tells_the_requester_why_once(submit_request, olivia, alice):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)

    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Over budget.")

    assert [
        (kind, body) for kind, body in Notification.objects.filter(user=alice).values_list("kind", "body")
    ] == [(NotificationKind.REQUEST_REJECTED, "Over budget.")]


def test_a_failed_job_tells_the_process_managers(submit_request, olivia, maria, alice):
    process = submit_request()
    job = _approved(process, olivia)
    flow = process.flow_class
    flow.create_order._handler = mock.Mock(side_effect=ConnectionError("ERP is down"))
    try:
        assert job_execute(job.flow_task.activation_class(job).ref()) == "failed"
    finally:
        flow.create_order._handler = flow.instance.purchase_order_create

    assert kinds(maria) == [(NotificationKind.JOB_FAILED, "Failed: Create purchase order")]
    assert NotificationKind.JOB_FAILED not in [kind for kind, _ in kinds(olivia) + kinds(alice)]


def test_reminders_go_to_the_owner_and_escalations_to_the_target(submit_request, olivia, oscar, maria):
    approve = task_of(submit_request(), "approve")
    Notification.objects.all().delete()

    notify_task_reminder(task=approve)  # nobody holds it yet: its queue
    assert {u for (u,) in Notification.objects.values_list("user")} == {olivia.pk, oscar.pk}

    task_claim(task=approve, user=olivia)
    Notification.objects.all().delete()
    notify_task_reminder(task=approve, escalated=True, to_user_ids=[maria.pk])

    assert kinds(maria) == [(NotificationKind.TASK_ESCALATED, "Escalated to you: Approve purchase request")]
    assert kinds(olivia) == [
        (NotificationKind.TASK_ESCALATED, "Escalated (overdue): Approve purchase request")
    ]
    assert kinds(oscar) == []


def test_preferences_mute_a_kind_or_send_it_by_email(
    submit_request, olivia, oscar, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(
        user=olivia, kind=NotificationKind.TASK_QUEUED, delivery=Delivery.OFF
    )
    NotificationPreference.objects.create(
        user=oscar, kind=NotificationKind.TASK_QUEUED, delivery=Delivery.EMAIL
    )

    with django_capture_on_commit_callbacks(execute=True):
        submit_request(title="Monitor arm")

    assert kinds(olivia) == []
    assert Notification.objects.get(user=oscar).delivery == Delivery.EMAIL
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["oscar@example.com"], "New in your queue: Approve purchase request")
    ]
    assert "/purchase/" in mail.outbox[0].body


def test_the_live_channels_of_a_user_are_their_own_and_their_queues(olivia, frank, maria):
    assert live_channels_for(olivia) == [f"user.{olivia.pk}", "perm.purchase.approve_purchase"]
    assert live_channels_for(frank) == [f"user.{frank.pk}"]
    # Managers chase the carrier when an order's delivery callback never came: that is a queue.
    assert live_channels_for(maria) == [f"user.{maria.pk}", "perm.orders.chase_carrier"]


def test_under_a_published_policy_each_stage_group_hears_its_own_queue(purchase_policy, olivia, frank, roles):
    """Stage tasks are routed by their candidate group's permission; its holders listen on it."""
    approvers, finance = roles["approvers"], roles["finance"]
    for user in (olivia, frank):
        user = type(user).objects.get(pk=user.pk)  # a fresh instance: permissions are cached per object
        channels = live_channels_for(user)
        group = approvers if user.username == "olivia" else finance
        assert f"perm.processes.candidate_{group.pk}" in channels
    olivia = type(olivia).objects.get(pk=olivia.pk)
    assert f"perm.processes.candidate_{finance.pk}" not in live_channels_for(olivia)


def test_a_withdrawn_request_ends_without_a_completed_notification(submit_request, olivia, alice):
    """The End of a rejected request tells its requester nothing more: the rejection said why
    (`_notify_requester_completed` asks whether she had it, in a statement planned once)."""
    from processes.purchase.services import purchase_task_revise

    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Over budget.")
    purchase_task_revise(task=task_of(approve.process, "revise"), user=alice, withdraw=True, comment="Fine.")

    assert task_of(approve.process, "withdrawn").status == "DONE"
    assert [kind for kind, _ in kinds(alice)] == [NotificationKind.REQUEST_REJECTED]
