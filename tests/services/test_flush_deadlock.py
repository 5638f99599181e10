"""The flush after a transactional test survives a deadlock with a live process's read.

pytest-django's flush is one TRUNCATE of every table, taking their locks one by one. A live
server or worker that outlives the test may read two tables in one transaction; PostgreSQL then
aborts one of the two. Here the TRUNCATE is made the victim on purpose: the flush must try again
and leave every table empty, so the next test does not start on this one's rows."""

from __future__ import annotations

import logging
import re
import threading
import time

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connection
from psycopg import sql

from tests.stack import _test_database_url, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _truncate_order() -> list[str]:
    """The tables in the order the flush's TRUNCATE locks them."""
    (statement,) = sql_flush(no_style(), connection, reset_sequences=False)
    return re.findall(r'"([^"]+)"', statement.split(";")[0])


def _read(conn: psycopg.Connection, table: str) -> None:
    conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 0").format(sql.Identifier(table)))


def _waiting(pid: int) -> bool:
    with psycopg.connect(_test_database_url(), autocommit=True) as probe:
        row = probe.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)).fetchone()
    return bool(row and row[0])


def test_a_flush_the_database_aborted_as_a_deadlock_s_victim_is_tried_again(caplog):
    User.objects.create_user("left-behind")
    tables = _truncate_order()
    first, last = tables[0], tables[-1]
    assert first != last
    connection.ensure_connection()
    flusher = connection.connection.info.backend_pid

    reader = psycopg.connect(_test_database_url())  # a transaction, like a live process's read
    _read(reader, last)  # holds the TRUNCATE's last table
    outcome: dict[str, object] = {}

    def read_the_first_table_once_the_flush_waits() -> None:
        try:
            wait_for(lambda: _waiting(flusher), timeout=10, interval=0.02, what="the TRUNCATE to wait")
            # The TRUNCATE waited first, so its deadlock check runs first and aborts it.
            _read(reader, first)
            reader.commit()
            outcome["read"] = True
        except Exception as exc:  # reported to the test, not lost in the thread
            outcome["error"] = exc
            reader.rollback()

    thread = threading.Thread(target=read_the_first_table_once_the_flush_waits)
    thread.start()
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="tests.stack"):
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False)
    finally:
        thread.join(timeout=30)
        reader.close()

    assert outcome == {"read": True}, outcome  # the live process's read went through
    assert "the flush deadlocked" in caplog.text  # the TRUNCATE was the victim, and tried again
    assert not User.objects.exists()
    assert time.monotonic() - started < 15
