"""The site menu's links (processes/site.py), and the pinned saved filters in the drawer."""

from __future__ import annotations

from typing import Any

from django import template

from processes.tasklist import saved_selectors

register = template.Library()


@register.simple_tag
def site_menu_entries(site, user):
    return site.menu_entries(user)


@register.simple_tag(takes_context=True)
def pinned_filters(context: template.Context, user: Any) -> list[dict[str, Any]]:
    """The filters `user` pinned, with their counts, for the drawer: the task list page's own
    (`pinned` in its context: counted once per page), or read here on every other page."""
    if "pinned" in context:
        return list(context["pinned"])
    if not getattr(user, "is_authenticated", False):
        return []
    return [
        {"saved": item.saved, "url": saved_selectors.saved_filter_url(item.saved), "count": item.label}
        for item in saved_selectors.pinned_for(user)
    ]
