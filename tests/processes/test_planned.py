"""`planned_cursor`: the hot reads PostgreSQL plans once per connection, not on every run; every
other statement as Django sends it; each one seen, logged and counted as Django's own."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from processes.planned import planned_cursor

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)

READ = "SELECT id, username, date_joined FROM auth_user WHERE id = %s AND is_active = %s"


def _run(cursor_of, *params, mark: str = ""):
    """READ through `cursor_of`; `mark` (an SQL comment) makes it a statement of the test's own,
    whatever an earlier test left prepared on the connection."""
    with cursor_of() as cursor:
        cursor.execute(f"{READ} /* {mark} */" if mark else READ, list(params))
        return cursor.fetchall()


def _prepared(mark: str) -> dict[str, tuple[int, int]]:
    """The connection's prepared statements that carry `mark`: (generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {
            statement: (generic, custom)
            for statement, generic, custom in cursor.fetchall()
            if mark in statement
        }


def test_it_reads_what_django_s_own_cursor_reads(alice):
    assert _run(planned_cursor, alice.pk, True) == _run(connection.cursor, alice.pk, True)


@on_postgresql
def test_postgresql_plans_it_once_a_connection_and_keeps_a_generic_plan(alice, olivia):
    for _ in range(4):
        for user in (alice, olivia):
            _run(planned_cursor, user.pk, True, mark="planned-once")

    ((statement, (generic, custom)),) = _prepared("planned-once").items()
    assert ("$1" in statement, "$2" in statement) == (True, True)  # bound on the server, not in the text
    assert (custom, generic) == (5, 3)  # PostgreSQL's own rule: five custom plans, then the generic one


@on_postgresql
def test_the_connection_s_other_statements_are_not_prepared(alice):
    for _ in range(8):
        _run(connection.cursor, alice.pk, True, mark="django-s-own")
        list(type(alice).objects.filter(pk=alice.pk))  # the ORM's: the only statement reading passwords

    assert _prepared("django-s-own") == {}
    assert _prepared('"auth_user"."password"') == {}


def test_django_logs_and_counts_it_with_its_values(alice):
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        _run(planned_cursor, alice.pk, True)

    assert seen == [READ]
    (logged,) = captured
    assert f"WHERE id = {alice.pk} AND is_active = " in logged["sql"]


@on_postgresql
def test_a_time_comes_back_aware_in_the_connection_s_time_zone(alice):
    ((_, _, joined),) = _run(planned_cursor, alice.pk, True)

    assert isinstance(joined, datetime)
    assert joined == alice.date_joined
    assert joined.utcoffset() == timezone.now().utcoffset()
