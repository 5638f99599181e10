"""UserLanguageMiddleware: a signed-in user's own language wins over the cookie and the browser."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from processes.languages.selectors import language_chosen_for


class UserLanguageMiddleware:
    """After AuthenticationMiddleware: activate the language the user chose, if any.

    LocaleMiddleware (before it) has already activated the cookie's or the browser's language and
    sets Content-Language and `Vary: Accept-Language` on the way out from whatever is active then.
    One query per signed-in request, which also reads the user's permissions (every page checks
    some): the choice is read, not cached in the session, so a change on one device holds on every
    other at its next request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = language_chosen_for(user)
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
