"""Request bodies over the cap get a 413 before Django reads them: at once when Content-Length
says so, or once the streamed bytes pass it. Anonymous requests have a small cap; requests with
a logged-in session may send forms with attachments. Called through the real ASGI application."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections

from portal.asgi import application
from tests.asgi_exchange import Exchange, http_scope
from tests.stack import LOG_DIR, session_cookie

KIB = 1024


async def _post(path: str, chunks: list[bytes], *, length: int | None = None, cookie: str = "") -> Exchange:
    csrf = "a" * 32  # a CSRF cookie and header, as a form page would give: Django must say 200
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/octet-stream"),
        (b"x-csrftoken", csrf.encode()),
        (b"cookie", "; ".join(filter(None, [f"csrftoken={csrf}", cookie])).encode()),
    ]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = http_scope("POST", path, headers)
    exchange = Exchange(chunks)
    await asyncio.wait_for(application(scope, exchange.receive, exchange.send), timeout=30)
    # Session lookups and views ran in asgiref's shared thread: close its database connection.
    await sync_to_async(connections.close_all)()
    return exchange


@pytest.mark.asyncio
async def test_a_declared_oversized_anonymous_body_gets_413_before_anything_is_read():
    exchange = await _post("/healthz", [b"x" * KIB] * 100, length=100 * KIB)

    assert exchange.status == 413
    assert exchange.body == b"Request body too large.\n"
    assert exchange.read == 0


@pytest.mark.asyncio
async def test_a_streamed_anonymous_body_is_cut_off_once_over_the_cap():
    chunks = [b"x" * (16 * KIB)] * 64  # 1 MiB, no Content-Length (chunked)

    exchange = await _post("/healthz", chunks)

    assert exchange.status == 413
    assert exchange.read == 5  # 80 KiB read: the fifth chunk passed 64 KiB
    assert [m["type"] for m in exchange.sent] == ["http.response.start", "http.response.body"]


@pytest.mark.asyncio
async def test_a_small_anonymous_body_reaches_django():
    exchange = await _post("/healthz", [b"x" * KIB], length=KIB)

    assert exchange.status == 200
    assert json.loads(exchange.body) == {"status": "ok"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_logged_in_session_may_send_a_large_body(olivia):
    cookie = await sync_to_async(session_cookie)(olivia)

    declared = await _post("/healthz", [b"x" * (256 * KIB)] * 4, length=1024 * KIB, cookie=cookie)
    streamed = await _post("/healthz", [b"x" * (256 * KIB)] * 4, cookie=cookie)

    assert declared.status == 200
    assert streamed.status == 200


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_logged_in_session_still_has_a_cap(olivia, settings):
    settings.REQUEST_MAX_BODY_BYTES = 512 * KIB
    cookie = await sync_to_async(session_cookie)(olivia)

    declared = await _post("/healthz", [b"x" * (256 * KIB)] * 4, length=1024 * KIB, cookie=cookie)
    streamed = await _post("/healthz", [b"x" * (256 * KIB)] * 4, cookie=cookie)

    assert declared.status == 413
    assert declared.read == 0
    assert streamed.status == 413
    assert streamed.read == 3


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cookie", ["sessionid=forged-or-expired", "sessionid=", 'sessionid="x;y'])
async def test_a_session_cookie_without_a_logged_in_session_is_anonymous(cookie):
    exchange = await _post("/healthz", [b"x" * (256 * KIB)], length=256 * KIB, cookie=cookie)

    assert exchange.status == 413


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_session_without_a_user_is_anonymous():
    store = SessionStore()
    store["cart"] = "anything"
    await sync_to_async(store.create)()

    exchange = await _post(
        "/healthz", [b"x" * (256 * KIB)], length=256 * KIB, cookie=f"sessionid={store.session_key}"
    )

    assert exchange.status == 413


@pytest.mark.asyncio
async def test_websockets_pass_through_untouched():
    from portal.bodylimit import BodySizeLimitMiddleware

    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    await BodySizeLimitMiddleware(inner)({"type": "websocket", "headers": []}, None, None)

    assert seen == ["websocket"]


# ---------------------------------------------------------------- the real server


def _raw_request(url: str, head: str, body_parts: list[bytes], pause: float = 0.0) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed: the rest is never read
                break
            time.sleep(pause)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_uvicorn_answers_413_to_an_oversized_anonymous_post_without_running_the_view(live_server_url):
    host = urlsplit(live_server_url).netloc
    token = secrets.token_urlsafe(32)
    path = f"/links/{token}/"

    declared = _raw_request(
        live_server_url,
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {50 * 1024 * 1024}\r\n\r\n",
        [b"comment=" + b"x" * KIB],  # the rest of the 50 MiB never needs to be sent
    )
    chunk = b"x" * (16 * KIB)
    streamed = _raw_request(
        live_server_url,
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 64,
        pause=0.01,
    )

    assert declared.startswith(b"HTTP/1.1 413 ")
    assert declared.endswith(b"Request body too large.\n")
    assert streamed.startswith(b"HTTP/1.1 413 ")
    log = (LOG_DIR / "web.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # Log lines show a link's path with its secret redacted (processes/actionlinks/logredact.py).
    refused = [
        line
        for line in lines
        if line.get("event") == "request.body_too_large" and line["path"] == "/links/[redacted]/"
    ]
    assert [line["streamed"] for line in refused[-2:]] == [False, True]
    assert token not in log
    token_hash = re.escape(__import__("hashlib").sha256(token.encode()).hexdigest()[:12])
    assert not re.search(token_hash, log)  # the link view never saw the token


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_api_has_one_cap_for_every_caller_and_answers_a_problem(olivia, settings):
    """Under /api/ a session gets no more than a token (JSON, no files): API_MAX_BODY_BYTES."""
    settings.API_MAX_BODY_BYTES = 8 * KIB
    cookie = await sync_to_async(session_cookie)(olivia)

    declared = await _post("/api/v1/processes", [b"x" * (16 * KIB)], length=16 * KIB, cookie=cookie)
    streamed = await _post("/api/v1/processes", [b"x" * (4 * KIB)] * 4)

    assert declared.status == 413
    assert declared.read == 0
    problem = json.loads(declared.body)
    assert problem["type"] == "https://approvals-portal.example/problems/payload-too-large"
    assert problem["status"] == 413
    headers = dict(next(m for m in declared.sent if m["type"] == "http.response.start")["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert streamed.status == 413
    assert streamed.read == 3
