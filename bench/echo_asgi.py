"""A bare ASGI app for the notifications benchmark's memory baseline: accepts websockets and
answers pings, nothing else (no Django, no Channels, no channel layer)."""

import json


async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "websocket":
        while True:
            event = await receive()
            if event["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif event["type"] == "websocket.receive":
                message = json.loads(event.get("text") or "{}")
                await send(
                    {"type": "websocket.send", "text": json.dumps({"type": "pong", "t": message.get("t")})}
                )
            elif event["type"] == "websocket.disconnect":
                return
