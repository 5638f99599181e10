"""Readiness checks of the portal's dependencies: database, Celery broker and channel layer.

The same checks answer `/readyz` and the `preflight` command that `make run` calls before it
starts anything, so a wrong DATABASE_URL or REDIS_URL is reported in one line naming the
variable, not as a traceback from deep inside a driver.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection

from portal.config import database_location, first_line, mask_url


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class DependencyDown(Exception):
    """One or more dependencies failed their check; the message has one line per failure."""


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        connection.close()
        return CheckResult(
            "database", False, f"DATABASE_URL unreachable ({database_location()}): {first_line(exc)}"
        )
    return CheckResult("database", True, connection.vendor)


def check_broker() -> CheckResult:
    from portal.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
            transport = conn.transport_cls
    except Exception as exc:
        return CheckResult(
            "broker",
            False,
            f"CELERY_BROKER_URL unreachable ({mask_url(settings.CELERY_BROKER_URL)}): {first_line(exc)}",
        )
    return CheckResult("broker", True, str(transport))


async def acheck_channel_layer() -> CheckResult:
    """A round trip through the channel layer: send to a fresh channel and read it back."""
    import asyncio

    from channels.layers import get_channel_layer

    variable = "REDIS_URL" if settings.REDIS_URL else "CHANNEL_LAYERS"
    try:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("no channel layer configured")
        channel = await layer.new_channel("readyz.")
        await asyncio.wait_for(layer.send(channel, {"type": "readyz.probe"}), timeout=3)
        message = await asyncio.wait_for(layer.receive(channel), timeout=3)
        if message.get("type") != "readyz.probe":
            raise RuntimeError(f"unexpected message {message!r}")
    except Exception as exc:
        return CheckResult(
            "channel_layer", False, f"{variable}: channel layer unreachable: {first_line(exc)}"
        )
    return CheckResult("channel_layer", True, type(layer).__name__)


def check_channel_layer() -> CheckResult:
    return async_to_sync(acheck_channel_layer)()


CHECKS: tuple[Callable[[], CheckResult], ...] = (check_database, check_broker, check_channel_layer)


def run_checks() -> list[CheckResult]:
    return [check() for check in CHECKS]


async def arun_checks() -> list[CheckResult]:
    """The checks from an async view: blocking ones in a thread, the channel layer on this loop."""
    from asgiref.sync import sync_to_async

    return [
        await sync_to_async(check_database)(),
        await sync_to_async(check_broker)(),
        await acheck_channel_layer(),
    ]


def exit_on_dependency_down(exc: DependencyDown) -> None:
    for line in str(exc).splitlines():
        print(f"dependency error: {line}", file=sys.stderr)
    raise SystemExit(1)
