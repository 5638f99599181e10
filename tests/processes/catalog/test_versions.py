"""Versions work like purchase policies: a published version is read-only and copied to change
it; each request pins the version it started with, so a field renamed or dropped later never
breaks a running request, its chain or its history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from processes.catalog.models import CatalogRequest, FieldKind, FormField
from processes.catalog.selectors import request_rows, types_startable_by, types_startable_list
from processes.catalog.services import catalog_request_start, catalog_task_decide, type_version_fill
from processes.policies.models import PolicyVersion
from processes.policies.services import policy_version_copy, policy_version_publish, policy_version_validate
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _v2(expense_type, rename_amount_to: str = "total") -> PolicyVersion:
    """v2: `amount` renamed, `category` dropped, a new required `project`; finance on the new name."""
    v1 = expense_type.policy.versions.get(status="published")
    draft = policy_version_copy(version=v1)
    fields = {field.name: field for field in draft.form_fields.all()}
    fields["amount"].name = rename_amount_to
    fields["amount"].save()
    fields["category"].delete()
    FormField.objects.create(version=draft, order=9, name="project", label="Project", kind=FieldKind.TEXT)
    finance = draft.stages.get(order=2)
    finance.condition = f"{rename_amount_to} > 500"
    finance.save()
    return policy_version_publish(version=draft)


def test_a_copy_keeps_the_form_the_chain_and_the_settings(expense_type):
    v1 = expense_type.policy.versions.get()
    v1.working_days, v1.work_starts, v1.work_ends, v1.time_zone = (
        "1,2,3,4,5",
        "09:00",
        "17:00",
        "Europe/Berlin",
    )
    v1.save()
    draft = policy_version_copy(version=v1)
    assert [f.name for f in draft.form_fields.order_by("order")] == ["title", "amount", "category", "receipt"]
    assert [(s.name, s.condition) for s in draft.stages.order_by("order")] == [
        ("Approval", ""),
        ("Finance", "amount > 500"),
    ]
    assert (draft.working_days, draft.time_zone, draft.status) == ("1,2,3,4,5", "Europe/Berlin", "draft")
    assert draft.stages.get(order=2).levels.count() == 1


def test_a_running_request_keeps_its_version_when_a_field_is_renamed_and_dropped(
    expense_type, alice, olivia, frank
):
    running = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Laptop", "amount": Decimal("900"), "category": "Equipment"},
    )
    v2 = _v2(expense_type)
    following = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Chair", "total": Decimal("700"), "project": "PRJ-1"},
    )
    assert following.version == v2
    assert [s.name for s in following.chain()] == ["Approval", "Finance"]

    running = CatalogRequest.objects.get(pk=running.pk)
    assert running.version.number == 1
    assert [s.name for s in running.chain()] == ["Approval", "Finance"]  # amount > 500 on v1's field
    assert dict(request_rows(running)) == {
        "What for": "Laptop",
        "Amount": "900.00 EUR",
        "Category": "Equipment",
    }
    for user in (olivia, frank):
        task = task_of(CatalogRequest.objects.get(pk=running.pk), "approve")
        task_claim(task=task, user=user)
        task.refresh_from_db()
        catalog_task_decide(task=task, user=user, approved=True)
    running.refresh_from_db()
    assert (running.status, running.approved) == ("DONE", True)


def test_the_old_form_s_values_are_refused_on_the_new_version(expense_type, alice):
    _v2(expense_type)
    with pytest.raises(ValidationError, match="Unknown fields: amount, category"):
        catalog_request_start(
            process_type=expense_type,
            requester=alice,
            values={"title": "x", "amount": Decimal("1"), "category": "Meals"},
        )


def test_published_versions_are_read_only_and_only_drafts_publish(expense_type):
    v1 = expense_type.policy.versions.get()
    assert not v1.is_editable
    with pytest.raises(ValidationError, match="not a draft"):
        policy_version_publish(version=v1)
    with pytest.raises(ValidationError, match="not a draft"):
        type_version_fill(version=v1, fields=[], stages=[])


def test_publishing_checks_conditions_against_the_version_s_own_form(expense_type):
    draft = policy_version_copy(version=expense_type.policy.versions.get())
    draft.form_fields.filter(name="amount").delete()
    problems = policy_version_validate(version=draft)
    assert any('Stage 2 (Finance), condition: Unknown field "amount"' in p for p in problems), problems
    with pytest.raises(ValidationError):
        policy_version_publish(version=draft)


def test_a_chain_where_every_stage_has_a_condition_is_refused(expense_type):
    draft = policy_version_copy(version=expense_type.policy.versions.get())
    draft.stages.filter(order=1).update(condition='category is "Travel"')
    assert any("Every stage has a condition" in p for p in policy_version_validate(version=draft))


def test_amount_bounds_do_not_belong_on_a_form_s_chain(expense_type):
    draft = policy_version_copy(version=expense_type.policy.versions.get())
    draft.stages.filter(order=1).update(amount_above=Decimal("10"))
    assert any(
        "amount bounds are for chains without a form" in p for p in policy_version_validate(version=draft)
    )


def test_a_purchase_policy_stage_cannot_have_a_condition(purchase_policy):
    stage = purchase_policy.stages.first()
    draft = policy_version_copy(version=purchase_policy)
    draft.stages.filter(order=stage.order).update(condition="amount > 1")
    assert any("a condition needs a request form" in p for p in policy_version_validate(version=draft))


def test_only_published_types_are_startable_and_only_by_their_groups(expense_type, alice, olivia, roles):
    # the query and the read the task lists make (compiled once a connection) agree at every step
    def startable(user):
        assert types_startable_list(user) == list(types_startable_by(user))
        return types_startable_list(user)

    assert startable(alice) == [expense_type]
    assert startable(olivia) == []
    expense_type.starter_groups.add(Group.objects.get(name="approvers"))
    assert startable(olivia) == [expense_type]
    PolicyVersion.objects.filter(policy=expense_type.policy).update(status="retired")
    assert startable(alice) == []


def test_a_superuser_may_start_every_published_type_and_nobody_signed_out_any(expense_type, db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    root = get_user_model().objects.create_superuser("root-starter", "root@example.com", "x")
    assert types_startable_list(root) == [expense_type]
    assert types_startable_list(AnonymousUser()) == []


def test_a_draft_sla_change_does_not_touch_running_requests(expense_type, alice):
    running = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "x", "amount": Decimal("5"), "category": "Meals"},
    )
    draft = policy_version_copy(version=expense_type.policy.versions.get(status="published"))
    draft.stages.filter(order=1).update(sla=timedelta(minutes=1))
    policy_version_publish(version=draft)
    assert CatalogRequest.objects.get(pk=running.pk).current_stage.sla == timedelta(hours=4)
