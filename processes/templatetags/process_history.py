"""The history panel of a process page, and how long each stage took."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

from processes.selectors import process_history as history_of
from processes.selectors import process_stage_durations as stage_durations_of

register = template.Library()


@register.inclusion_tag("processes/process_history.html")
def process_history(process):
    return {"rows": history_of(process), "process": process}


@register.inclusion_tag("processes/process_stages.html")
def process_stages(process):
    stages = stage_durations_of(process)
    return {"stages": stages, "process": process}


@register.filter
def duration(value: timedelta) -> str:
    """A duration as people say it: "2 d 3 h", "1 h 05 min", "12 min", "40 s"."""
    seconds = max(0, int(value.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return _("%(d)d d %(h)d h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min") % {"m": minutes}
    return _("%(s)d s") % {"s": seconds}
