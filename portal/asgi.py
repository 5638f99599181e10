"""ASGI entry point: HTTP (Django) and websockets (Channels) in one process.

Serve with `uvicorn portal.asgi:application` (see docs/decisions/0003-asgi-server.md).
"""

import atexit
import os

import django

from portal.config import ConfigError, exit_on_config_error
from portal.tracing import tracing_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

try:
    # Traces first: the Django instrumentation adds its middleware before Django loads them.
    tracing_setup("web")
    # Initialise Django (app registry) before anything imports models.
    django.setup(set_prefix=False)
    from portal.http import PortalASGIHandler

    django_asgi_app = PortalASGIHandler()
except ConfigError as exc:
    exit_on_config_error(exc)

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import get_resolver

from portal.bodylimit import BodySizeLimitMiddleware
from portal.gctune import gc_tune
from processes.instruments import process_dead_mark
from processes.routing import websocket_urlpatterns

# A web process that ends (uvicorn --workers N spawns each one; a spawned process runs its atexit
# handlers) takes its live gauges out of the multi-process sum: uvicorn has no child-exit hook.
atexit.register(process_dead_mark)

application = ProtocolTypeRouter(
    {
        # Bodies over the cap get a 413 before Django reads them (portal/bodylimit.py).
        "http": BodySizeLimitMiddleware(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# The loaded application is never garbage: the collector stops walking it (portal/gctune.py).
get_resolver().url_patterns  # noqa: B018  # the URLconf, loaded now rather than at the first request
gc_tune()
