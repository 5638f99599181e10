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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from importlib import import_module
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings

logger = structlog.get_logger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_413 = b"Request body too large.\n"


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
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(BODY_413)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": BODY_413})
