"""The demo data's purchase policy: published once, and frank may approve its finance stage."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from viewflow.workflow.models import Task

from processes.policies.models import PolicyVersion
from processes.purchase.models import PurchaseProcess

pytestmark = pytest.mark.django_db


def test_the_demo_publishes_one_purchase_policy_and_is_idempotent():
    call_command("demo_data", stdout=StringIO())
    call_command("demo_data", stdout=StringIO())

    version = PolicyVersion.objects.get()
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
