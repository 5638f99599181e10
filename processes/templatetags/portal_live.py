"""Template tags of the live channel: the bell and the id the live client starts after."""

from __future__ import annotations

from django import template

from processes.notifications import notification_last_id, notifications_unread_count

register = template.Library()


@register.inclusion_tag("processes/notifications/bell.html", takes_context=True)
def notification_bell(context):
    user = context["request"].user
    return {"unread": notifications_unread_count(user=user) if user.is_authenticated else 0}


@register.simple_tag(takes_context=True)
def live_last_id(context) -> int:
    """The newest notification id of the user when the page was rendered: the page shows what
    came before it, and the websocket sends everything after it."""
    user = context["request"].user
    return notification_last_id(user_id=user.pk) if user.is_authenticated else 0
