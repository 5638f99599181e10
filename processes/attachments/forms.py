"""The attachments field of the start and revise forms (Django's multiple file upload recipe)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from processes.attachments.checks import uploads_check


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Optional files; cleans to a list of checked uploads (checks.CheckedUpload), possibly empty."""

    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Attachments"))
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs["accept"] = ",".join(f".{ext}" for ext in settings.ATTACHMENTS_ALLOWED_TYPES)
        return attrs

    @property
    def help_text(self):  # read at render time: the limits can change with the settings
        return _("Optional: up to %(count)d files of at most %(size)s each (%(types)s).") % {
            "count": settings.ATTACHMENTS_MAX_FILES,
            "size": filesizeformat(settings.ATTACHMENTS_MAX_FILE_SIZE),
            "types": ", ".join(settings.ATTACHMENTS_ALLOWED_TYPES),
        }

    @help_text.setter
    def help_text(self, value) -> None:
        pass

    def clean(self, data, initial=None):
        single_file_clean = super().clean
        if isinstance(data, (list, tuple)):
            uploads = [single_file_clean(item, initial) for item in data]
        else:
            uploads = [single_file_clean(data, initial)]
        return uploads_check([upload for upload in uploads if upload])
