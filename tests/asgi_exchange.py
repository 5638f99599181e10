"""One HTTP request through an ASGI application, as uvicorn would make it, for tests that call
the portal's ASGI stack directly (tests/portal/test_bodylimit.py, test_http_handler.py)."""

from __future__ import annotations

import asyncio


class Exchange:
    """The client's side: the body in chunks, what came back, how many chunks were read."""

    def __init__(self, chunks: list[bytes] | None = None) -> None:
        self.chunks = list(chunks if chunks is not None else [b""])
        self.read = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.chunks:
            self.read += 1
            body = self.chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}
        await asyncio.sleep(3600)  # the client stays connected until the response is done
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return {name.lower(): value for name, value in start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    """An HTTP scope for `method` and `path` from a documentation address, with `headers`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("198.51.100.7", 50000),
        "server": ("testserver", 80),
    }
