"""Validating, publishing and copying approval policy versions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from processes.models import AuditEvent
from processes.policies.models import ApprovalPolicy, PolicyStage, PolicyVersion
from processes.policies.services import (
    policy_version_copy,
    policy_version_publish,
    policy_version_validate,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(roles):
    policy = ApprovalPolicy.objects.create(name="purchase")
    return PolicyVersion.objects.create(policy=policy, number=1)


def _stage(version, order, group, **fields):
    return PolicyStage.objects.create(
        version=version, order=order, name=f"Stage {order}", group=group, **fields
    )


def test_a_version_without_stages_is_not_valid(draft):
    assert policy_version_validate(version=draft) == ["The version has no stages."]


def test_every_problem_is_named(draft, roles):
    _stage(draft, 1, roles["approvers"], sla=timedelta(0))
    _stage(draft, 3, roles["finance"], amount_above=Decimal("1000"), amount_up_to=Decimal("500"))

    errors = policy_version_validate(version=draft)

    assert errors == [
        "Stages must be numbered 1, 2, 3 ... without gaps or repeats (found 1, 3).",
        "Stage 1 (Stage 1): the SLA must be positive.",
        "Stage 3 (Stage 3): the amount condition is contradictory (above 1000.00 and at most 500.00 never holds).",
    ]


def test_amounts_no_stage_applies_to_are_refused(draft, roles):
    _stage(draft, 1, roles["approvers"], amount_up_to=Decimal("1000"))
    _stage(draft, 2, roles["finance"], amount_above=Decimal("2000"))

    assert policy_version_validate(version=draft) == [
        "No stage applies to amounts above 1000.00 up to 2000.00: such requests would be approved by nobody."
    ]


def test_a_reminder_must_come_before_the_sla(draft, roles):
    _stage(draft, 1, roles["approvers"], sla=timedelta(hours=1), reminder_before=timedelta(hours=2))

    assert policy_version_validate(version=draft) == [
        "Stage 1 (Stage 1): the reminder must come before the SLA runs out."
    ]


def test_publishing_retires_the_previous_version_and_grants_the_candidate_permission(
    draft, roles, frank, admin_user
):
    _stage(draft, 1, roles["approvers"])
    first = policy_version_publish(version=draft, user=admin_user)
    second = policy_version_copy(version=first, user=admin_user)
    _stage(second, 2, roles["finance"], amount_above=Decimal("1000"))

    policy_version_publish(version=second, user=admin_user)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("retired", "published")
    assert (second.number, second.published_by) == (2, admin_user)
    assert [s.order for s in second.stages.all()] == [1, 2]
    assert frank.has_perm(f"processes.candidate_{roles['finance'].pk}")
    assert AuditEvent.objects.filter(action="policy.published").count() == 2


def test_an_invalid_or_published_version_cannot_be_published(draft, roles):
    with pytest.raises(ValidationError) as refused:
        policy_version_publish(version=draft)
    assert refused.value.messages == ["The version has no stages."]

    _stage(draft, 1, roles["approvers"])
    policy_version_publish(version=draft)
    with pytest.raises(ValidationError, match="only drafts can be published"):
        policy_version_publish(version=draft)
