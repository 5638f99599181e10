from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ActionLinkForm(forms.Form):
    """The confirmation of an email link's action; a rejection must say why."""

    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, approves: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.approves = approves
        if not approves:
            self.fields["comment"].label = _("Why do you reject it? (required)")

    def clean_comment(self) -> str:
        comment = self.cleaned_data["comment"].strip()
        if not self.approves and not comment:
            raise forms.ValidationError(_("A rejection needs a comment: say why."))
        return comment
