"""Template tags of the live channel: the bell and the id the live client starts after."""

from __future__ import annotations

from django import template

from processes.notifications.selectors import notification_state

register = template.Library()


def _state(context) -> tuple[int, int]:
    """(newest notification id, unread count) of the page's user, read once per request."""
    request = context["request"]
    state = getattr(request, "_portal_live_state", None)
    if state is None:
        user = request.user
        state = notification_state(user_id=user.pk) if user.is_authenticated else (0, 0)
        request._portal_live_state = state
    return state


@register.inclusion_tag("processes/notifications/bell.html", takes_context=True)
def notification_bell(context):
    return {"unread": _state(context)[1]}


@register.simple_tag(takes_context=True)
def live_last_id(context) -> int:
    """The newest notification id of the user when the page was rendered: the page shows what
    came before it, and the websocket sends everything after it."""
    return _state(context)[0]
