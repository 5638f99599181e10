"""Errors the process machinery knows how to handle."""

from __future__ import annotations


class TransientError(Exception):
    """A failure worth another attempt (an unreachable or timed-out system). Jobs retry these."""


class PermanentError(Exception):
    """A failure no retry will fix (a business refusal). Jobs fail at once."""


class IncidentError(Exception):
    """An incident cannot be retried or skipped as asked (wrong state, or no reason given)."""
