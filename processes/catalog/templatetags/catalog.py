"""A catalog request's values on its pages, labelled by the version it pinned."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from processes.catalog.selectors import request_rows as request_rows_of

register = template.Library()


@register.simple_tag
def request_rows(process):
    process = process.coerced if hasattr(process, "coerced") else process
    return [
        (_("Type"), f"{process.process_type.name} (v{process.version.number})"),
        (_("Requester"), process.requester.get_full_name() or process.requester.get_username()),
        *request_rows_of(process),
    ]
