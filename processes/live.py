"""Live pages: the `<turbo-stream>` fragments that keep an open task list or process page current.

A browser tells its websocket which page it shows (the queue, the inbox or a process page). When
something that page shows changes, the consumer renders the page again *as that user, through
the page's own view and middleware* (session, login, permissions), takes the part that changes
and sends it as a Turbo Stream `update`. So a fragment never holds more than a page load by the
same user would show, and a page that missed changes while offline is current again at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from io import BytesIO
from urllib.parse import urlsplit

from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIRequest
from django.urls import Resolver404, resolve

# The pages that can be watched (the task lists say so themselves). The part sent is the page's content (list with its pagination,
# or the process card), found in the rendered page and applied with a Turbo Stream `update`.
WATCHABLE = ("process_detail",)
TARGET = "main.vf-page__content"
CONTENT = re.compile(r'<main class="vf-page__content">(.*)</main>', re.S)
# A page may name narrower parts instead (`<div id="live-rows"><!--live:rows-->…<!--/live:rows--></div>`):
# then only those are replaced, and a filter form the user is typing in is left alone.
REGION = re.compile(r"<!--live:([a-z-]+)-->(.*?)<!--/live:\1-->", re.S)


@dataclass(frozen=True)
class Watch:
    """A page a socket watches: its path (and query) and the process it shows, if any."""

    path: str
    query: str
    url_name: str
    process_id: int | None
    # A channel the page's view names (`live_channel`): the socket joins it while it watches.
    channel: str | None = None


def watch_parse(location: str) -> Watch | None:
    """The watchable page at `location` (a path with an optional query), or None."""
    if not isinstance(location, str) or len(location) > 500:
        return None
    parts = urlsplit(location)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None  # only paths on this site
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    # Also any view that says it can be watched (the task list pages: processes/tasklist/views.py).
    view_class = getattr(match.func, "view_class", None)
    if match.url_name not in WATCHABLE and not getattr(view_class, "live_watchable", False):
        return None
    process_id = match.kwargs.get("process_pk")
    return Watch(
        parts.path,
        parts.query,
        str(match.url_name),
        int(process_id) if process_id else None,
        getattr(view_class, "live_channel", None),
    )


class _PageRenderer(BaseHandler):
    """Django's own request handling (every middleware and the view), without a server."""

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()


_renderer: _PageRenderer | None = None


def watch_render(
    watch: Watch, *, cookie: str, host: str, secure: bool, accept_language: str = ""
) -> str | None:
    """The Turbo Stream that brings the watched page up to date, rendered as the socket's user.

    The socket's cookie and Accept-Language go with it, so the fragment is in the language the
    page was loaded in (the user's choice, else the language cookie, else the browser's).
    None when the page is not a 200 for that user any more (logged out, no longer allowed, gone).
    """
    global _renderer
    if _renderer is None:
        _renderer = _PageRenderer()
    hostname, _, port = host.partition(":")
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": watch.path,
        "QUERY_STRING": watch.query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": hostname or "localhost",
        "SERVER_PORT": port or ("443" if secure else "80"),
        "HTTP_HOST": host,
        "HTTP_COOKIE": cookie,
        "HTTP_ACCEPT": "text/html",
        "HTTP_ACCEPT_LANGUAGE": accept_language,
        "wsgi.input": BytesIO(),
        "wsgi.url_scheme": "https" if secure else "http",
    }
    response = _renderer.get_response(WSGIRequest(environ))
    if response.status_code != 200:
        return None
    page = response.content.decode(  # type: ignore[attr-defined]  # a rendered page, never streamed
        response.charset or "utf-8"
    )
    regions = REGION.findall(page)
    if regions:
        return "".join(
            f'<turbo-stream action="update" target="live-{name}"><template>{html}</template></turbo-stream>'
            for name, html in regions
        )
    found = CONTENT.search(page)
    if found is None:
        return None
    return f'<turbo-stream action="update" targets="{TARGET}"><template>{found.group(1)}</template></turbo-stream>'


def fingerprint(fragment: str) -> str:
    return hashlib.sha256(fragment.encode()).hexdigest()
