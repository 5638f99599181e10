"""The portal's ASGI handler for HTTP: Django's, with the request run in one thread hop.

Django's own ASGI handler runs the middleware chain in async mode. Every middleware that is also
sync-capable is then called through `sync_to_async` for its request and again for its response,
each sync-only one (ours, viewflow's) is bridged back with `async_to_sync`, the request signals
and the response's close hop threads of their own, and each request gets a new thread (a new
`ThreadSensitiveContext` executor) that a second thread joins afterwards. Every view of the
portal is synchronous, so none of that buys anything: on the approvals bench it was about a
fifth of a web process's CPU (docs/benchmarks.md, 2026-12-06).

`PortalASGIHandler` loads the chain in sync mode, as the WSGI handler does, and runs the whole
request (request_started, the middleware chain and view, and for a response that is not
streamed its close and request_finished) in one call on a long-lived thread pool of
`WEB_THREADS` threads; the event loop reads the body and writes the response. The loop sends
a streamed response and closes it afterwards, as Django's handler does. The two async views
(the probes) run through `async_to_sync` on the same event loop.

Behaviour that differs from Django's handler:
- A client that disconnects while its request runs does not cancel it. For a synchronous view,
  Django could not stop the thread either: only the response was dropped. Here the response is
  written to a closed connection, which the server discards.
- At most WEB_THREADS requests run at once in a web process; more wait for a thread, as they
  would in a WSGI server's thread pool (each holds a database connection while it runs).
ADR 0029 records the choice.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class PortalASGIHandler(ASGIHandler):
    """Django's ASGI handler with a synchronous middleware chain, one thread hop a request."""

    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()  # BaseHandler: the chain is loaded below, sync
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(
            max_workers=settings.WEB_THREADS, thread_name_prefix="portal-request"
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the portal's HTTP handler got a {scope['type']} connection")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            response = await SyncToAsync(self._respond, thread_sensitive=False, executor=self.executor)(
                scope, body_file
            )
            try:
                await self.send_response(response, send)
            finally:  # a streamed response is closed even when its client went away mid-way
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=False, executor=self.executor)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file) -> HttpResponseBase:
        """The request, in a pool thread: its signal, the chain and view, and (unless streamed)
        its close, which sends request_finished and so hands the database connection back."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refused = self.create_request(scope, body_file)
        response = refused if request is None else self.get_response(request)
        assert response is not None
        if request is not None:
            response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response
