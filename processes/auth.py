"""PermissionsBackend: a user's permissions read in one statement, not two."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission


class PermissionsBackend(ModelBackend):
    """Answers permission checks like Django's ModelBackend, reading a user's own and their groups'
    permissions in one UNION instead of two queries (every signed-in request asks at least once:
    the menu, the gate). It fills the same per-user cache (`_perm_cache`) ModelBackend reads, so
    ModelBackend, listed after it, answers from that cache and reads nothing.

    It logs nobody in (`authenticate` returns None): ModelBackend still checks passwords, so
    sessions keep naming ModelBackend and nothing about logging in changes.
    """

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:  # all permissions: ModelBackend's own read
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            columns = ("content_type__app_label", "codename")
            own = Permission.objects.filter(user=user_obj).order_by().values_list(*columns)
            of_groups = Permission.objects.filter(group__user=user_obj).order_by().values_list(*columns)
            user_obj._perm_cache = {f"{app}.{codename}" for app, codename in own.union(of_groups)}
        return user_obj._perm_cache
