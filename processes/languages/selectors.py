"""Reads of the users' languages."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from processes.languages.models import LanguagePreference


def language_chosen(*, user_id: int) -> str | None:
    """The language `user_id` chose on their profile page, or None (they have not chosen)."""
    return LanguagePreference.objects.filter(user_id=user_id).values_list("language", flat=True).first()


def languages_of(*, user_ids: Iterable[int]) -> dict[int, str]:
    """The language to write to each of `user_ids` in (an email, a notification): their choice,
    else LANGUAGE_CODE (an email has no browser to ask). One query."""
    ids = list(user_ids)
    chosen = dict(LanguagePreference.objects.filter(user_id__in=ids).values_list("user_id", "language"))
    return {pk: chosen.get(pk, settings.LANGUAGE_CODE) for pk in ids}


def language_of(*, user_id: int) -> str:
    """The language to write to `user_id` in (see `languages_of`)."""
    return languages_of(user_ids=[user_id])[user_id]
