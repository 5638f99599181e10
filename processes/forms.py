from django import forms
from django.utils.translation import gettext_lazy as _


class IncidentSkipForm(forms.Form):
    """Skipping a failed step always says why."""

    reason = forms.CharField(label=_("Reason"), max_length=2000, strip=True)
