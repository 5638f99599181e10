"""Reads of the users' languages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection

from processes.auth import permissions_keep, permissions_read_with, user_permissions_sql
from processes.languages.models import LanguagePreference
from processes.planned import planned_cursor


def language_chosen(*, user_id: int) -> str | None:
    """The language `user_id` chose on their profile page, or None (they have not chosen)."""
    return LanguagePreference.objects.filter(user_id=user_id).values_list("language", flat=True).first()


def language_chosen_for(user: Any) -> str | None:
    """`language_chosen` for a signed-in user, with their permissions (an active user's, not a
    superuser's) read in the same statement into the cache Django's permission checks read:
    every page asks for both, so a signed-in request reads them in one round trip, not two."""
    if not permissions_read_with(user) or hasattr(user, "_perm_cache"):
        return language_chosen(user_id=user.pk)
    quote = connection.ops.quote_name
    meta = LanguagePreference._meta
    language = (
        f"SELECT NULL, {quote(meta.get_field('language').column)} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {quote(meta.get_field('user').column)} = %s"
    )
    with planned_cursor() as cursor:  # on every signed-in request: planned once a connection
        cursor.execute(f"{language} UNION ALL {user_permissions_sql()}", [user.pk, user.pk, user.pk])
        rows = cursor.fetchall()
    permissions_keep(user, [row for row in rows if row[0] is not None])
    return next((row[1] for row in rows if row[0] is None), None)


def languages_of(*, user_ids: Iterable[int]) -> dict[int, str]:
    """The language to write to each of `user_ids` in (an email, a notification): their choice,
    else LANGUAGE_CODE (an email has no browser to ask). One query."""
    ids = list(user_ids)
    chosen = dict(LanguagePreference.objects.filter(user_id__in=ids).values_list("user_id", "language"))
    return {pk: chosen.get(pk, settings.LANGUAGE_CODE) for pk in ids}


def language_of(*, user_id: int) -> str:
    """The language to write to `user_id` in (see `languages_of`)."""
    return languages_of(user_ids=[user_id])[user_id]
