from typing import Any, cast

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class IncidentSkipForm(forms.Form):
    """Skipping a failed step always says why."""

    reason = forms.CharField(label=_("Reason"), max_length=2000, strip=True)


class TaskDecisionForm(forms.Form):
    """A person's decision on a task: yes or no, with a comment the "no" always needs.

    Subclasses set `choices` (yes first, then no) and `reason_required`.
    """

    choices: list[tuple[str, str | Promise]] = []
    reason_required = _("Say why.")

    decision = forms.ChoiceField(label=_("Decision"), widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["decision"]).choices = self.choices

    def clean(self):
        cleaned = cast("dict[str, Any]", super().clean())  # Form.clean returns cleaned_data
        if (
            cleaned.get("decision")
            and not self.is_yes(cleaned)
            and not (cleaned.get("comment") or "").strip()
        ):
            self.add_error("comment", self.reason_required)
        return cleaned

    def is_yes(self, cleaned=None) -> bool:
        return (cleaned or self.cleaned_data)["decision"] == self.choices[0][0]
