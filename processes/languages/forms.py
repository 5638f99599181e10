from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class LanguageForm(forms.Form):
    """The profile page's language switch. Each language is named in itself (a German reader of
    an English page still finds "Deutsch")."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
