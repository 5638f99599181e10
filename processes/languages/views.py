"""The language switch of the profile page (POST only; the page itself is viewflow's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from processes.languages.forms import LanguageForm
from processes.languages.services import language_preference_set

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedRequest(HttpRequest):
    """For mypy: a request past LoginRequiredMiddleware (portal/settings.py) has a real user."""

    user: User


@require_POST
def language_set(request: AuthenticatedRequest) -> HttpResponse:
    """Store the user's language and answer in it. The cookie keeps the sign-in page in that
    language after signing out."""
    form = LanguageForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("language", []):
            messages.error(request, str(error))
        return redirect("profile")
    language = form.cleaned_data["language"]
    language_preference_set(user=request.user, language=language)
    translation.activate(language)
    messages.success(request, _("Your language is saved."))
    response = redirect("profile")
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response
