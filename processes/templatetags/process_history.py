"""The history panel of a process page."""

from __future__ import annotations

from django import template

from processes.selectors import process_history as history_of

register = template.Library()


@register.inclusion_tag("processes/process_history.html")
def process_history(process):
    return {"rows": history_of(process), "process": process}
