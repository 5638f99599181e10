"""Query budgets of a path through HTTP (issue 16): each step's statements counted, and held to a
budget measured on PostgreSQL (plus the statements SQLite takes besides). A step over its budget
fails; so does one more than `slack` under it, so that the budget comes down with the code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext


def counted(step: str, counts: dict[str, int], call: Callable[[], Any]) -> Any:
    """`call()`, its statements counted as `counts[step]`, with those of what it runs once its
    transaction commits (as a real commit runs it: the metrics' reads, the notifications' pushes)."""
    with CaptureQueriesContext(connection) as captured, TestCase.captureOnCommitCallbacks(execute=True):
        response = call()
    counts[step] = len(captured)
    return response


def assert_within(
    counts: Mapping[str, int], budget: Mapping[str, int], elsewhere: Mapping[str, int], slack: int
) -> None:
    """Each step within its budget (PostgreSQL's, plus `elsewhere`'s on another database), and no
    more than `slack` under it."""
    extra = elsewhere if connection.vendor != "postgresql" else {}
    limits = {step: budget[step] + extra.get(step, 0) for step in budget}
    assert all(count <= limits[step] for step, count in counts.items()), f"over the budget {limits}: {counts}"
    for step, count in counts.items():
        assert count >= limits[step] - slack, (
            f"{step} takes only {count} statements: lower its budget ({counts})"
        )
