"""PermissionsBackend (processes/auth.py): the same answers as Django's ModelBackend, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from processes.auth import PermissionsBackend

pytestmark = pytest.mark.django_db


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("persona", ["alice", "olivia", "frank", "maria"])
def test_a_persona_has_the_permissions_model_backend_gives_her(request, persona):
    user = request.getfixturevalue(persona)
    assert PermissionsBackend().get_all_permissions(fresh(user)) == ModelBackend().get_all_permissions(
        fresh(user)
    )


def test_own_and_group_permissions_are_read_in_one_query_and_then_cached(olivia):
    olivia.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    user = fresh(olivia)
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("processes.view_auditevent")  # her own
        assert any(perm.startswith("purchase.") for perm in user.get_all_permissions())  # her group's
        assert not user.has_perm("processes.no_such_permission")
    assert len(queries) == 1


def test_an_inactive_user_and_a_superuser_are_answered_as_django_does(olivia, roles):
    inactive = fresh(olivia)
    inactive.is_active = False
    assert PermissionsBackend().get_all_permissions(inactive) == set()
    admin = get_user_model().objects.create_superuser("root-test", "root@example.com", "x")
    assert PermissionsBackend().get_all_permissions(fresh(admin)) == ModelBackend().get_all_permissions(
        fresh(admin)
    )


def test_it_logs_nobody_in_model_backend_still_does(rf, alice):
    alice.set_password("portal-demo-test")
    alice.save()
    assert (
        PermissionsBackend().authenticate(rf.get("/"), username="alice", password="portal-demo-test") is None
    )
    user = authenticate(rf.post("/accounts/login/"), username="alice", password="portal-demo-test")
    assert user is not None
    assert user.backend == "django.contrib.auth.backends.ModelBackend"


@pytest.mark.parametrize("chosen", ["de", None])
def test_a_signed_in_request_reads_the_language_with_the_permissions(olivia, chosen):
    from processes.languages.models import LanguagePreference
    from processes.languages.selectors import language_chosen_for

    if chosen:
        LanguagePreference.objects.create(user=olivia, language=chosen)
    olivia.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    user = fresh(olivia)
    with CaptureQueriesContext(connection) as queries:
        assert language_chosen_for(user) == chosen
        assert user.has_perm("processes.view_auditevent")
        assert not user.has_perm("processes.no_such_permission")
    assert len(queries) == 1
    assert user.get_all_permissions() == ModelBackend().get_all_permissions(fresh(olivia))


def test_a_superusers_language_is_read_alone(roles):
    from processes.languages.selectors import language_chosen_for

    admin = fresh(get_user_model().objects.create_superuser("root-test", "root@example.com", "x"))
    assert language_chosen_for(admin) is None
    assert not hasattr(admin, "_perm_cache")  # ModelBackend answers a superuser, as Django does
