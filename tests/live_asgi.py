"""The portal's ASGI application as the session's live test server runs it (tests/stack.py).

pytest flushes the database after each transactional test, and the flush recreates the content
types under new ids. The live server outlives those flushes, so it must not reuse the content type
ids it cached in an earlier test (the admin's log entry would point at a row that is gone): it
forgets them at the start of each request. Production runs portal.asgi itself.
"""

from __future__ import annotations

from django.core.signals import request_started

from portal.asgi import application  # sets Django up: the models below import after it


def _forget_content_types(**kwargs: object) -> None:
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


request_started.connect(_forget_content_types, dispatch_uid="tests.live_asgi")

__all__ = ["application"]
