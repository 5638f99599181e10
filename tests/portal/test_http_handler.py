"""The portal's ASGI handler for HTTP (portal/http.py, ADR 0029): Django's middleware chain loaded
synchronously, each request run whole in one thread of the handler's pool. Called through the
real ASGI application, as uvicorn calls it."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from pathlib import Path

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connections

from portal.asgi import application
from portal.http import PortalASGIHandler
from tests.asgi_exchange import Exchange, http_scope


def _django_handler() -> PortalASGIHandler:
    """The Django handler inside portal.asgi's protocol router and body-size guard."""
    handler = application.application_mapping["http"].app
    assert isinstance(handler, PortalASGIHandler)
    return handler


async def _request(method: str, path: str, exchange: Exchange | None = None) -> Exchange:
    exchange = exchange or Exchange()
    await asyncio.wait_for(application(http_scope(method, path), exchange.receive, exchange.send), timeout=30)
    await sync_to_async(connections.close_all)()
    return exchange


def _inner(layer: object) -> object:
    """The next layer of a middleware chain: what `layer` wraps or calls on."""
    for attribute in ("__wrapped__", "get_response"):
        if getattr(layer, attribute, None) is not None:
            return getattr(layer, attribute)
    if inspect.isfunction(layer):  # a function middleware (viewflow's): its closure's get_response
        return inspect.getclosurevars(layer).nonlocals.get("get_response")
    return None


def test_the_middleware_chain_is_synchronous_with_no_bridge_between_its_parts():
    """Django's async chain bridges every sync-only middleware with async_to_sync and calls the
    others' hooks through sync_to_async; the portal's chain has neither."""
    handler = _django_handler()
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)
    layer, seen = handler._middleware_chain, []
    while layer is not None and len(seen) < 100:
        assert not isinstance(layer, AsyncToSync | SyncToAsync), f"a bridge after {seen[-1:]}"
        seen.append(type(layer).__name__)
        layer = _inner(layer)
    assert "MetricsMiddleware" in seen
    assert "AxesMiddleware" in seen
    assert "ServeStaticMiddleware" in seen  # the portal's synchronous one (portal/staticfiles.py)
    assert len(seen) >= len(settings.MIDDLEWARE)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_request_runs_whole_on_one_pool_thread_and_ends_before_the_answer_is_sent():
    """request_started, the view and request_finished (which hands the database connection back)
    run on the same thread of the handler's pool, and request_finished before the first byte is
    sent: a client that has its answer never waits for the connection's return."""
    events: list[tuple[str, str]] = []
    loop_thread = threading.current_thread().name

    def started(**kwargs: object) -> None:
        events.append(("started", threading.current_thread().name))

    def finished(**kwargs: object) -> None:
        events.append(("finished", threading.current_thread().name))

    exchange = Exchange()
    original_send = exchange.send

    async def send(message: dict) -> None:
        events.append((message["type"], threading.current_thread().name))
        await original_send(message)

    exchange.send = send  # type: ignore[method-assign]
    request_started.connect(started, dispatch_uid="test_http_handler.started")
    request_finished.connect(finished, dispatch_uid="test_http_handler.finished")
    try:
        await _request("GET", "/accounts/login/", exchange)
    finally:
        request_started.disconnect(dispatch_uid="test_http_handler.started")
        request_finished.disconnect(dispatch_uid="test_http_handler.finished")

    assert exchange.status == 200
    assert b"<form" in exchange.body
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["started", "finished", "http.response.start"], kinds
    assert events[0][1] == events[1][1]
    assert events[0][1].startswith("portal-request")
    assert events[2][1] == loop_thread


@pytest.mark.asyncio
async def test_the_async_probe_answers_through_the_synchronous_chain():
    exchange = await _request("GET", "/healthz")

    assert exchange.status == 200
    assert json.loads(exchange.body) == {"status": "ok"}
    assert exchange.headers[b"x-content-type-options"] == b"nosniff"  # SecurityMiddleware ran


@pytest.mark.asyncio
async def test_a_static_file_is_served_whole_with_the_security_headers():
    relative = "portal/portal.css"
    expected = (Path(settings.BASE_DIR) / "static" / relative).read_bytes()

    exchange = await _request("GET", f"{settings.STATIC_URL}{relative}")

    assert exchange.status == 200
    assert exchange.body == expected
    assert exchange.headers[b"content-type"].startswith(b"text/css")
    assert exchange.headers[b"x-content-type-options"] == b"nosniff"
    assert b"content-security-policy" in exchange.headers


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_path_that_is_no_static_file_reaches_the_views():
    exchange = await _request("GET", f"{settings.STATIC_URL}portal/no-such-file.css")

    assert exchange.status in (302, 404)  # the login guard or the URL resolver: not a crash


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_requests_in_flight_at_once_are_spread_over_the_pool():
    """Several requests at once each get a pool thread; none waits for another to finish."""
    exchanges = await asyncio.gather(*(_request("GET", "/accounts/login/") for _ in range(6)))

    assert [exchange.status for exchange in exchanges] == [200] * 6


@pytest.mark.asyncio
async def test_a_client_gone_before_its_body_arrived_gets_nothing():
    class Gone(Exchange):
        async def receive(self) -> dict:
            return {"type": "http.disconnect"}

    exchange = Gone()
    await asyncio.wait_for(
        application(http_scope("POST", "/healthz"), exchange.receive, exchange.send), timeout=30
    )

    assert exchange.sent == []
