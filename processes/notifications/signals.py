"""Signal receivers of live notifications. processes/apps.py connects them in `ready()`."""

from __future__ import annotations

from typing import Any

from viewflow.workflow.models import Task

from processes.notifications.channels import session_channel, sessions_end_on_commit, user_channel


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_out`: close the sockets of the browser session that logged out."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        sessions_end_on_commit([session_channel(session_key)])


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """`post_save` of the user model: a deactivated user's sockets close, in every session."""
    if not created and not instance.is_active:
        sessions_end_on_commit([user_channel(instance.pk)])


def remember_owner(sender: Any, instance: Task, **kwargs: Any) -> None:
    """`post_init` of Task: where a task's owner was when it was loaded. Transitions overwrite
    it, and "reassigned" and "put back in the queue" must tell the previous owner."""
    instance._live_owner_id = instance.__dict__.get("owner_id")
