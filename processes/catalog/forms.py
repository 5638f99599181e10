from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from processes.catalog.definitions import MAX_BYTES
from processes.forms import TaskDecisionForm


class DecisionForm(TaskDecisionForm):
    """A stage's decision on a request: approve, or reject with a reason."""

    choices = [("approve", _("Approve")), ("reject", _("Reject"))]
    reason_required = _("Say why the request is rejected.")


class DefinitionImportForm(forms.Form):
    """A process type's definition to import, as a file (processes/catalog/definitions.py)."""

    file = forms.FileField(
        label=_("Definition"),
        help_text=_("A JSON file exported from this or another portal (at most 1 MB)"),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise ValidationError(_("The file is larger than 1 MB."))
        return upload
