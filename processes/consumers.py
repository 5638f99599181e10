"""Websocket consumers: authorise in connect(), deliver, never write."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

CLOSE_UNAUTHENTICATED = 4401


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    """The browser's live channel: joins `user.<id>` for the logged-in user, refuses anyone else.

    The origin is checked by AllowedHostsOriginValidator in portal/asgi.py.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_group = f"user.{user.pk}"
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.get_username()})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "user_group"):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def notify(self, event: dict) -> None:
        """A wake-up from the channel layer: forward it to the browser."""
        await self.send_json({"type": "notify", **{k: v for k, v in event.items() if k != "type"}})
