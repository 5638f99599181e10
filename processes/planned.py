"""A cursor for the few statements PostgreSQL would otherwise plan anew on every request.

Django binds parameters on the client (psycopg's ClientCursor): each statement reaches the server
as text with its values in it, and PostgreSQL parses and plans it every time. For the portal's
small, fixed-shape reads that run on every request or every state change (the signed-in user's
permissions and language, the audience of a queued task, the webhook endpoints), planning costs
PostgreSQL more than running them: half of its time on the approvals bench (docs/benchmarks.md,
2026-12-06, twelfth session).

`planned_cursor()` is a cursor on the same connection that sends its statements with server-side
binding and as prepared statements: psycopg prepares each statement once per connection (its
cache of prepared statements, per connection), and PostgreSQL keeps its plan, a generic one once
it has seen that a generic plan costs no more than the custom ones. The statements go through
Django's cursor wrapper as any other (query logging, `execute_wrapper`, the query budgets count
them). Only statements written for it go through it: server-side binding needs every
parameter's type to follow from the statement (Django's own SQL is written for client-side
binding, and a statement planned once must not depend on its values to use the right index).
Elsewhere than on PostgreSQL it is Django's own cursor.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


def planned_cursor(using: str = DEFAULT_DB_ALIAS) -> Any:
    """A cursor (use it as a context manager) of the connection `using`, whose statements are
    prepared on the server."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    base = _postgresql_base()
    with connection.wrap_database_errors:
        raw = connection.connection
        if raw.prepare_threshold is None:
            # Django turns psycopg's preparing off for the connection (None), which also refuses
            # `prepare=True`. Django's own cursors bind on the client and never prepare, whatever
            # the threshold; this cursor prepares each of its statements at once.
            raw.prepare_threshold = NEVER_BY_COUNT
        cursor = _preparing_cursor_class()(raw)
        # As Django's own cursors: its time zone, where the connection's loader has another.
        loader = raw.adapters.get_loader(base.TIMESTAMPTZ_OID, base.Format.TEXT)
        if connection.timezone != loader.timezone:
            base.register_tzloader(connection.timezone, cursor)
        connection.validate_thread_sharing()
        if connection.queries_logged:  # DEBUG, tests: logged as Django logs its own statements
            return _debug_wrapper_class()(cursor, connection)
        return connection.make_cursor(cursor)


def _postgresql_base() -> Any:
    """Django's PostgreSQL backend module (its names depend on the psycopg it found)."""
    from django.db.backends.postgresql import base

    return base


#: psycopg prepares a statement of a server-binding cursor once it has run this often: never, so
#: that only the statements sent through `planned_cursor` are prepared.
NEVER_BY_COUNT = 2**31 - 1


@functools.cache
def _preparing_cursor_class() -> Any:
    """psycopg's server-side binding cursor, with Django's mixin, always preparing."""

    class PreparingCursor(_postgresql_base().ServerBindingCursor):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor


@functools.cache
def _debug_wrapper_class() -> Any:
    """Django's debug cursor wrapper, logging each statement with its values in it. Django's own
    asks the cursor for the query it last sent, which psycopg does not keep for a prepared one."""
    from django.db.backends.utils import CursorWrapper

    class PlannedDebugWrapper(_postgresql_base().CursorDebugWrapper):  # type: ignore[misc]
        def execute(self, sql: Any, params: Any = None) -> Any:
            shown = sql if params is None else self.db.ops.compose_sql(sql, params)
            with self.debug_sql(shown, params):
                return CursorWrapper.execute(self, sql, params)

    return PlannedDebugWrapper
