"""The session engine (SESSION_ENGINE): Django's database sessions, read with a statement written
once instead of a query Django builds for every request.

Every signed-in request reads its session first. Django's store builds that read anew each time
(`Session.objects.get(session_key=..., expire_date__gt=now)`): on the approvals bench that took
about 0.33 ms of CPU per request more than running the same statement (docs/benchmarks.md,
2026-12-06). This store runs the same statement, written from the model's metadata. Everything
else, and the table, is Django's own, so sessions written before this engine keep working.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

from processes.planned import planned_cursor


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:
        model = self.model
        using = router.db_for_read(model)
        connection = connections[using]
        with planned_cursor(using) as cursor:  # planned once a connection (ADR 0033)
            cursor.execute(
                _read_sql(connection.alias),
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:  # no such session, or it has expired: as Django's store answers
            self._session_key = None
            return None
        return model(session_key=str(self.session_key), session_data=row[0])


@functools.cache
def _read_sql(alias: str) -> str:
    """The session's data by its key, if it has not expired (identifiers from the model)."""
    from django.contrib.sessions.models import Session

    quote = connections[alias].ops.quote_name
    meta = Session._meta

    def column(name: str) -> str:
        field: Any = meta.get_field(name)
        return quote(field.column)

    return (
        f"SELECT {column('session_data')} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {column('session_key')} = %s AND {column('expire_date')} > %s"
    )
