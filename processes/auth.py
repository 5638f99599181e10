"""PermissionsBackend: a user's permissions read in one statement, not two."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


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
            with connection.cursor() as cursor:
                cursor.execute(user_permissions_sql(), [user_obj.pk, user_obj.pk])
                permissions_keep(user_obj, cursor.fetchall())
        return user_obj._perm_cache


def permissions_read_with(user_obj: Any) -> bool:
    """Whether `user_obj`'s permissions come from `user_permissions_sql` (an active user, not a
    superuser: ModelBackend answers for those), so a caller may read them with another query."""
    return user_obj.is_active and not user_obj.is_anonymous and not user_obj.is_superuser


def permissions_keep(user_obj: Any, rows: Any) -> None:
    """Fill the per-user cache Django's permission checks read from `user_permissions_sql`'s
    rows, (app label, codename)."""
    user_obj._perm_cache = {f"{app}.{codename}" for app, codename in rows}


@dataclass(frozen=True)
class PermissionTables:
    """The quoted names of the tables (and their columns) that say who holds which permission,
    from the models' metadata (the user model may be swapped)."""

    user_groups: str  # user -> group
    ug_user: str
    ug_group: str
    group_perms: str  # group -> permission
    gp_group: str
    gp_perm: str
    user_perms: str  # user -> permission
    up_user: str
    up_perm: str
    permission: str
    content_type: str


@functools.cache
def permission_tables() -> PermissionTables:
    quote = connection.ops.quote_name
    user_model = get_user_model()

    def through(field: Any) -> tuple[str, str, str]:
        model = field.remote_field.through
        (source,) = [f for f in model._meta.fields if f.related_model is field.model]
        (target,) = [f for f in model._meta.fields if f.related_model is field.related_model]
        return quote(model._meta.db_table), quote(source.column), quote(target.column)

    return PermissionTables(
        *through(user_model._meta.get_field("groups")),
        *through(Group._meta.get_field("permissions")),
        *through(user_model._meta.get_field("user_permissions")),
        quote(Permission._meta.db_table),
        quote(ContentType._meta.db_table),
    )


@functools.cache
def user_permissions_sql() -> str:
    """A user's own and their groups' permissions as (app label, codename), two parameters (the
    user's id, twice). Plain SQL: it runs on every signed-in request, and the ORM's UNION of two
    joined querysets cost more to build than to run (docs/benchmarks.md, issue 16)."""
    t = permission_tables()
    return (
        f"SELECT ct.app_label, p.codename FROM {t.permission} p JOIN {t.content_type} ct "  # noqa: S608
        f"ON ct.id = p.content_type_id WHERE p.id IN (SELECT up.{t.up_perm} FROM {t.user_perms} up "
        f"WHERE up.{t.up_user} = %s UNION SELECT gp.{t.gp_perm} FROM {t.group_perms} gp "
        f"JOIN {t.user_groups} ug ON ug.{t.ug_group} = gp.{t.gp_group} WHERE ug.{t.ug_user} = %s)"
    )
