"""The site menu's links (processes/site.py)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def site_menu_entries(site, user):
    return site.menu_entries(user)
