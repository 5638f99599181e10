"""Errors the process machinery knows how to handle."""

from __future__ import annotations


class TransientError(Exception):
    """A failure worth another attempt (an unreachable or timed-out system). Jobs retry these."""


class PermanentError(Exception):
    """A failure no retry will fix (a business refusal). Jobs fail at once."""


class IncidentError(Exception):
    """An incident cannot be retried or skipped as asked (wrong state, or no reason given)."""


class InterventionRefused(Exception):
    """A process manager's fix of a running instance is refused as asked: the task or process is
    not in a state that allows it (finished, already held by that person, a step still running)."""
