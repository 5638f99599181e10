"""Who holds a permission (the audience of a queued task): through a group or directly, every
permission asked for, active users only, superusers only when they hold it explicitly."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from processes.notifications.audiences import users_holding

pytestmark = pytest.mark.django_db

VIEW, MANAGE = "purchase.view_purchaseprocess", "purchase.manage_purchaseprocess"


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def people():
    users = get_user_model().objects
    viewers = Group.objects.create(name="audience viewers")
    viewers.permissions.add(_permission(VIEW))
    by_group = users.create(username="by-group")
    by_group.groups.add(viewers)
    direct = users.create(username="direct")
    direct.user_permissions.add(_permission(VIEW), _permission(MANAGE))
    both_ways = users.create(username="both-ways")  # view by group, manage directly
    both_ways.groups.add(viewers)
    both_ways.user_permissions.add(_permission(MANAGE))
    inactive = users.create(username="inactive", is_active=False)
    inactive.groups.add(viewers)
    users.create(username="root", is_superuser=True)
    users.create(username="nobody")
    return users


def _names(queryset) -> list[str]:
    return sorted(queryset.values_list("username", flat=True))


def test_a_permission_is_held_through_a_group_or_directly_by_active_users(people):
    assert _names(users_holding(VIEW)) == ["both-ways", "by-group", "direct"]


def test_every_permission_asked_for_must_be_held_each_by_either_way(people):
    assert _names(users_holding(VIEW, MANAGE)) == ["both-ways", "direct"]


def test_the_audience_combines_with_other_filters_and_other_audiences(people):
    assert _names(users_holding(VIEW).exclude(username="direct")) == ["both-ways", "by-group"]
    assert _names(users_holding(MANAGE) | people.filter(username="nobody")) == [
        "both-ways",
        "direct",
        "nobody",
    ]


def test_a_permission_nobody_holds_has_no_audience(people):
    assert _names(users_holding("purchase.delete_purchaseprocess")) == []


def test_one_permission_held_both_ways_counts_once(people):
    """Grants are counted per permission: holding one twice is not holding two."""
    twice = people.create(username="twice")
    twice.groups.add(Group.objects.get(name="audience viewers"))
    twice.user_permissions.add(_permission(VIEW))
    assert "twice" in _names(users_holding(VIEW))
    assert "twice" not in _names(users_holding(VIEW, MANAGE))
    assert _names(users_holding(VIEW, VIEW)) == _names(users_holding(VIEW))


def test_a_name_two_models_define_is_one_permission_held(people):
    """`purchase.view_purchaseprocess` defined on a second model of the app too: holding both
    rows is holding that one name, not also another one asked for."""
    view, manage = _permission(VIEW), _permission(MANAGE)
    other_model = ContentType.objects.create(app_label="purchase", model="audience_twin")
    twin = Permission.objects.create(content_type=other_model, codename="view_purchaseprocess", name="twin")
    both_rows = people.create(username="both-rows")
    both_rows.user_permissions.add(view, twin)
    by_twin = people.create(username="by-twin")
    by_twin.user_permissions.add(twin, manage)

    assert {"both-rows", "by-twin"} <= set(_names(users_holding(VIEW)))
    assert "both-rows" not in _names(users_holding(VIEW, MANAGE))
    assert "by-twin" in _names(users_holding(VIEW, MANAGE))


def test_a_permission_must_be_named_with_its_app(people):
    with pytest.raises(ValueError, match="app_label"):
        users_holding("view_purchaseprocess")
