"""A cap on request bodies, enforced before Django reads them.

Under ASGI, Django's handler reads the whole body (into a spooled temporary file) before any
middleware or view runs, so Django's own DATA_UPLOAD_MAX_MEMORY_SIZE comes too late to stop an
anonymous client from making every web process write gigabytes to disk. This ASGI middleware
wraps the HTTP application (portal/asgi.py) and answers 413 instead:

- at once, when Content-Length already says the body is too big;
- as soon as the bytes received pass the cap, when the body streams (chunked, no length).

Two caps: REQUEST_MAX_BODY_BYTES for requests carrying a valid authenticated session (forms
with attachments), and REQUEST_MAX_ANON_BODY_BYTES for everyone else (the login form, the
email link confirmations). The session is only looked up when a body passes the anonymous cap,
so an ordinary request costs nothing extra.

Under /api/ one cap holds for every caller, session or bearer token: API_MAX_BODY_BYTES (the
API takes JSON, never files), answered with a 413 problem (application/problem+json).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from importlib import import_module
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings

from processes.api.problems import PROBLEM_BASE, PROBLEM_CONTENT_TYPE

logger = structlog.get_logger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_413 = b"Request body too large.\n"
API_PREFIX = "/api/"


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", []) if key.lower() == name]


def _session_key(scope: Scope) -> str | None:
    cookie = SimpleCookie()
    for value in _header(scope, b"cookie"):
        try:
            cookie.load(value.decode("latin-1"))
        except CookieError:
            continue
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None and morsel.value else None


def _session_has_user(session_key: str) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return bool(store.load().get("_auth_user_id"))


async def has_authenticated_session(scope: Scope) -> bool:
    """Does the request carry a session cookie whose session holds a logged-in user?"""
    session_key = _session_key(scope)
    if session_key is None:
        return False
    return await sync_to_async(_session_has_user)(session_key)


class BodySizeLimitMiddleware:
    """ASGI middleware: 413 for HTTP bodies over the cap of the request's kind (see module doc)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        anon_cap = settings.REQUEST_MAX_ANON_BODY_BYTES
        user_cap = settings.REQUEST_MAX_BODY_BYTES
        if scope.get("path", "").startswith(API_PREFIX):
            anon_cap = user_cap = settings.API_MAX_BODY_BYTES
        lengths = _header(scope, b"content-length")
        declared: int | None = None
        if lengths:
            try:
                declared = int(lengths[0])
            except ValueError:
                declared = None  # the server refuses a malformed length before we see it
        authenticated: bool | None = None  # looked up at most once, and only if needed

        async def over_cap(size: int) -> bool:
            nonlocal authenticated
            if size <= anon_cap:
                return False
            if size > user_cap:
                return True
            if authenticated is None:
                authenticated = await has_authenticated_session(scope)
            return not authenticated

        if declared is not None and await over_cap(declared):
            await self._refuse(scope, send, declared, streamed=False)
            return None

        state = {"received": 0, "refused": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if await over_cap(state["received"]):
                    state["refused"] = True
                    await self._refuse(scope, send, state["received"], streamed=True)
                    # Django's handler reads this as the client leaving, and sends nothing.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not state["refused"]:
                await send(message)

        return await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, size: int, *, streamed: bool) -> None:
        logger.warning(
            "request.body_too_large",
            path=scope.get("path", ""),
            method=scope.get("method", ""),
            bytes=size,
            streamed=streamed,
            client=(scope.get("client") or ("", 0))[0],
        )
        body, content_type = BODY_413, b"text/plain; charset=utf-8"
        path = scope.get("path", "")
        if path.startswith(API_PREFIX):
            problem = {
                "type": PROBLEM_BASE + "payload-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"The API takes bodies of at most {settings.API_MAX_BODY_BYTES} bytes.",
                "instance": path,
            }
            body, content_type = json.dumps(problem).encode(), PROBLEM_CONTENT_TYPE.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
