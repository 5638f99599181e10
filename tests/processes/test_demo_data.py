"""The demo data's purchase policy: published once, and frank may approve its finance stage; its
order policy: a short fraud review SLA, set once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from viewflow.workflow.models import Task

from processes.orders.models import OrderPolicy, OrderProcess
from processes.policies.models import PolicyVersion
from processes.purchase.models import PurchaseProcess
from processes.tasklist.models import TaskRow
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def test_the_demo_publishes_one_purchase_policy_and_is_idempotent():
    call_command("demo_data", stdout=StringIO())
    call_command("demo_data", stdout=StringIO())

    version = PolicyVersion.objects.get(policy__managed_by="")  # the vacation type has its own
    assert (version.policy.name, version.status, version.number) == ("purchase", "published", 1)
    assert [(s.name, s.group.name, s.amount_above) for s in version.stages.order_by("order")] == [
        ("Team approval", "approvers", None),
        ("Finance review", "finance", 1000),
    ]
    waiting = PurchaseProcess.objects.get(title="Team offsite venue deposit")
    frank = get_user_model().objects.get(username="frank")
    assert list(Task.objects.queue([waiting.flow_class], frank)) == [
        Task.objects.get(process=waiting, status="NEW", flow_task_type="HUMAN")
    ]


def test_the_demo_sets_a_short_fraud_review_sla_once_and_the_waiting_review_is_due_then():
    out = StringIO()
    call_command("demo_data", stdout=out)

    assert "demo order policy: fraud threshold 70, fraud review SLA 0:30:00" in out.getvalue()
    policy = OrderPolicy.objects.get()
    assert (policy.fraud_threshold, policy.fraud_review_sla) == (70, timedelta(minutes=30))
    review = task_of(OrderProcess.objects.get(customer_email="mallory@mailinator.com"), "review_fraud")
    due = review.created + timedelta(minutes=30)
    assert TaskRow.objects.get(pk=review.pk).due_at == due
    assert list(
        Task.objects.filter(process=review.process, flow_task_type="TIMER").values_list(
            "scheduled", flat=True
        )
    ) == [due]

    policy.fraud_review_sla = timedelta(hours=2)  # an admin's edit
    policy.save()
    call_command("demo_data", stdout=StringIO())

    assert OrderPolicy.objects.get().fraud_review_sla == timedelta(hours=2)


def test_the_demo_defines_the_vacation_request_once_with_two_requests():
    call_command("demo_data", stdout=StringIO())
    call_command("demo_data", stdout=StringIO())

    from processes.catalog.models import CatalogRequest, ProcessType

    vacation = ProcessType.objects.get()
    assert vacation.name == "Vacation request"
    version = vacation.policy.versions.get()
    assert version.status == "published"
    assert [(s.name, s.group.name, s.condition) for s in version.stages.order_by("order")] == [
        ("Team lead", "team leads", ""),
        ("HR", "hr", "days >= 10"),
    ]
    requests = CatalogRequest.objects.order_by("pk")
    assert [(r.values["reason"], r.status, r.stage_order) for r in requests] == [
        ("Long weekend", "DONE", None),
        ("Summer trip", "NEW", 2),
    ]


def test_the_demo_shows_an_overdue_task_in_the_approvers_queue_at_once():
    """Right after loading, olivia's queue holds a request past its SLA, marked overdue, and its
    escalation timers are due (beat fires them within seconds of `make run`)."""
    from django.utils import timezone

    from processes.tasklist.selectors import task_rows_queue

    call_command("demo_data", stdout=StringIO())
    now = timezone.now()
    olivia = get_user_model().objects.get(username="olivia")

    overdue = [row for row in task_rows_queue(olivia) if row.is_overdue(now)]

    assert [row.subject for row in overdue] == ["Printer toner for the second floor"]
    process = PurchaseProcess.objects.get(title="Printer toner for the second floor")
    assert Task.objects.filter(
        process=process, flow_task_type="TIMER", status="SCHEDULED", scheduled__lte=now
    ).exists()


def test_every_demo_operator_has_a_colleague_who_can_stand_in():
    """The out-of-office page offers olivia and frank a substitute with the same rights (ADR 0023)."""
    from processes.absences.selectors import substitute_candidates

    call_command("demo_data", stdout=StringIO())

    users = get_user_model().objects
    assert [u.username for u in substitute_candidates(users.get(username="olivia"))] == ["oscar"]
    assert [u.username for u in substitute_candidates(users.get(username="oscar"))] == ["olivia"]
    assert [u.username for u in substitute_candidates(users.get(username="frank"))] == ["felix"]
