"""Writes of the users' languages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from processes.languages.models import LanguagePreference

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@transaction.atomic
def language_preference_set(*, user: User, language: str) -> LanguagePreference:
    """Make `language` (one of settings.LANGUAGES) `user`'s language, on every device from their
    next request on, and for every email written to them."""
    preference = LanguagePreference(user=user, language=language)
    preference.full_clean(validate_unique=False)
    preference, _ = LanguagePreference.objects.update_or_create(user=user, defaults={"language": language})
    return preference
