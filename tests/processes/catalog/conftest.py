"""Process types defined as data, for the catalog's tests: "Expense claim" (the issue's example:
approvers, then finance over 500) defined through the same service the admin and imports use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import get_resolver

from processes.catalog.models import FieldKind
from processes.catalog.services import process_type_create, type_version_fill
from processes.policies.models import EscalationAction

EXPENSE_FIELDS = [
    {"name": "title", "label": "What for", "kind": FieldKind.TEXT, "max_length": 120},
    {"name": "amount", "label": "Amount", "kind": FieldKind.MONEY, "currency": "EUR", "min_value": "0.01"},
    {
        "name": "category",
        "label": "Category",
        "kind": FieldKind.CHOICE,
        "choices": "Travel\nMeals\nEquipment",
    },
    {"name": "receipt", "label": "Receipt", "kind": FieldKind.FILE, "required": False},
]


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


@pytest.fixture
def people(roles, maria):
    """The groups and the people definitions name: the demo roles, and maria of the managers."""
    return roles


@pytest.fixture
def expense_type(roles, maria):
    """Expense claim v1, published: requesters start it; approvers decide, then finance over 500."""
    return expense_type_define(maria)


def expense_type_define(maria):
    """Expense claim v1, published (the roles' groups must exist)."""
    groups = {group.name: group for group in Group.objects.all()}
    process_type = process_type_create(
        name="Expense claim", slug="expense-claim", icon="receipt_long", starter_groups=[groups["requesters"]]
    )
    type_version_fill(
        version=process_type.policy.versions.get(),
        fields=EXPENSE_FIELDS,
        stages=[
            {"name": "Approval", "group": groups["approvers"], "sla": timedelta(hours=4)},
            {
                "name": "Finance",
                "group": groups["finance"],
                "condition": "amount > 500",
                "sla": timedelta(hours=8),
                "escalation_group": groups["managers"],
                "escalation_user": maria,
                "levels": [(timedelta(0), EscalationAction.EMAIL)],
            },
        ],
        publish=True,
    )
    return process_type
