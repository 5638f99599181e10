"""servestatic's middleware for a synchronous middleware chain (portal/http.py).

servestatic's own Django middleware is async-only: in the portal's synchronous chain it would
need a hop to the event loop and back on every request. This one looks the path up in this
thread (servestatic's table of files, or its finders when it refreshes) and goes to the event
loop only to serve a static file, with servestatic's own asynchronous file response.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from servestatic.middleware import ServeStaticMiddleware as AsyncServeStaticMiddleware


async def _unreachable(request):  # servestatic's middleware calls it only for a non-static path
    raise AssertionError("portal.staticfiles: the async chain is never called")


class ServeStaticMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.static = AsyncServeStaticMiddleware(_unreachable)

    def __call__(self, request):
        static = self.static
        path = request.path_info
        found = static.find_file(path) if static.autorefresh else static.files.get(path)
        if found is not None:
            return async_to_sync(static.aserve)(found, request)
        if settings.DEBUG and request.path.startswith(settings.STATIC_URL):
            return async_to_sync(static)(request)  # servestatic's own error, naming where it looked
        return self.get_response(request)
